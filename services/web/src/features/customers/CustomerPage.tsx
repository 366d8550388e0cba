import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link, useParams } from "react-router";

import type { GetResult } from "../../api/client";
import { ApiError } from "../../api/errors";
import { useApi } from "../../app/ApiProvider";
import { errorText } from "../../app/errorText";
import { useI18n, type I18n } from "../../i18n/I18nProvider";
import type { MessageKey } from "../../i18n/messages";
import { lifecycleLabel } from "./listState";

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

/** The customer-360: profile, consents, stage, leads, purchases, interactions, tickets, tasks,
 * notes, and the timeline from newest back to the first fact. */
export function CustomerPage() {
  const { customerId = "" } = useParams();
  const { t } = useI18n();
  const client = useApi();
  const customer = useQuery({
    queryKey: ["customers", "360", customerId],
    queryFn: ({ signal }) => client.get("/v1/customers/{customer_id}", { path: { customer_id: customerId }, signal }),
  });

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
    body = <CustomerDocument customer={customer.data} />;
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

function CustomerDocument({ customer }: { customer: Customer360 }) {
  const i18n = useI18n();
  const { t, dateTime } = i18n;
  const erased = customer["erased"] === true;
  const personal = record(customer.personal);
  const title = erased
    ? t("customer.erasedTitle")
    : (customer.display_name ?? customer.company ?? t("customers.noName"));
  const tags = customer.tags ?? [];
  const registered = text(customer["registered_at"]);

  return (
    <>
      <h1 id="page-title">{title}</h1>
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
      <Timeline customerId={customer.customer_id} />
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
                    <td>{text(lead["stage"]) ?? ""}</td>
                    <td>{text(lead["status"]) ?? ""}</td>
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

function Timeline({ customerId }: { customerId: string }) {
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
    const entries: TimelineEntry[] = timeline.data.pages.flatMap((page) => page.items);
    body =
      entries.length === 0 ? (
        <p>{t("customer.timelineEmpty")}</p>
      ) : (
        <>
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
