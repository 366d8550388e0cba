/** Words for the audit history: event types, field names and before/after values. */
import type { I18n } from "../../i18n/I18nProvider";
import { en, type MessageKey } from "../../i18n/messages";
import { lifecycleLabel } from "./listState";

const known = (key: string): key is MessageKey => Object.prototype.hasOwnProperty.call(en, key);

/** `crm.lead.stage_changed` → "Lead stage changed" (the type itself when there are no words). */
export function eventLabel(type: string, t: I18n["t"]): string {
  const key = `history.type.${type.replace(/^crm\./, "")}`;
  return known(key) ? t(key) : type;
}

/** `lead.stage` → "Lead stage"; `consent.email` → "Consent (email)". */
export function fieldLabel(field: string, t: I18n["t"]): string {
  if (field.startsWith("consent.")) return t("history.field.consent", { channel: field.slice("consent.".length) });
  const key = `history.field.${field}`;
  return known(key) ? t(key) : field;
}

/** A before or after value in words, numbers and amounts in the user's language. */
export function valueText(field: string, value: unknown, i18n: I18n): string {
  const { t } = i18n;
  if (value === null || value === undefined || value === "") return t("customer.none");
  if (typeof value === "boolean") {
    if (field.startsWith("consent.")) return value ? t("customer.consentGranted") : t("customer.consentWithdrawn");
    return value ? t("history.yes") : t("history.no");
  }
  if (Array.isArray(value)) return value.length === 0 ? t("customer.none") : value.map(String).join(", ");
  if (field === "lifecycle_stage" && typeof value === "string") return lifecycleLabel(value, t);
  if (field === "lead.amount" && typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value)) {
    const decimals = (value.split(".")[1] ?? "").length;
    return new Intl.NumberFormat(i18n.locale, { minimumFractionDigits: decimals }).format(Number(value));
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** `?as_of=` as an ISO moment, or null when absent or not a moment. */
export function momentParam(value: string | null): string | null {
  if (!value) return null;
  return Number.isNaN(Date.parse(value)) ? null : value;
}

/** Whether `iso` (a fact's time) is at or before `asOf`. */
export const notAfter = (iso: string, asOf: string): boolean => Date.parse(iso) <= Date.parse(asOf);

/** An ISO moment as the value of an `<input type="datetime-local">` (local time, minutes). */
export function localInputValue(iso: string | null): string {
  if (!iso) return "";
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}T${pad(moment.getHours())}:${pad(moment.getMinutes())}`;
}
