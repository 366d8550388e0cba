import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";

import { STORAGE_KEY, formatters, initialLocale, translate, type Formatters, type Vars } from "./i18n";
import type { Locale, MessageKey } from "./messages";

export interface I18n extends Formatters {
  locale: Locale;
  setLocale(locale: Locale): void;
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

  const setLocale = useCallback((next: Locale) => {
    setLocaleState(next);
    try {
      browserStorage()?.setItem(STORAGE_KEY, next);
    } catch {
      // the choice then lasts until the page is reloaded
    }
  }, []);

  const value = useMemo<I18n>(
    () => ({
      locale,
      setLocale,
      t: (key, vars) => translate(locale, key, vars),
      ...formatters(locale),
    }),
    [locale, setLocale],
  );
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const i18n = useContext(I18nContext);
  if (i18n === null) throw new Error("useI18n outside <I18nProvider>");
  return i18n;
}
