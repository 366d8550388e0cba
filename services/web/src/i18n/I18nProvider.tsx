import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";

import {
  STORAGE_KEY,
  formatters,
  initialLocale,
  storedLocaleOf,
  translate,
  userStorageKey,
  type Formatters,
  type Vars,
} from "./i18n";
import type { Locale, MessageKey } from "./messages";

export interface I18n extends Formatters {
  locale: Locale;
  setLocale(locale: Locale): void;
  /** The signed-in person (null: nobody): their own choice applies, and a choice is kept for them. */
  setUser(tenant: string | null, subject?: string): void;
  t(key: MessageKey, vars?: Vars): string;
}

const I18nContext = createContext<I18n | null>(null);

function browserStorage(): Storage | undefined {
  try {
    return typeof window === "undefined" ? undefined : window.localStorage;
  } catch {
    return undefined;
  }
}

export function I18nProvider({ children, locale: fixed }: { children: ReactNode; locale?: Locale }) {
  const [locale, setLocaleState] = useState<Locale>(
    () => fixed ?? initialLocale(browserStorage(), typeof navigator === "undefined" ? [] : navigator.languages),
  );

  useEffect(() => {
    document.documentElement.lang = locale;
  }, [locale]);

  const userKey = useRef<string | null>(null);

  const setLocale = useCallback((next: Locale) => {
    setLocaleState(next);
    try {
      browserStorage()?.setItem(STORAGE_KEY, next);
      if (userKey.current) browserStorage()?.setItem(userKey.current, next);
    } catch {
      // the choice then lasts until the page is reloaded
    }
  }, []);

  const setUser = useCallback(
    (tenant: string | null, subject?: string) => {
      userKey.current = tenant !== null && subject ? userStorageKey(tenant, subject) : null;
      const chosen = userKey.current && !fixed ? storedLocaleOf(browserStorage(), userKey.current) : null;
      if (chosen) setLocaleState(chosen);
    },
    [fixed],
  );

  const value = useMemo<I18n>(
    () => ({
      locale,
      setLocale,
      setUser,
      t: (key, vars) => translate(locale, key, vars),
      ...formatters(locale),
    }),
    [locale, setLocale, setUser],
  );
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const i18n = useContext(I18nContext);
  if (i18n === null) throw new Error("useI18n outside <I18nProvider>");
  return i18n;
}
