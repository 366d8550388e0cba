import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useRef, useState, type FormEvent, type ReactNode } from "react";
import { Link, useOutletContext, useParams } from "react-router";

import type { ApiClient, GetResult } from "../../api/client";
import type { components } from "../../api/schema";
import type { Me } from "../../api/session";
import { useApi } from "../../app/ApiProvider";
import { errorText } from "../../app/errorText";
import { useLivePosition } from "../../app/LiveUpdates";
import { useI18n } from "../../i18n/I18nProvider";
import type { MessageKey } from "../../i18n/messages";
import { TICKET_STATUSES, codeLabel, duration, type TicketStatus } from "./labels";
import { customerOf } from "./TicketsPage";

type Detail = GetResult<"/v1/tickets/{ticket_id}">;
type Clock = components["schemas"]["TicketClock"];
type Accepted = components["schemas"]["CommandAccepted"];
type Entry = Record<string, unknown>;

const text = (entry: Entry, name: string): string | null => {
  const value = entry[name];
  return typeof value === "string" ? value : null;
};
const count = (entry: Entry, name: string): number | null => {
  const value = entry[name];
  return typeof value === "number" ? value : null;
};

/** A ticket: its details, SLA clocks against their targets, status history, escalations,
 * alerts and comments; a status move and a comment for those who may work it. */
export function TicketPage() {
  const { ticketId = "" } = useParams();
  const me = useOutletContext<Me>();
  const { t } = useI18n();
  const client = useApi();
  const queryClient = useQueryClient();
  // The position of our latest change: the next read waits until the tickets model shows it.
  const seen = useRef<number | undefined>(undefined);
  const afterLive = useLivePosition("tickets");
  const ticket = useQuery({
    queryKey: ["tickets", "detail", ticketId],
    queryFn: ({ signal }) =>
      client.get("/v1/tickets/{ticket_id}", {
        path: { ticket_id: ticketId },
        query: { min_position: afterLive(seen.current) },
        signal,
      }),
    refetchInterval: 60_000, // the clocks run on
  });

  async function changed(position: number) {
    seen.current = Math.max(seen.current ?? 0, position);
    await queryClient.invalidateQueries({ queryKey: ["tickets"] });
  }

  if (ticket.isPending) {
    return (
      <p role="status" className="page-status">
        {t("app.loading")}
      </p>
    );
  }
  if (ticket.isError) {
    return (
      <section aria-labelledby="page-title">
        <h1 id="page-title">{t("tickets.title")}</h1>
        <p role="alert" className="notice notice--error">
          {errorText(ticket.error, t)}
        </p>
        <p>
          <Link to="/tickets">{t("ticket.back")}</Link>
        </p>
      </section>
    );
  }
  const canWork = me.permissions["tickets.work"] !== undefined;
  return <TicketView ticket={ticket.data} canWork={canWork} client={client} onChanged={changed} />;
}

function TicketView(props: {
  ticket: Detail;
  canWork: boolean;
  client: ApiClient;
  onChanged: (position: number) => Promise<void>;
}) {
  const { ticket, canWork } = props;
  const { t, dateTime } = useI18n();
  return (
    <article aria-labelledby="page-title" className="ticket">
      <p>
        <Link to="/tickets">{t("ticket.back")}</Link>
      </p>
      <h1 id="page-title">{ticket.subject ?? t("ticket.subjectWithheld")}</h1>
      <Section id="ticket-details" title="ticket.details">
        <dl className="facts">
          <dt>{t("ticket.customer")}</dt>
          <dd>
            <Link to={`/customers/${encodeURIComponent(ticket.customer_id)}`}>
              {customerOf(ticket) ?? t("ticket.customerUnnamed")}
            </Link>
          </dd>
          <dt>{t("ticket.status")}</dt>
          <dd data-testid="ticket-status">{codeLabel(t, "ticket-status", ticket.status)}</dd>
          <dt>{t("ticket.priority")}</dt>
          <dd>{codeLabel(t, "priority", ticket.priority)}</dd>
          <dt>{t("ticket.assignee")}</dt>
          <dd>{ticket.assignee ?? t("ticket.unassigned")}</dd>
          {ticket.channel && (
            <>
              <dt>{t("ticket.channel")}</dt>
              <dd>{ticket.channel}</dd>
            </>
          )}
          <dt>{t("ticket.opened")}</dt>
          <dd>{dateTime(ticket.opened_at)}</dd>
        </dl>
        {ticket.breached && <p className="badge badge--warning">{t("sla.breached")}</p>}
      </Section>
      <Clocks clocks={ticket.clocks} />
      {canWork && <StatusMove {...props} />}
      <History entries={ticket.status_history} />
      <Escalations entries={ticket.escalations} />
      {ticket.alerts.length > 0 && <TicketAlerts entries={ticket.alerts} />}
      <Comments ticket={ticket} />
      {canWork && <CommentForm {...props} />}
    </article>
  );
}

function Section({ id, title, children }: { id: string; title: MessageKey; children: ReactNode }) {
  const { t } = useI18n();
  return (
    <section aria-labelledby={`${id}-title`} className="panel">
      <h2 id={`${id}-title`}>{t(title)}</h2>
      {children}
    </section>
  );
}

function Clocks({ clocks }: { clocks: Detail["clocks"] }) {
  const { t } = useI18n();
  return (
    <Section id="ticket-clocks" title="ticket.clocks">
      <div className="table-scroll">
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">{t("ticket.clock")}</th>
              <th scope="col">{t("ticket.target")}</th>
              <th scope="col">{t("ticket.deadline")}</th>
              <th scope="col">{t("ticket.state")}</th>
              <th scope="col">{t("ticket.timeLeft")}</th>
            </tr>
          </thead>
          <tbody>
            <ClockRow name="first_response" clock={clocks.first_response} />
            <ClockRow name="resolution" clock={clocks.resolution} />
          </tbody>
        </table>
      </div>
    </Section>
  );
}

function ClockRow({ name, clock }: { name: string; clock: Clock }) {
  const { t, dateTime, locale } = useI18n();
  const left = clock.remaining_seconds;
  return (
    <tr>
      <th scope="row">{codeLabel(t, "sla", name)}</th>
      <td>{clock.target_seconds === null ? t("ticket.noTarget") : duration(locale, clock.target_seconds)}</td>
      <td>{clock.deadline ? dateTime(clock.deadline) : ""}</td>
      <td>{codeLabel(t, "clock-state", clock.state)}</td>
      <td className={left !== null && left < 0 ? "sla-clock--overdue" : undefined}>
        {left === null ? "" : left >= 0 ? duration(locale, left) : t("ticket.overdueBy", { time: duration(locale, left) })}
      </td>
    </tr>
  );
}

function History({ entries }: { entries: Entry[] }) {
  const { t, dateTime } = useI18n();
  return (
    <Section id="ticket-history" title="ticket.history">
      {entries.length === 0 ? (
        <p>{t("ticket.historyEmpty")}</p>
      ) : (
        <ol className="item-list">
          {entries.map((entry, index) => {
            const reason = text(entry, "reason");
            const at = text(entry, "at");
            return (
              <li key={index} className="item">
                <span>
                  {t("ticket.moved", {
                    to: codeLabel(t, "ticket-status", text(entry, "to_status")),
                    by: text(entry, "by") ?? "",
                    when: at ? dateTime(at) : "",
                  })}
                </span>
                {reason && <span className="item__meta">{t("ticket.reason", { reason })}</span>}
              </li>
            );
          })}
        </ol>
      )}
    </Section>
  );
}

function Escalations({ entries }: { entries: Entry[] }) {
  const { t, dateTime, locale } = useI18n();
  return (
    <Section id="ticket-escalations" title="ticket.escalations">
      {entries.length === 0 ? (
        <p>{t("ticket.escalationsEmpty")}</p>
      ) : (
        <ul className="item-list">
          {entries.map((entry, index) => {
            const target = count(entry, "target_seconds");
            const deadline = text(entry, "deadline");
            const at = text(entry, "at");
            return (
              <li key={index} className="item">
                <span>
                  {t("ticket.escalation", {
                    sla: codeLabel(t, "sla", text(entry, "sla")),
                    target: target === null ? "" : duration(locale, target),
                    deadline: deadline ? dateTime(deadline) : "",
                    priority: codeLabel(t, "priority", text(entry, "priority")),
                  })}
                </span>
                {at && (
                  <span className="item__meta">
                    {text(entry, "by") ?? ""} · {dateTime(at)}
                  </span>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </Section>
  );
}

function TicketAlerts({ entries }: { entries: Entry[] }) {
  const { t, dateTime } = useI18n();
  return (
    <Section id="ticket-alerts" title="ticket.alerts">
      <ul className="item-list">
        {entries.map((entry, index) => {
          const raised = text(entry, "raised_at");
          return (
            <li key={text(entry, "alert_id") ?? index} className="item">
              <span className="item__title">{text(entry, "summary") ?? codeLabel(t, "alert-kind", text(entry, "kind"))}</span>
              <span className="item__meta">
                {codeLabel(t, "alert-status", text(entry, "status"))}
                {raised ? ` · ${t("alert.raised", { when: dateTime(raised) })}` : ""}
              </span>
            </li>
          );
        })}
      </ul>
      <p>
        <Link to="/alerts">{t("nav.alerts")}</Link>
      </p>
    </Section>
  );
}

function Comments({ ticket }: { ticket: Detail }) {
  const { t, dateTime, number } = useI18n();
  const comments = ticket.comments;
  return (
    <Section id="ticket-comments" title="ticket.comments">
      {comments.length === 0 ? (
        <p>{t("ticket.commentsEmpty")}</p>
      ) : (
        <>
          {ticket.comments_total > comments.length && (
            <p className="muted">
              {t("ticket.commentsShown", { shown: number(comments.length), total: number(ticket.comments_total) })}
            </p>
          )}
          <ol className="item-list">
            {comments.map((comment, index) => {
              const at = text(comment, "at");
              return (
                <li key={text(comment, "comment_id") ?? index} className="item comment">
                  <span className="item__meta">
                    {t("ticket.commentBy", { author: text(comment, "author") ?? "", when: at ? dateTime(at) : "" })}
                    {comment["public"] === false && <span className="badge">{t("ticket.internal")}</span>}
                  </span>
                  <span className="comment__body">{text(comment, "body") ?? ""}</span>
                </li>
              );
            })}
          </ol>
        </>
      )}
    </Section>
  );
}

function StatusMove({ ticket, client, onChanged }: { ticket: Detail; client: ApiClient; onChanged: (p: number) => Promise<void> }) {
  const { t } = useI18n();
  const ids = { status: useId(), reason: useId() };
  const others = TICKET_STATUSES.filter((status) => status !== ticket.status);
  const [status, setStatus] = useState<TicketStatus | "">("");
  const [reason, setReason] = useState("");
  const [done, setDone] = useState(false);
  const move = useMutation({
    mutationFn: (to: TicketStatus) =>
      client.send<Accepted>("POST", `/v1/tickets/${encodeURIComponent(ticket.ticket_id)}/status`, {
        status: to,
        reason: reason.trim() || undefined,
      }),
    onSuccess: async (accepted) => {
      setStatus("");
      setReason("");
      setDone(true);
      await onChanged(accepted.position);
    },
  });
  const chosen = status || others[0];

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setDone(false);
    if (chosen) move.mutate(chosen);
  }

  return (
    <Section id="ticket-move" title="ticket.move">
      <form className="filters" onSubmit={submit}>
        <div className="filters__field">
          <label htmlFor={ids.status}>{t("ticket.newStatus")}</label>
          <select id={ids.status} value={chosen ?? ""} onChange={(e) => setStatus(e.target.value as TicketStatus)}>
            {others.map((option) => (
              <option key={option} value={option}>
                {codeLabel(t, "ticket-status", option)}
              </option>
            ))}
          </select>
        </div>
        <div className="filters__field">
          <label htmlFor={ids.reason}>{t("ticket.reasonOptional")}</label>
          <input id={ids.reason} type="text" value={reason} onChange={(e) => setReason(e.target.value)} />
        </div>
        <button type="submit" disabled={move.isPending}>
          {move.isPending ? t("ticket.saving") : t("ticket.moveSubmit")}
        </button>
      </form>
      {move.isError && (
        <p role="alert" className="notice notice--error">
          {errorText(move.error, t)}
        </p>
      )}
      <p role="status" className="live-status">
        {done && !move.isPending ? t("ticket.statusChanged") : ""}
      </p>
    </Section>
  );
}

function CommentForm({ ticket, client, onChanged }: { ticket: Detail; client: ApiClient; onChanged: (p: number) => Promise<void> }) {
  const { t } = useI18n();
  const ids = { body: useId(), public: useId() };
  const [body, setBody] = useState("");
  const [visible, setVisible] = useState(true);
  const [done, setDone] = useState(false);
  const post = useMutation({
    mutationFn: () =>
      client.send<Accepted>("POST", `/v1/tickets/${encodeURIComponent(ticket.ticket_id)}/comments`, {
        personal: { body },
        public: visible,
      }),
    onSuccess: async (accepted) => {
      setBody("");
      setDone(true);
      await onChanged(accepted.position);
    },
  });

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setDone(false);
    post.mutate();
  }

  return (
    <Section id="ticket-comment" title="ticket.addComment">
      <form className="stacked-form" onSubmit={submit}>
        <label htmlFor={ids.body}>{t("ticket.comment")}</label>
        <textarea id={ids.body} rows={4} value={body} required onChange={(e) => setBody(e.target.value)} />
        <div className="filters__check">
          <input id={ids.public} type="checkbox" checked={visible} onChange={(e) => setVisible(e.target.checked)} />
          <label htmlFor={ids.public}>{t("ticket.public")}</label>
        </div>
        <button type="submit" disabled={post.isPending || body.trim() === ""}>
          {post.isPending ? t("ticket.saving") : t("ticket.commentSubmit")}
        </button>
      </form>
      {post.isError && (
        <p role="alert" className="notice notice--error">
          {errorText(post.error, t)}
        </p>
      )}
      <p role="status" className="live-status">
        {done && !post.isPending ? t("ticket.commented") : ""}
      </p>
    </Section>
  );
}
