import { useInfiniteQuery } from "@tanstack/react-query";
import { useEffect, useId, useState } from "react";
import { Link, useSearchParams } from "react-router";

import type { GetQuery, GetResult } from "../../api/client";
import { useApi } from "../../app/ApiProvider";
import { errorText } from "../../app/errorText";
import { useLivePosition } from "../../app/LiveUpdates";
import { useI18n } from "../../i18n/I18nProvider";
import type { MessageKey } from "../../i18n/messages";
import {
  TICKET_PRIORITIES,
  TICKET_STATUSES,
  codeLabel,
  duration,
  secondsUntil,
  type TicketPriority,
  type TicketStatus,
} from "./labels";

const PAGE = 25;
const NOT_DONE: TicketStatus[] = ["open", "pending", "reopened"];
const SORTS = ["due_at", "priority", "opened_at"] as const;
type Sort = (typeof SORTS)[number];
const SORT_LABELS: Record<Sort, MessageKey> = {
  due_at: "tickets.sort.due_at",
  priority: "tickets.sort.priority",
  opened_at: "tickets.sort.opened_at",
};
type Ticket = GetResult<"/v1/tickets">["items"][number];
type TicketQuery = NonNullable<GetQuery<"/v1/tickets">>;

/** Filters of the queue as the address keeps them (so a view can be bookmarked and shared). */
export interface QueueFilters {
  status: "notDone" | "all" | TicketStatus;
  priority: TicketPriority | "";
  mine: boolean;
  breached: "" | "true" | "false";
  sort: Sort;
}

export function filtersFrom(params: URLSearchParams): QueueFilters {
  const status = params.get("status") ?? "";
  const priority = params.get("priority") ?? "";
  const breached = params.get("breached") ?? "";
  const sort = params.get("sort") ?? "";
  return {
    status: status === "all" || (TICKET_STATUSES as readonly string[]).includes(status) ? (status as QueueFilters["status"]) : "notDone",
    priority: (TICKET_PRIORITIES as readonly string[]).includes(priority) ? (priority as TicketPriority) : "",
    mine: params.get("mine") === "1",
    breached: breached === "true" || breached === "false" ? breached : "",
    sort: (SORTS as readonly string[]).includes(sort) ? (sort as Sort) : "due_at",
  };
}

/** The API's query for the queue's filters (without the page's cursor). */
export function ticketQuery(filters: QueueFilters): TicketQuery {
  return {
    status: filters.status === "notDone" ? NOT_DONE : filters.status === "all" ? undefined : [filters.status],
    priority: filters.priority ? [filters.priority] : undefined,
    assignee: filters.mine ? "me" : undefined,
    breached: filters.breached === "" ? undefined : filters.breached === "true",
    sort: filters.sort,
    limit: PAGE,
  };
}

/** The current time, moving on every `everyMs` (the SLA clocks count down while a page is open). */
export function useNow(everyMs = 30_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/** The ticket queue: by status, priority, assignee and SLA breach; sorted by the SLA clock,
 * priority or age; a page at a time. */
export function TicketsPage() {
  const { t, number } = useI18n();
  const client = useApi();
  const [params, setParams] = useSearchParams();
  const filters = filtersFrom(params);
  const now = useNow();
  const ids = {
    status: useId(),
    priority: useId(),
    mine: useId(),
    breached: useId(),
    sort: useId(),
  };

  const afterLive = useLivePosition("tickets");
  const tickets = useInfiniteQuery({
    queryKey: ["tickets", "queue", filters],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam, signal }) =>
      client.get("/v1/tickets", {
        query: {
          ...ticketQuery(filters),
          cursor: pageParam ?? undefined,
          include_total: pageParam === null,
          min_position: afterLive(),
        },
        signal,
      }),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });

  function choose(name: keyof QueueFilters, value: string, fallback: string) {
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (value === fallback) next.delete(name);
        else next.set(name, value);
        return next;
      },
      { replace: true },
    );
  }

  const items = tickets.data?.pages.flatMap((page) => page.items) ?? [];
  const total = tickets.data?.pages[0]?.total;

  return (
    <section aria-labelledby="page-title" className="tickets">
      <h1 id="page-title">{t("tickets.title")}</h1>
      <form className="filters" aria-label={t("tickets.filters")} onSubmit={(event) => event.preventDefault()}>
        <div className="filters__field">
          <label htmlFor={ids.status}>{t("tickets.status")}</label>
          <select id={ids.status} value={filters.status} onChange={(e) => choose("status", e.target.value, "notDone")}>
            <option value="notDone">{t("tickets.status.notDone")}</option>
            <option value="all">{t("tickets.status.all")}</option>
            {TICKET_STATUSES.map((status) => (
              <option key={status} value={status}>
                {codeLabel(t, "ticket-status", status)}
              </option>
            ))}
          </select>
        </div>
        <div className="filters__field">
          <label htmlFor={ids.priority}>{t("tickets.priority")}</label>
          <select id={ids.priority} value={filters.priority} onChange={(e) => choose("priority", e.target.value, "")}>
            <option value="">{t("tickets.priority.all")}</option>
            {TICKET_PRIORITIES.map((priority) => (
              <option key={priority} value={priority}>
                {codeLabel(t, "priority", priority)}
              </option>
            ))}
          </select>
        </div>
        <div className="filters__field">
          <label htmlFor={ids.breached}>{t("tickets.breached")}</label>
          <select id={ids.breached} value={filters.breached} onChange={(e) => choose("breached", e.target.value, "")}>
            <option value="">{t("tickets.breached.any")}</option>
            <option value="true">{t("tickets.breached.yes")}</option>
            <option value="false">{t("tickets.breached.no")}</option>
          </select>
        </div>
        <div className="filters__field">
          <label htmlFor={ids.sort}>{t("tickets.sort")}</label>
          <select id={ids.sort} value={filters.sort} onChange={(e) => choose("sort", e.target.value, "due_at")}>
            {SORTS.map((sort) => (
              <option key={sort} value={sort}>
                {t(SORT_LABELS[sort])}
              </option>
            ))}
          </select>
        </div>
        <div className="filters__check">
          <input
            id={ids.mine}
            type="checkbox"
            checked={filters.mine}
            onChange={(e) => choose("mine", e.target.checked ? "1" : "", "")}
          />
          <label htmlFor={ids.mine}>{t("tickets.mine")}</label>
        </div>
      </form>
      {tickets.isPending ? (
        <p role="status">{t("app.loading")}</p>
      ) : tickets.isError && !tickets.isFetchNextPageError ? (
        <p role="alert" className="notice notice--error">
          {errorText(tickets.error, t)}
        </p>
      ) : items.length === 0 ? (
        <p>{t("tickets.empty")}</p>
      ) : (
        <>
          {typeof total === "number" && <p className="muted">{t("tickets.total", { count: number(total) })}</p>}
          <div className="table-scroll">
            <table className="data-table">
              <caption>{t("tickets.caption")}</caption>
              <thead>
                <tr>
                  <th scope="col">{t("tickets.col.subject")}</th>
                  <th scope="col">{t("tickets.col.customer")}</th>
                  <th scope="col">{t("tickets.col.priority")}</th>
                  <th scope="col">{t("tickets.col.status")}</th>
                  <th scope="col">{t("tickets.col.sla")}</th>
                </tr>
              </thead>
              <tbody>
                {items.map((ticket) => (
                  <TicketRow key={ticket.ticket_id} ticket={ticket} now={now} />
                ))}
              </tbody>
            </table>
          </div>
          {tickets.isFetchNextPageError && (
            <p role="alert" className="notice notice--error">
              {errorText(tickets.error, t)}
            </p>
          )}
          {tickets.hasNextPage && (
            <button
              type="button"
              className="button--secondary"
              onClick={() => void tickets.fetchNextPage()}
              disabled={tickets.isFetchingNextPage}
            >
              {tickets.isFetchingNextPage ? t("alerts.loadingMore") : t("tickets.more")}
            </button>
          )}
        </>
      )}
    </section>
  );
}

/** The customer as a ticket names it: the name, else the company or the external reference. */
export function customerOf(ticket: Pick<Ticket, "customer_name" | "customer_company" | "customer_external_ref">): string | null {
  return ticket.customer_name ?? ticket.customer_company ?? ticket.customer_external_ref ?? null;
}

function TicketRow({ ticket, now }: { ticket: Ticket; now: number }) {
  const { t } = useI18n();
  return (
    <tr>
      <td>
        <Link to={`/tickets/${encodeURIComponent(ticket.ticket_id)}`}>{ticket.subject ?? t("ticket.subjectWithheld")}</Link>
      </td>
      <td>
        <Link to={`/customers/${encodeURIComponent(ticket.customer_id)}`}>
          {customerOf(ticket) ?? t("ticket.customerUnnamed")}
        </Link>
      </td>
      <td>
        <span className={`badge badge--priority-${ticket.priority}`}>{codeLabel(t, "priority", ticket.priority)}</span>
      </td>
      <td>{codeLabel(t, "ticket-status", ticket.status)}</td>
      <td>
        <SlaClock ticket={ticket} now={now} />
      </td>
    </tr>
  );
}

/** Time left on the ticket's next SLA deadline, or how long it is overdue; breaches marked. */
export function SlaClock({ ticket, now }: { ticket: Pick<Ticket, "due_at" | "due_sla" | "breached">; now: number }) {
  const { t, locale } = useI18n();
  const left = secondsUntil(ticket.due_at, now);
  const sla = codeLabel(t, "sla", ticket.due_sla);
  let text: string;
  if (left === null) text = t("sla.none");
  else if (left >= 0) text = t("sla.dueIn", { sla, time: duration(locale, left) });
  else text = t("sla.overdueBy", { sla, time: duration(locale, left) });
  return (
    <span className={`sla-clock${left !== null && left < 0 ? " sla-clock--overdue" : ""}`}>
      <span>{text.trim()}</span>
      {ticket.breached && <span className="badge badge--warning">{t("sla.breached")}</span>}
    </span>
  );
}
