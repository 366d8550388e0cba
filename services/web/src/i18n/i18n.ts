/**
 * The language of the app: the one chosen in the app (kept in this browser), else the
 * browser's first language we have, else English. Dates and numbers are formatted by Intl
 * for that language.
 */
import { LOCALES, MESSAGES, type Locale, type MessageKey } from "./messages";

export const STORAGE_KEY = "crm.locale";

/** The first of the browser's languages we have: any Chinese is Simplified Chinese. */
export function localeFor(preferred: readonly string[]): Locale {
  for (const tag of preferred) {
    const lower = tag.toLowerCase();
    if (lower === "zh" || lower.startsWith("zh-")) return "zh-CN";
    if (lower === "en" || lower.startsWith("en-")) return "en";
  }
  return "en";
}

export function isLocale(value: unknown): value is Locale {
  return typeof value === "string" && (LOCALES as readonly string[]).includes(value);
}

export function initialLocale(storage: Pick<Storage, "getItem"> | undefined, languages: readonly string[]): Locale {
  let stored: string | null = null;
  try {
    stored = storage?.getItem(STORAGE_KEY) ?? null;
  } catch {
    stored = null; // storage can be disabled
  }
  return isLocale(stored) ? stored : localeFor(languages);
}

/** Where one person's choice is kept in this browser: each user of a shared browser keeps theirs. */
export function userStorageKey(tenant: string, subject: string): string {
  return `${STORAGE_KEY}:${tenant}:${subject}`;
}

/** The language `tenant`/`subject` chose on this browser, if any. */
export function storedLocaleOf(storage: Pick<Storage, "getItem"> | undefined, key: string): Locale | null {
  try {
    const stored = storage?.getItem(key) ?? null;
    return isLocale(stored) ? stored : null;
  } catch {
    return null;
  }
}

export type Vars = Record<string, string | number>;

/** The message `key` in `locale`, with `{name}` replaced from `vars`. */
export function translate(locale: Locale, key: MessageKey, vars?: Vars): string {
  const text = MESSAGES[locale][key];
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in vars ? String(vars[name]) : whole,
  );
}

export interface Formatters {
  dateTime(iso: string): string;
  number(value: number): string;
  /** A decimal string amount in an ISO 4217 currency. */
  money(amount: string, currency: string | null | undefined): string;
}

export function formatters(locale: Locale): Formatters {
  const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
  const number = new Intl.NumberFormat(locale);
  return {
    dateTime(iso) {
      const moment = new Date(iso);
      return Number.isNaN(moment.getTime()) ? iso : dateTime.format(moment);
    },
    number(value) {
      return number.format(value);
    },
    money(amount, currency) {
      const value = Number(amount);
      if (!Number.isFinite(value)) return amount;
      if (!currency) return number.format(value);
      try {
        return new Intl.NumberFormat(locale, { style: "currency", currency }).format(value);
      } catch {
        return `${number.format(value)} ${currency}`;
      }
    },
  };
}
