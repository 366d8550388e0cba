import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { useId, useRef, useState, type FormEvent } from "react";
import { Link, useOutletContext, useSearchParams } from "react-router";

import type { GetQuery, GetResult } from "../../api/client";
import type { components } from "../../api/schema";
import type { Me } from "../../api/session";
import { useApi } from "../../app/ApiProvider";
import { errorText } from "../../app/errorText";
import { useLivePosition } from "../../app/LiveUpdates";
import { useI18n } from "../../i18n/I18nProvider";
import { ALERT_KINDS, codeLabel } from "../tickets/labels";

const PAGE = 25;
const STATUSES = ["active", "open", "acknowledged", "resolved"] as const;
type StatusFilter = (typeof STATUSES)[number];
type Alert = GetResult<"/v1/alerts">["items"][number];
type AlertQuery = NonNullable<GetQuery<"/v1/alerts">>;
type Accepted = components["schemas"]["CommandAccepted"];

/** What lists of alerts are cached under (My day's panel included): a change refreshes them. */
export const ALERT_QUERIES = [["alerts"], ["my-day", "alerts"]] as const;

/** The signed-in person's alerts, newest first, to acknowledge and resolve with a note. */
export function AlertsPage() {
  const me = useOutletContext<Me>();
  const { t } = useI18n();
  const client = useApi();
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const status = parseStatus(params.get("status"));
  const kind = parseKind(params.get("kind"));
  const canWork = me.permissions["alerts.work"] !== undefined;
  const statusId = useId();
  const kindId = useId();
  // The position of our latest change: the next reads wait until the alerts model shows it.
  const seen = useRef<number | undefined>(undefined);
  const afterLive = useLivePosition("alerts");
  const [announcement, setAnnouncement] = useState("");

  const alerts = useInfiniteQuery({
    queryKey: ["alerts", me.subject, status, kind],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam, signal }) =>
      client.get("/v1/alerts", {
        query: {
          assignee: me.subject,
          status,
          kind: kind ?? undefined,
          limit: PAGE,
          cursor: pageParam ?? undefined,
          min_position: afterLive(seen.current),
        },
        signal,
      }),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });

  function choose(name: "status" | "kind", value: string, fallback: string) {
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

  async function changed(position: number, message: string) {
    seen.current = Math.max(seen.current ?? 0, position);
    setAnnouncement(message);
    await Promise.all(ALERT_QUERIES.map((queryKey) => queryClient.invalidateQueries({ queryKey: [...queryKey] })));
  }

  const items = alerts.data?.pages.flatMap((page) => page.items) ?? [];

  return (
    <section aria-labelledby="page-title" className="alerts">
      <h1 id="page-title">{t("alerts.title")}</h1>
      <p>{t("alerts.intro")}</p>
      <form className="filters" aria-label={t("alerts.filters")} onSubmit={(event) => event.preventDefault()}>
        <div className="filters__field">
          <label htmlFor={statusId}>{t("alerts.status")}</label>
          <select id={statusId} value={status} onChange={(event) => choose("status", event.target.value, "active")}>
            {STATUSES.map((value) => (
              <option key={value} value={value}>
                {value === "active" ? t("alerts.status.active") : codeLabel(t, "alert-status", value)}
              </option>
            ))}
          </select>
        </div>
        <div className="filters__field">
          <label htmlFor={kindId}>{t("alerts.kind")}</label>
          <select id={kindId} value={kind ?? ""} onChange={(event) => choose("kind", event.target.value, "")}>
            <option value="">{t("alerts.kindAll")}</option>
            {ALERT_KINDS.map((value) => (
              <option key={value} value={value}>
                {codeLabel(t, "alert-kind", value)}
              </option>
            ))}
          </select>
        </div>
      </form>
      <p role="status" className="live-status">
        {announcement}
      </p>
      {alerts.isPending ? (
        <p role="status">{t("app.loading")}</p>
      ) : alerts.isError && !alerts.isFetchNextPageError ? (
        <p role="alert" className="notice notice--error">
          {errorText(alerts.error, t)}
        </p>
      ) : items.length === 0 ? (
        <p>{t("alerts.empty")}</p>
      ) : (
        <>
          <ul className="alert-list" aria-label={t("alerts.list")}>
            {items.map((alert) => (
              <AlertItem key={alert.alert_id} alert={alert} canWork={canWork} onChanged={changed} />
            ))}
          </ul>
          {alerts.isFetchNextPageError && (
            <p role="alert" className="notice notice--error">
              {errorText(alerts.error, t)}
            </p>
          )}
          {alerts.hasNextPage && (
            <button
              type="button"
              className="button--secondary"
              onClick={() => void alerts.fetchNextPage()}
              disabled={alerts.isFetchingNextPage}
            >
              {alerts.isFetchingNextPage ? t("alerts.loadingMore") : t("alerts.more")}
            </button>
          )}
        </>
      )}
    </section>
  );
}

function parseStatus(value: string | null): StatusFilter {
  return (STATUSES as readonly string[]).includes(value ?? "") ? (value as StatusFilter) : "active";
}

function parseKind(value: string | null): AlertQuery["kind"] {
  return (ALERT_KINDS as readonly string[]).includes(value ?? "") ? (value as AlertQuery["kind"]) : null;
}

type Action = "acknowledge" | "resolve";

function AlertItem(props: {
  alert: Alert;
  canWork: boolean;
  onChanged: (position: number, message: string) => Promise<void>;
}) {
  const { alert, canWork, onChanged } = props;
  const { t, dateTime } = useI18n();
  const client = useApi();
  const noteId = useId();
  const titleId = useId();
  const [note, setNote] = useState("");
  const act = useMutation({
    mutationFn: (action: Action) => {
      const text = note.trim();
      return client.send<Accepted>(
        "POST",
        `/v1/alerts/${encodeURIComponent(alert.alert_id)}/${action}`,
        text ? { note: text } : undefined,
      );
    },
    onSuccess: async (accepted, action) => {
      setNote("");
      const message = t(action === "acknowledge" ? "alerts.acknowledged" : "alerts.resolved", {
        summary: alert.summary,
      });
      await onChanged(accepted.position, message);
    },
  });

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault(); // Enter in the note: the form's first action fits the alert
    act.mutate(alert.status === "open" ? "acknowledge" : "resolve");
  }

  const open = alert.status === "open";
  const workable = canWork && (open || alert.status === "acknowledged");
  return (
    <li className="alert-item" aria-labelledby={titleId}>
      <div className="alert-item__badges">
        <span className="badge">{codeLabel(t, "alert-kind", alert.kind)}</span>
        <span className={`badge badge--${alert.status}`}>{codeLabel(t, "alert-status", alert.status)}</span>
      </div>
      <h2 id={titleId} className="alert-item__summary">
        {alert.summary}
      </h2>
      <p className="item__meta">
        {t("alert.raised", { when: dateTime(alert.raised_at) })} · {codeLabel(t, "subject-kind", alert.subject_kind)}
        {alert.due_at ? ` · ${t("alerts.due", { when: dateTime(alert.due_at) })}` : ""}
      </p>
      <p className="alert-item__links">
        <Link to={`/customers/${encodeURIComponent(alert.customer_id)}`}>{t("alerts.customerPage")}</Link>
        {alert.subject_kind === "ticket" && (
          <Link to={`/tickets/${encodeURIComponent(alert.subject_id)}`}>{t("alerts.openTicket")}</Link>
        )}
      </p>
      {alert.acknowledged_at && (
        <p className="item__meta">
          {t("alerts.acknowledgedBy", { who: alert.acknowledged_by ?? "", when: dateTime(alert.acknowledged_at) })}
        </p>
      )}
      {alert.resolved_at && (
        <p className="item__meta">
          {t("alerts.resolvedBy", { who: alert.resolved_by ?? "", when: dateTime(alert.resolved_at) })}
        </p>
      )}
      {alert.note && <p className="item__meta">{t("alerts.lastNote", { note: alert.note })}</p>}
      {workable && (
        <form className="alert-item__actions" onSubmit={submit}>
          <div className="filters__field">
            <label htmlFor={noteId}>{t("alerts.note")}</label>
            <input
              id={noteId}
              type="text"
              value={note}
              onChange={(event) => setNote(event.target.value)}
              disabled={act.isPending}
            />
          </div>
          {open && (
            <button type="button" onClick={() => act.mutate("acknowledge")} disabled={act.isPending}>
              {t("alerts.acknowledge")}
            </button>
          )}
          <button type="button" onClick={() => act.mutate("resolve")} disabled={act.isPending}>
            {t("alerts.resolve")}
          </button>
          {act.isPending && (
            <span role="status" className="muted">
              {t("alerts.saving")}
            </span>
          )}
        </form>
      )}
      {act.isError && (
        <p role="alert" className="notice notice--error">
          {errorText(act.error, t)}
        </p>
      )}
    </li>
  );
}
