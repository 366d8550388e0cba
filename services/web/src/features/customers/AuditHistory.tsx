import { useInfiniteQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";

import type { GetResult } from "../../api/client";
import { useApi } from "../../app/ApiProvider";
import { errorText } from "../../app/errorText";
import { useI18n } from "../../i18n/I18nProvider";
import { eventLabel, fieldLabel, notAfter, valueText } from "./history";

export const HISTORY_PAGE = 50;

type HistoryItem = GetResult<"/v1/customers/{customer_id}/history">["events"][number];

/** The audit history: who changed what, when, field by field, oldest first, a page at a time;
 * up to `asOf` when the page shows a past moment. */
export function AuditHistory({ customerId, asOf }: { customerId: string; asOf: string | null }) {
  const i18n = useI18n();
  const { t, dateTime } = i18n;
  const client = useApi();
  const history = useInfiniteQuery({
    queryKey: ["customers", "history", customerId],
    queryFn: ({ pageParam, signal }) =>
      client.get("/v1/customers/{customer_id}/history", {
        path: { customer_id: customerId },
        query: { limit: HISTORY_PAGE, ...(pageParam > 0 ? { after_position: pageParam } : {}) },
        signal,
      }),
    initialPageParam: 0,
    getNextPageParam: (page) => page.next_after_position ?? undefined,
  });

  let body: ReactNode;
  if (history.isPending) {
    body = <p role="status">{t("app.loading")}</p>;
  } else if (!history.data) {
    body = (
      <p role="alert" className="notice notice--error">
        {errorText(history.error, t)}
      </p>
    );
  } else {
    const events: HistoryItem[] = history.data.pages
      .flatMap((page) => page.events)
      .filter((event) => asOf === null || notAfter(event.occurred_at, asOf));
    body = (
      <>
        {asOf !== null && <p className="muted">{t("history.upTo", { when: dateTime(asOf) })}</p>}
        {events.length === 0 ? (
          <p>{t("history.empty")}</p>
        ) : (
          <div className="table-scroll">
            <table className="data-table history" aria-label={t("history.caption")}>
              <thead>
                <tr>
                  <th scope="col">{t("history.when")}</th>
                  <th scope="col">{t("history.who")}</th>
                  <th scope="col">{t("history.what")}</th>
                  <th scope="col">{t("history.field")}</th>
                  <th scope="col">{t("history.before")}</th>
                  <th scope="col">{t("history.after")}</th>
                </tr>
              </thead>
              {events.map((event) => {
                const changes = event.changes ?? [];
                const rows = Math.max(1, changes.length);
                const head = (
                  <>
                    <th scope="rowgroup" rowSpan={rows}>
                      <time dateTime={event.occurred_at}>{dateTime(event.occurred_at)}</time>
                    </th>
                    <td rowSpan={rows}>{event.actor_name ?? event.actor}</td>
                    <td rowSpan={rows}>{eventLabel(event.type, t)}</td>
                  </>
                );
                return (
                  <tbody key={event.event_id}>
                    {changes.length === 0 ? (
                      <tr>
                        {head}
                        <td colSpan={3} className="muted">
                          {t("history.noFieldChange")}
                        </td>
                      </tr>
                    ) : (
                      changes.map((change, index) => (
                        <tr key={`${change.field}-${index}`}>
                          {index === 0 && head}
                          <td>{fieldLabel(change.field, t)}</td>
                          <td>{valueText(change.field, change.before, i18n)}</td>
                          <td>{valueText(change.field, change.after, i18n)}</td>
                        </tr>
                      ))
                    )}
                  </tbody>
                );
              })}
            </table>
          </div>
        )}
        {history.isFetchNextPageError && (
          <p role="alert" className="notice notice--error">
            {errorText(history.error, t)}
          </p>
        )}
        {history.hasNextPage ? (
          <button type="button" onClick={() => void history.fetchNextPage()} disabled={history.isFetchingNextPage}>
            {history.isFetchingNextPage ? t("app.loading") : t("history.loadMore")}
          </button>
        ) : (
          <p className="muted">{t("history.end")}</p>
        )}
      </>
    );
  }
  return (
    <section aria-labelledby="customer-history" className="panel customer__history">
      <h2 id="customer-history">{t("history.title")}</h2>
      {body}
    </section>
  );
}
