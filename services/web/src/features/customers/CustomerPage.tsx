import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { createContext, useContext, useEffect, type ReactNode } from "react";
import { Link, useOutletContext, useParams, useSearchParams } from "react-router";

import type { GetResult } from "../../api/client";
import { ApiError } from "../../api/errors";
import type { Me } from "../../api/session";
import { useApi } from "../../app/ApiProvider";
import { errorText } from "../../app/errorText";
import { useI18n, type I18n } from "../../i18n/I18nProvider";
import type { MessageKey } from "../../i18n/messages";
import { AuditHistory } from "./AuditHistory";
import { momentParam, notAfter } from "./history";
import { lifecycleLabel } from "./listState";
import { stageLabel } from "../pipeline/board";
import { TimeSlider } from "./TimeSlider";

export const TIMELINE_PAGE = 25;

type Customer360 = GetResult<"/v1/customers/{customer_id}">;
type TimelineEntry = GetResult<"/v1/customers/{customer_id}/timeline">["items"][number];
type Loose = Record<string, unknown>;

// The 360 document's parts are loosely typed in the OpenAPI document: read them defensively.
const record = (value: unknown): Loose =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Loose) : {};
const records = (value: unknown): Loose[] => (Array.isArray(value) ? value.map(record) : []);
const text = (value: unknown): string | null =>
  typeof value === "string" && value !== "" ? value : typeof value === "number" ? String(value) : null;
const count = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) ? value : 0);

const PastContext = createContext<string | null>(null);

/** The past moment the customer page shows (null: now). Write actions on the page are disabled
 * while it is not null: nothing can be changed in the past. */
export function usePastMoment(): string | null {
  return useContext(PastContext);
}

/** The customer-360: profile, consents, stage, leads, purchases, interactions, tickets, tasks,
 * notes, the timeline from newest back to the first fact and the audit history; with the time
 * slider, all of it as it stood at a past moment (`?as_of=`). */
export function CustomerPage() {
  const { customerId = "" } = useParams();
  const { t, dateTime } = useI18n();
  const client = useApi();
  const [params, setParams] = useSearchParams();
  const asOf = momentParam(params.get("as_of"));
  const customer = useQuery({
    queryKey: ["customers", "360", customerId],
    queryFn: ({ signal }) => client.get("/v1/customers/{customer_id}", { path: { customer_id: customerId }, signal }),
  });
  const past = useQuery({
    queryKey: ["customers", "360", customerId, { asOf }],
    queryFn: ({ signal }) =>
      client.get("/v1/customers/{customer_id}", {
        path: { customer_id: customerId },
        query: { as_of: asOf ?? undefined },
        signal,
      }),
    enabled: asOf !== null,
    // While the slider moves, the moment before stays on screen until the next one is read.
    placeholderData: (previous, query) => (query?.queryKey[2] === customerId ? previous : undefined),
  });
  const show = (moment: string | null, exact = false) =>
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (moment === null) next.delete("as_of");
        else next.set("as_of", moment);
        return next;
      },
      { replace: !exact },
    );

  let body: ReactNode;
  if (customer.isPending) {
    body = <p role="status">{t("app.loading")}</p>;
  } else if (customer.isError) {
    const missing = customer.error instanceof ApiError && customer.error.status === 404;
    body = (
      <>
        <h1 id="page-title">{t("customers.title")}</h1>
        <p role="alert" className="notice notice--error">
          {missing ? t("customer.notFound") : errorText(customer.error, t)}
        </p>
      </>
    );
  } else {
    const registered = text(customer.data["registered_at"]);
    const moments = (
      <>
        {asOf !== null && (
          <div className="notice notice--warning asof__banner">
            <p role="status">{t("asof.banner", { when: dateTime(asOf) })}</p>
            <button type="button" onClick={() => show(null, true)}>
              {t("asof.backToNow")}
            </button>
          </div>
        )}
        {registered && <TimeSlider from={registered} asOf={asOf} onChange={show} />}
      </>
    );
    let shown: ReactNode;
    if (asOf === null) {
      shown = <CustomerDocument customer={customer.data} asOf={null} />;
    } else if (past.isPending) {
      shown = <p role="status">{t("app.loading")}</p>;
    } else if (past.isError && !past.data) {
      const before = past.error instanceof ApiError && past.error.status === 404;
      shown = (
        <p role="alert" className="notice notice--error">
          {before ? t("asof.notYet", { when: dateTime(asOf) }) : errorText(past.error, t)}
        </p>
      );
    } else {
      shown = <CustomerDocument customer={past.data ?? customer.data} asOf={asOf} />;
    }
    // The name, then the moment shown and the slider, always in the same place: moving the
    // slider redraws the document below it, never the slider (which keeps the focus).
    body = (
      <>
        <h1 id="page-title">{customerTitle(asOf !== null && past.data ? past.data : customer.data, t)}</h1>
        {moments}
        <PastContext.Provider value={asOf}>{shown}</PastContext.Provider>
      </>
    );
  }
  return (
    <section aria-labelledby="page-title" className="customer">
      <p>
        <Link to="/customers">{t("customer.back")}</Link>
      </p>
      {body}
    </section>
  );
}

/** The customer's name as the page's heading (an erased customer has none). */
function customerTitle(customer: Customer360, t: I18n["t"]): string {
  return customer["erased"] === true
    ? t("customer.erasedTitle")
    : (customer.display_name ?? customer.company ?? t("customers.noName"));
}

function CustomerDocument({ customer, asOf }: { customer: Customer360; asOf: string | null }) {
  const i18n = useI18n();
  const me = useOutletContext<Me | undefined>();
  const canReadHistory = me?.permissions["history.read"] !== undefined;
  const { t, dateTime } = i18n;
  const erased = customer["erased"] === true;
  const personal = record(customer.personal);
  const tags = customer.tags ?? [];
  const registered = text(customer["registered_at"]);

  return (
    <>
      {erased && (
        <p className="notice notice--warning" role="note">
          {t("customer.erased")}
        </p>
      )}
      <div className="customer__grid">
        <Section id="profile" title="customer.profile">
          <dl className="facts">
            <Fact label="customer.company" value={customer.company} />
            <Fact label="customer.owner" value={customer.owner} />
            <Fact label="customer.stage" value={lifecycleLabel(customer.lifecycle_stage, t)} />
            <Fact label="customer.region" value={text(customer["region"])} />
            <Fact label="customer.source" value={text(customer["source"]) ?? text(customer["first_lead_source"])} />
            <Fact label="customer.industry" value={text(customer["industry"])} />
            <Fact label="customer.externalRef" value={text(customer["external_ref"])} />
            <Fact label="customer.email" value={text(personal["email"])} />
            <Fact label="customer.phone" value={text(personal["phone"])} />
            <Fact label="customer.registered" value={registered && dateTime(registered)} />
            <Fact label="customer.tags" value={tags.length > 0 ? tags.join(", ") : null} />
          </dl>
        </Section>
        <Consents consents={record(customer["consents"])} />
        <Leads leads={records(customer.leads)} />
        <Purchases purchases={record(customer.purchases)} i18n={i18n} />
        <Interactions interactions={record(customer.interactions)} i18n={i18n} />
        <Tickets tickets={record(customer.tickets)} i18n={i18n} />
        <Tasks tasks={record(customer.tasks)} i18n={i18n} />
        <Notes notes={record(customer.notes)} i18n={i18n} />
      </div>
      <Timeline customerId={customer.customer_id} asOf={asOf} />
      {canReadHistory && <AuditHistory customerId={customer.customer_id} asOf={asOf} />}
    </>
  );
}

function Section({ id, title, children }: { id: string; title: MessageKey; children: ReactNode }) {
  const { t } = useI18n();
  return (
    <section aria-labelledby={`customer-${id}`} className="panel">
      <h2 id={`customer-${id}`}>{t(title)}</h2>
      {children}
    </section>
  );
}

function Fact({ label, value }: { label: MessageKey; value: string | null | undefined }) {
  const { t } = useI18n();
  return (
    <>
      <dt>{t(label)}</dt>
      <dd>{value || <span className="muted">{t("customer.none")}</span>}</dd>
    </>
  );
}

function Consents({ consents }: { consents: Loose }) {
  const { t } = useI18n();
  const entries = Object.entries(consents).sort(([a], [b]) => a.localeCompare(b));
  return (
    <Section id="consents" title="customer.consents">
      {entries.length === 0 ? (
        <p>{t("customer.noConsents")}</p>
      ) : (
        <dl className="facts">
          {entries.map(([channel, granted]) => (
            <ChannelFact
              key={channel}
              channel={channel}
              value={granted === true ? t("customer.consentGranted") : t("customer.consentWithdrawn")}
            />
          ))}
        </dl>
      )}
    </Section>
  );
}

function ChannelFact({ channel, value }: { channel: string; value: string | null | undefined }) {
  return (
    <>
      <dt>{channel}</dt>
      <dd>{value}</dd>
    </>
  );
}

function Leads({ leads }: { leads: Loose[] }) {
  const { t, money } = useI18n();
  return (
    <Section id="leads" title="customer.leads">
      {leads.length === 0 ? (
        <p>{t("customer.noLeads")}</p>
      ) : (
        <div className="table-scroll">
          <table className="data-table">
            <thead>
              <tr>
                <th scope="col">{t("customer.lead.title")}</th>
                <th scope="col">{t("customer.lead.stage")}</th>
                <th scope="col">{t("customer.lead.status")}</th>
                <th scope="col">{t("customer.lead.amount")}</th>
              </tr>
            </thead>
            <tbody>
              {leads.map((lead, index) => {
                const amount = text(lead["amount"]);
                return (
                  <tr key={text(lead["lead_id"]) ?? index}>
                    <th scope="row">{text(lead["title"]) ?? ""}</th>
                    <td>{stageLabel(t, text(lead["stage"]) ?? "")}</td>
                    <td>{leadStatusLabel(t, text(lead["status"]) ?? "")}</td>
                    <td className="number">{amount ? money(amount, text(lead["currency"])) : ""}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

function FirstLast({ first, last, i18n }: { first: unknown; last: unknown; i18n: I18n }) {
  const from = text(first);
  const to = text(last);
  if (!from || !to) return null;
  return <p className="muted">{i18n.t("customer.firstLast", { first: i18n.dateTime(from), last: i18n.dateTime(to) })}</p>;
}

function Purchases({ purchases, i18n }: { purchases: Loose; i18n: I18n }) {
  const { t, money, number } = i18n;
  const byCurrency = Object.entries(record(purchases["by_currency"])).sort(([a], [b]) => a.localeCompare(b));
  return (
    <Section id="purchases" title="customer.purchases">
      <p>{t("customer.purchaseCount", { count: number(count(purchases["count"])) })}</p>
      {byCurrency.length > 0 && (
        <ul className="plain-list">
          {byCurrency.map(([currency, entry]) => (
            <li key={currency}>
              {t("customer.purchaseTotal", { amount: money(text(record(entry)["total"]) ?? "0", currency) })} (
              {t("customer.purchaseCount", { count: number(count(record(entry)["count"])) })})
            </li>
          ))}
        </ul>
      )}
      <FirstLast first={purchases["first_at"]} last={purchases["last_at"]} i18n={i18n} />
    </Section>
  );
}

function Interactions({ interactions, i18n }: { interactions: Loose; i18n: I18n }) {
  const { t, number, dateTime } = i18n;
  const channels = Object.entries(record(interactions["by_channel"])).sort(([a], [b]) => a.localeCompare(b));
  const last = text(interactions["last_at"]);
  return (
    <Section id="interactions" title="customer.interactions">
      <p>{t("customer.interactionCount", { count: number(count(interactions["count"])) })}</p>
      {channels.length > 0 && (
        <>
          <h3 className="subhead">{t("customer.byChannel")}</h3>
          <dl className="facts">
            {channels.map(([channel, n]) => (
              <ChannelFact key={channel} channel={channel} value={number(count(n))} />
            ))}
          </dl>
        </>
      )}
      {last && <p className="muted">{t("customer.lastInteraction", { when: dateTime(last) })}</p>}
    </Section>
  );
}

function Tickets({ tickets, i18n }: { tickets: Loose; i18n: I18n }) {
  const { t, number, dateTime } = i18n;
  const items = records(tickets["items"]);
  return (
    <Section id="tickets" title="customer.tickets">
      <p>
        {t("customer.ticketCounts", { open: number(count(tickets["open"])), total: number(count(tickets["total"])) })}
      </p>
      {items.length > 0 && (
        <ul className="item-list">
          {items.map((ticket, index) => {
            const opened = text(ticket["opened_at"]);
            return (
              <li key={text(ticket["ticket_id"]) ?? index} className="item">
                <span className="item__title">{text(ticket["subject"]) ?? t("customer.ticketNoSubject")}</span>
                <span className="item__meta">
                  {t("customer.ticketLine", {
                    priority: text(ticket["priority"]) ?? "",
                    status: text(ticket["status"]) ?? "",
                    when: opened ? dateTime(opened) : "",
                  })}
                </span>
              </li>
            );
          })}
        </ul>
      )}
    </Section>
  );
}

function Tasks({ tasks, i18n }: { tasks: Loose; i18n: I18n }) {
  const { t, number, dateTime } = i18n;
  const items = records(tasks["items"]);
  return (
    <Section id="tasks" title="customer.tasks">
      <p>{t("customer.taskCounts", { open: number(count(tasks["open"])), overdue: number(count(tasks["overdue"])) })}</p>
      {items.length > 0 && (
        <ul className="item-list">
          {items.map((task, index) => {
            const due = text(task["due_at"]);
            return (
              <li key={text(task["task_id"]) ?? index} className="item">
                <span className="item__title">{text(task["title"]) ?? t("task.untitled")}</span>
                {due && <span className="item__meta">{t("task.due", { when: dateTime(due) })}</span>}
                {task["overdue"] === true && <span className="badge badge--warning">{t("task.overdue")}</span>}
              </li>
            );
          })}
        </ul>
      )}
    </Section>
  );
}

function Notes({ notes, i18n }: { notes: Loose; i18n: I18n }) {
  const { t, number, dateTime } = i18n;
  const items = records(notes["items"]);
  return (
    <Section id="notes" title="customer.notes">
      <p>{t("customer.noteCount", { count: number(count(notes["count"])) })}</p>
      {items.length > 0 && (
        <ul className="item-list">
          {items.map((note, index) => {
            const created = text(note["created_at"]);
            return (
              <li key={text(note["note_id"]) ?? index} className="item">
                <span className="note__body">{text(note["body"]) ?? t("customer.noteWithheld")}</span>
                <span className="item__meta">
                  {t("customer.noteBy", { author: text(note["author"]) ?? "", when: created ? dateTime(created) : "" })}
                </span>
                {note["pinned"] === true && <span className="badge">{t("customer.pinned")}</span>}
              </li>
            );
          })}
        </ul>
      )}
    </Section>
  );
}

/** The timeline, newest first, a page at a time back to the first fact; when the page shows a
 * past moment, only the entries up to it (later pages are read until one is). */
function Timeline({ customerId, asOf }: { customerId: string; asOf: string | null }) {
  const { t, dateTime } = useI18n();
  const client = useApi();
  const timeline = useInfiniteQuery({
    queryKey: ["customers", "timeline", customerId],
    queryFn: ({ pageParam, signal }) =>
      client.get("/v1/customers/{customer_id}/timeline", {
        path: { customer_id: customerId },
        query: { limit: TIMELINE_PAGE, ...(pageParam ? { cursor: pageParam } : {}) },
        signal,
      }),
    initialPageParam: "",
    getNextPageParam: (page) => page.next_cursor ?? undefined,
  });
  const entries: TimelineEntry[] = (timeline.data?.pages ?? [])
    .flatMap((page) => page.items)
    .filter((entry) => asOf === null || notAfter(entry.occurred_at, asOf));
  const { hasNextPage, isFetching, isFetchNextPageError, fetchNextPage } = timeline;
  // Looking at the past: newer entries are skipped, so read on until one of that time shows.
  const readOn = asOf !== null && entries.length === 0 && hasNextPage && !isFetching && !isFetchNextPageError;
  useEffect(() => {
    if (readOn) void fetchNextPage();
  }, [readOn, fetchNextPage]);

  let body: ReactNode;
  if (timeline.isPending) {
    body = <p role="status">{t("app.loading")}</p>;
  } else if (!timeline.data) {
    body = (
      <p role="alert" className="notice notice--error">
        {errorText(timeline.error, t)}
      </p>
    );
  } else {
    body =
      entries.length === 0 ? (
        readOn || timeline.isFetchingNextPage ? (
          <p role="status">{t("app.loading")}</p>
        ) : (
          <p>{t("customer.timelineEmpty")}</p>
        )
      ) : (
        <>
          {asOf !== null && <p className="muted">{t("customer.timelineUpTo", { when: dateTime(asOf) })}</p>}
          <ol className="timeline">
            {entries.map((entry) => (
              <li key={entry.event_id} className="timeline__entry">
                <span className="timeline__summary">{entry.summary}</span>
                <span className="item__meta">
                  <time dateTime={entry.occurred_at}>
                    {t("customer.timelineBy", { when: dateTime(entry.occurred_at), actor: entry.actor })}
                  </time>
                </span>
              </li>
            ))}
          </ol>
          {timeline.isFetchNextPageError && (
            <p role="alert" className="notice notice--error">
              {errorText(timeline.error, t)}
            </p>
          )}
          {timeline.hasNextPage ? (
            <button type="button" onClick={() => void timeline.fetchNextPage()} disabled={timeline.isFetchingNextPage}>
              {timeline.isFetchingNextPage ? t("app.loading") : t("customer.loadOlder")}
            </button>
          ) : (
            <p className="muted">{t("customer.timelineEnd")}</p>
          )}
        </>
      );
  }
  return (
    <section aria-labelledby="customer-timeline" className="panel customer__timeline">
      <h2 id="customer-timeline">{t("customer.timeline")}</h2>
      {body}
    </section>
  );
}

/** A lead's status in the user's language: open, or the stage that closed it. */
function leadStatusLabel(t: I18n["t"], status: string): string {
  return status === "open" ? t("customer.lead.open") : stageLabel(t, status);
}
