import { useQuery, type UseQueryResult } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link, useOutletContext } from "react-router";

import type { GetResult } from "../../api/client";
import type { Me } from "../../api/session";
import { useApi } from "../../app/ApiProvider";
import { errorText } from "../../app/errorText";
import { useLivePosition } from "../../app/LiveUpdates";
import { useI18n } from "../../i18n/I18nProvider";
import type { MessageKey } from "../../i18n/messages";
import { may } from "../admin/access";
import { stageLabel } from "../pipeline/board";
import { SlaClock, customerOf, useNow } from "../tickets/TicketsPage";

const PAGE = 25;

/** The end of today in this browser's time zone: tasks due before it are today's or overdue. */
export function endOfToday(now: Date = new Date()): string {
  const end = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
  return end.toISOString();
}

/** Tickets still being worked (not resolved or closed). */
const WORKING_STATUSES = ["open", "pending", "reopened"] as const;

/** The signed-in person's open leads, tasks due today or overdue, alerts and tickets nearest
 * their SLA deadline — each shown when their role may read it. */
export function MyDayPage() {
  const me = useOutletContext<Me>();
  const { t } = useI18n();
  const client = useApi();
  const now = useNow();
  const dueBefore = endOfToday(new Date(now));
  const showLeads = may(me, "leads.read");
  const showTasks = may(me, "tasks.read");
  const showAlerts = may(me, "alerts.read");
  const showTickets = may(me, "tickets.work");
  // After a live event, a refetch waits until the read model shows it.
  const afterLeads = useLivePosition("leads");
  const afterTasks = useLivePosition("tasks");
  const afterAlerts = useLivePosition("alerts");
  const afterTickets = useLivePosition("tickets");
  const leads = useQuery({
    queryKey: ["my-day", "leads"],
    enabled: showLeads,
    queryFn: ({ signal }) =>
      client.get("/v1/leads", { query: { owner: "me", open: true, limit: PAGE, min_position: afterLeads() }, signal }),
  });
  const tasks = useQuery({
    queryKey: ["my-day", "tasks", dueBefore],
    enabled: showTasks,
    queryFn: ({ signal }) =>
      client.get("/v1/tasks", {
        query: { assignee: "me", due_before: dueBefore, limit: PAGE, min_position: afterTasks() },
        signal,
      }),
  });
  const alerts = useQuery({
    queryKey: ["my-day", "alerts", me.subject],
    enabled: showAlerts,
    queryFn: ({ signal }) =>
      client.get("/v1/alerts", {
        query: { assignee: me.subject, status: "active", limit: PAGE, min_position: afterAlerts() },
        signal,
      }),
  });
  const tickets = useQuery({
    queryKey: ["my-day", "tickets"],
    enabled: showTickets,
    queryFn: ({ signal }) =>
      client.get("/v1/tickets", {
        query: {
          assignee: "me",
          status: [...WORKING_STATUSES],
          sort: "due_at",
          limit: PAGE,
          min_position: afterTickets(),
        },
        signal,
      }),
  });

  return (
    <section aria-labelledby="page-title" className="my-day">
      <h1 id="page-title">{t("myDay.title")}</h1>
      <p>{t("myDay.greeting", { name: me.display_name ?? me.subject })}</p>
      <div className="my-day__columns">
        {showLeads && (
          <Panel id="my-leads" title="myDay.leads" empty="myDay.leadsEmpty" query={leads}>
            {(page) => page.items.map((lead) => <LeadRow key={lead.lead_id} lead={lead} />)}
          </Panel>
        )}
        {showTasks && (
          <Panel id="my-tasks" title="myDay.tasks" empty="myDay.tasksEmpty" query={tasks}>
            {(page) => page.items.map((task) => <TaskRow key={task.task_id} task={task} />)}
          </Panel>
        )}
        {showAlerts && (
          <Panel id="my-alerts" title="myDay.alerts" empty="myDay.alertsEmpty" query={alerts}>
            {(page) => page.items.map((alert) => <AlertRow key={alert.alert_id} alert={alert} />)}
          </Panel>
        )}
        {showTickets && (
          <Panel id="my-tickets" title="myDay.tickets" empty="myDay.ticketsEmpty" query={tickets}>
            {(page) => page.items.map((ticket) => <TicketRow key={ticket.ticket_id} ticket={ticket} now={now} />)}
          </Panel>
        )}
      </div>
    </section>
  );
}

interface Page {
  items: unknown[];
  next_cursor?: string | null;
}

function Panel<P extends Page>(props: {
  id: string;
  title: MessageKey;
  empty: MessageKey;
  query: UseQueryResult<P>;
  children: (page: P) => ReactNode;
}) {
  const { t } = useI18n();
  const { query } = props;
  let body: ReactNode;
  if (query.isPending) {
    body = <p role="status">{t("app.loading")}</p>;
  } else if (query.isError) {
    body = (
      <p role="alert" className="notice notice--error">
        {errorText(query.error, t)}
      </p>
    );
  } else if (query.data.items.length === 0) {
    body = <p>{t(props.empty)}</p>;
  } else {
    body = (
      <>
        <ul className="item-list">{props.children(query.data)}</ul>
        {query.data.next_cursor && <p className="muted">{t("myDay.more", { count: query.data.items.length })}</p>}
      </>
    );
  }
  return (
    <section aria-labelledby={`${props.id}-title`} className="panel">
      <h2 id={`${props.id}-title`}>{t(props.title)}</h2>
      {body}
    </section>
  );
}

type Lead = GetResult<"/v1/leads">["items"][number];
type Task = GetResult<"/v1/tasks">["items"][number];
type Alert = GetResult<"/v1/alerts">["items"][number];
type Ticket = GetResult<"/v1/tickets">["items"][number];

function LeadRow({ lead }: { lead: Lead }) {
  const { t, money, dateTime } = useI18n();
  return (
    <li className="item">
      <span className="item__title">{lead.title}</span>
      <span className="item__meta">
        <Link to={`/customers/${encodeURIComponent(lead.customer_id)}`}>
          {lead.customer_name ?? lead.customer_company ?? t("lead.customer")}
        </Link>{" "}
        · {t("lead.stage", { stage: stageLabel(t, lead.stage) })}
        {lead.amount ? ` · ${money(lead.amount, lead.currency)}` : ""}
      </span>
      {lead.stale && <span className="badge badge--warning">{t("lead.stale")}</span>}
      {lead.follow_up_overdue ? (
        <span className="badge badge--warning">{t("lead.followUpOverdue")}</span>
      ) : (
        lead.next_follow_up_at && (
          <span className="item__meta">{t("lead.nextFollowUp", { when: dateTime(lead.next_follow_up_at) })}</span>
        )
      )}
    </li>
  );
}

function TaskRow({ task }: { task: Task }) {
  const { t, dateTime } = useI18n();
  return (
    <li className="item">
      <span className="item__title">{task.title ?? t("task.untitled")}</span>
      <span className="item__meta">{t("task.due", { when: dateTime(task.due_at) })}</span>
      {task.overdue && <span className="badge badge--warning">{t("task.overdue")}</span>}
    </li>
  );
}

function AlertRow({ alert }: { alert: Alert }) {
  const { t, dateTime } = useI18n();
  const status: MessageKey = alert.status === "acknowledged" ? "alert.status.acknowledged" : "alert.status.open";
  return (
    <li className="item">
      <span className="item__title">{alert.summary}</span>
      <span className="item__meta">{t("alert.raised", { when: dateTime(alert.raised_at) })}</span>
      <span className="badge">{t(status)}</span>
    </li>
  );
}

function TicketRow({ ticket, now }: { ticket: Ticket; now: number }) {
  const { t } = useI18n();
  return (
    <li className="item">
      <Link className="item__title" to={`/tickets/${encodeURIComponent(ticket.ticket_id)}`}>
        {ticket.subject ?? t("myDay.ticketUntitled")}
      </Link>
      <span className="item__meta">{customerOf(ticket) ?? t("lead.customer")}</span>
      <SlaClock ticket={ticket} now={now} />
    </li>
  );
}
