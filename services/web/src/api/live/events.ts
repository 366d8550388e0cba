/**
 * The events of `GET /v1/stream` as the app reads them, and which of the app's queries each
 * one makes out of date.
 *
 * The stream names every event by its type (`event: crm.lead.stage_changed`), and an
 * EventSource only hands out a named event to a listener of that name: LIVE_EVENT_TYPES lists
 * the published types of the event catalog (services/common/events/catalog.py) the app
 * listens to.
 */
import type { QueryKey } from "@tanstack/react-query";

export const LIVE_EVENT_TYPES = [
  "crm.alert.acknowledged",
  "crm.alert.raised",
  "crm.alert.resolved",
  "crm.customer.alert_linked",
  "crm.customer.became_dormant",
  "crm.customer.consent_changed",
  "crm.customer.erased",
  "crm.customer.merged",
  "crm.customer.owner_changed",
  "crm.customer.profile_changed",
  "crm.customer.record_linked",
  "crm.customer.registered",
  "crm.customer.tagged",
  "crm.customer.untagged",
  "crm.interaction.logged",
  "crm.lead.amount_changed",
  "crm.lead.assigned",
  "crm.lead.created",
  "crm.lead.discount_approval_requested",
  "crm.lead.discount_approved",
  "crm.lead.discount_rejected",
  "crm.lead.discount_requested",
  "crm.lead.follow_up_overdue",
  "crm.lead.lost",
  "crm.lead.payment_received",
  "crm.lead.stage_changed",
  "crm.lead.won",
  "crm.note.added",
  "crm.note.deleted",
  "crm.note.edited",
  "crm.purchase.recorded",
  "crm.task.cancelled",
  "crm.task.completed",
  "crm.task.created",
  "crm.task.overdue",
  "crm.task.reassigned",
  "crm.task.reminded",
  "crm.task.rescheduled",
  "crm.ticket.assigned",
  "crm.ticket.comment_added",
  "crm.ticket.first_responded",
  "crm.ticket.opened",
  "crm.ticket.priority_changed",
  "crm.ticket.sla_breached",
  "crm.ticket.status_changed",
] as const;

/** What a read waits for after a live event: the read models of these records. */
export type LiveScope = "leads" | "tickets" | "alerts" | "tasks" | "customers";
export const LIVE_SCOPES: readonly LiveScope[] = ["leads", "tickets", "alerts", "tasks", "customers"];

/** One event of the stream: its global position, its type and the records it is about. */
export interface LiveEvent {
  position: number;
  type: string;
  /** The aggregate the event belongs to (the lead, ticket, alert, task or customer). */
  aggregateId: string | null;
  customerId: string | null;
}

/** The event in an SSE message (`id:` its position, `data:` its CloudEvents JSON); null for
 * a message that is not one. */
export function parseLiveEvent(type: string, id: string, data: string): LiveEvent | null {
  let body: unknown;
  try {
    body = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof body !== "object" || body === null) return null;
  const fields = body as Record<string, unknown>;
  const fromId = /^\d+$/.test(id) ? Number(id) : NaN;
  const position = Number.isFinite(fromId) ? fromId : typeof fields.position === "number" ? fields.position : NaN;
  if (!Number.isFinite(position)) return null;
  const text = (value: unknown) => (typeof value === "string" && value ? value : null);
  return {
    position,
    type: text(fields.type) ?? type,
    aggregateId: text(fields.aggregateid) ?? text(fields.subject),
    customerId: text(fields.customerid),
  };
}

/** `crm.lead.stage_changed` → `lead`. */
export function kindOf(type: string): string {
  return type.split(".")[1] ?? "";
}

/** The read models an event changes (the scopes whose reads must wait for it). */
export function scopesOf(event: LiveEvent): LiveScope[] {
  switch (kindOf(event.type)) {
    case "lead":
      return ["leads", "customers"];
    case "interaction":
      // An interaction is a contact: the customer's leads are no longer stale.
      return ["leads", "customers"];
    case "customer":
      // Lead lists show the customer's name.
      return ["customers", "leads"];
    case "ticket":
      return ["tickets", "customers"];
    case "alert":
      return ["alerts"];
    case "task":
      return ["tasks", "customers"];
    case "note":
    case "purchase":
      return ["customers"];
    default:
      return [];
  }
}

/**
 * Whether a query of the app is out of date after `event`. A page of one record (a customer,
 * a ticket, a lead) is refetched only for an event of that record; lists for any event of
 * their kind. The dashboards' figures are left to their own refresh.
 */
export function affects(event: LiveEvent, queryKey: QueryKey): boolean {
  const [root, part, id] = queryKey as readonly unknown[];
  const kind = kindOf(event.type);
  const leadish = kind === "lead" || kind === "interaction" || kind === "customer";
  switch (root) {
    case "pipeline":
      if (part === "leads") return leadish;
      if (part === "lead") return kind === "lead" && id === event.aggregateId;
      return false;
    case "my-day":
      if (part === "leads") return leadish;
      if (part === "tasks") return kind === "task";
      if (part === "alerts") return kind === "alert";
      return false;
    case "customers":
      if (part === "list") return ["customer", "lead", "interaction", "purchase"].includes(kind);
      if (part === "360" || part === "timeline") return event.customerId !== null && id === event.customerId;
      return false;
    case "tickets":
      if (part === "queue") return kind === "ticket";
      if (part === "detail") return kind === "ticket" && id === event.aggregateId;
      return false;
    case "alerts":
      return kind === "alert";
    default:
      return false;
  }
}
