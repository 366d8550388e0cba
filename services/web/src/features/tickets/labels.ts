/**
 * Labels of the tickets' and alerts' codes (statuses, priorities, SLA clocks, alert kinds) in
 * the user's language, and how long a clock has left, formatted by Intl. A code the app does
 * not know yet is shown as the API spelt it.
 */
import type { Locale, MessageKey } from "../../i18n/messages";

export const TICKET_STATUSES = ["open", "pending", "resolved", "closed", "reopened"] as const;
export type TicketStatus = (typeof TICKET_STATUSES)[number];
export const TICKET_PRIORITIES = ["low", "normal", "high", "urgent"] as const;
export type TicketPriority = (typeof TICKET_PRIORITIES)[number];
export const ALERT_KINDS = [
  "follow_up_overdue",
  "sla_breached",
  "discount_approval",
  "task_reminder",
  "task_overdue",
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

const KEYS: Record<string, MessageKey> = {
  "ticket-status:open": "ticket.status.open",
  "ticket-status:pending": "ticket.status.pending",
  "ticket-status:resolved": "ticket.status.resolved",
  "ticket-status:closed": "ticket.status.closed",
  "ticket-status:reopened": "ticket.status.reopened",
  "priority:low": "ticket.priority.low",
  "priority:normal": "ticket.priority.normal",
  "priority:high": "ticket.priority.high",
  "priority:urgent": "ticket.priority.urgent",
  "sla:first_response": "sla.first_response",
  "sla:resolution": "sla.resolution",
  "clock-state:running": "sla.state.running",
  "clock-state:overdue": "sla.state.overdue",
  "clock-state:waiting_on_customer": "sla.state.waiting_on_customer",
  "clock-state:met": "sla.state.met",
  "clock-state:missed": "sla.state.missed",
  "clock-state:stopped": "sla.state.stopped",
  "alert-status:open": "alert.status.open",
  "alert-status:acknowledged": "alert.status.acknowledged",
  "alert-status:resolved": "alert.status.resolved",
  "alert-kind:follow_up_overdue": "alert.kind.follow_up_overdue",
  "alert-kind:sla_breached": "alert.kind.sla_breached",
  "alert-kind:discount_approval": "alert.kind.discount_approval",
  "alert-kind:task_reminder": "alert.kind.task_reminder",
  "alert-kind:task_overdue": "alert.kind.task_overdue",
  "subject-kind:lead": "alerts.subject.lead",
  "subject-kind:ticket": "alerts.subject.ticket",
  "subject-kind:task": "alerts.subject.task",
  "subject-kind:customer": "alerts.subject.customer",
};

export type CodeKind =
  | "ticket-status"
  | "priority"
  | "sla"
  | "clock-state"
  | "alert-status"
  | "alert-kind"
  | "subject-kind";

/** The label of `code` (a value of the API) in the user's language; the code itself if unknown. */
export function codeLabel(t: (key: MessageKey) => string, kind: CodeKind, code: string | null | undefined): string {
  if (code === null || code === undefined) return "";
  const key = KEYS[`${kind}:${code}`];
  return key ? t(key) : code;
}

const UNITS = [
  ["day", 86_400],
  ["hour", 3_600],
  ["minute", 60],
  ["second", 1],
] as const;

/** A length of time as its two largest units, in the locale's words: "2 hr, 5 min", "2小时5分钟". */
export function duration(locale: Locale, seconds: number): string {
  let left = Math.round(Math.abs(seconds));
  const parts: string[] = [];
  for (const [unit, size] of UNITS) {
    const count = Math.floor(left / size);
    left -= count * size;
    if (count > 0 && parts.length < 2) {
      parts.push(new Intl.NumberFormat(locale, { style: "unit", unit, unitDisplay: "short" }).format(count));
    } else if (parts.length > 0) {
      break; // the next unit down after the largest, or nothing: "2 days" not "2 days, 3 sec"
    }
  }
  if (parts.length === 0) {
    return new Intl.NumberFormat(locale, { style: "unit", unit: "minute", unitDisplay: "short" }).format(0);
  }
  return new Intl.ListFormat(locale, { type: "unit", style: "narrow" }).format(parts);
}

/** Seconds from `now` to `iso` (negative once passed); null without a time. */
export function secondsUntil(iso: string | null | undefined, now: number): number | null {
  if (!iso) return null;
  const at = new Date(iso).getTime();
  return Number.isNaN(at) ? null : Math.round((at - now) / 1000);
}
