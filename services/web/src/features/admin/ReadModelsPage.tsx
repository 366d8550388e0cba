import { useQuery } from "@tanstack/react-query";
import { useId, useState } from "react";

import { useApi } from "../../app/ApiProvider";
import { errorText } from "../../app/errorText";
import { useI18n } from "../../i18n/I18nProvider";

export const REFRESH_MS = 3000;
const DEAD_LETTERS_PAGE = 25;

/** Each read model's position, lag and dead letters, refreshed every few seconds. */
export function ReadModelsPage({ refreshMs = REFRESH_MS }: { refreshMs?: number }) {
  const { t, number, dateTime } = useI18n();
  const client = useApi();
  const tableId = useId();
  const [open, setOpen] = useState<string | null>(null);
  const status = useQuery({
    queryKey: ["admin", "projections"],
    queryFn: ({ signal }) => client.get("/v1/projections", { signal }),
    refetchInterval: refreshMs,
  });

  if (status.isPending) return <p role="status">{t("app.loading")}</p>;
  if (status.isError && !status.data) {
    return (
      <p role="alert" className="notice notice--error">
        {errorText(status.error, t)}
      </p>
    );
  }
  const { head_position: head, projections } = status.data;
  return (
    <div className="admin-read-models">
      <h2>{t("admin.readModels.title")}</h2>
      <p>
        {t("admin.readModels.intro", { seconds: Math.round(refreshMs / 1000) })}{" "}
        {head !== null && head !== undefined ? t("admin.readModels.head", { position: number(head) }) : null}
      </p>
      {status.isError && (
        <p role="alert" className="notice notice--error">
          {errorText(status.error, t)}
        </p>
      )}
      <div className="table-scroll">
        <table className="data-table" aria-labelledby={tableId}>
          <caption id={tableId}>{t("admin.readModels.list")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("admin.readModels.col.name")}</th>
              <th scope="col">{t("admin.readModels.col.store")}</th>
              <th scope="col" className="number">
                {t("admin.readModels.col.position")}
              </th>
              <th scope="col" className="number">
                {t("admin.readModels.col.lagEvents")}
              </th>
              <th scope="col" className="number">
                {t("admin.readModels.col.lagSeconds")}
              </th>
              <th scope="col" className="number">
                {t("admin.readModels.col.deadLetters")}
              </th>
              <th scope="col">{t("admin.readModels.col.lastEvent")}</th>
            </tr>
          </thead>
          <tbody>
            {projections.map((model) => (
              <tr key={model.projection} data-projection={model.projection}>
                <th scope="row">{model.projection}</th>
                <td>{model.store}</td>
                <td className="number">{number(model.position)}</td>
                <td className="number">{model.lag_events === null || model.lag_events === undefined ? "—" : number(model.lag_events)}</td>
                <td className="number">{number(Math.round(model.lag_seconds * 10) / 10)}</td>
                <td className="number">
                  {model.dead_letters > 0 ? (
                    <button
                      type="button"
                      className="button--link"
                      aria-expanded={open === model.projection}
                      aria-label={t("admin.readModels.showDeadLetters", {
                        name: model.projection,
                        count: number(model.dead_letters),
                      })}
                      onClick={() => setOpen(open === model.projection ? null : model.projection)}
                    >
                      {number(model.dead_letters)}
                    </button>
                  ) : (
                    number(0)
                  )}
                </td>
                <td>{model.last_event_recorded_at ? dateTime(model.last_event_recorded_at) : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {open && <DeadLetters name={open} />}
    </div>
  );
}

function DeadLetters({ name }: { name: string }) {
  const { t, number, dateTime } = useI18n();
  const client = useApi();
  const headingId = useId();
  const [offset, setOffset] = useState(0);
  const letters = useQuery({
    queryKey: ["admin", "dead-letters", name, offset],
    queryFn: ({ signal }) =>
      client.get("/v1/projections/{name}/dead-letters", {
        path: { name },
        query: { offset, limit: DEAD_LETTERS_PAGE },
        signal,
      }),
  });
  return (
    <section aria-labelledby={headingId} className="dead-letters">
      <h3 id={headingId}>{t("admin.readModels.deadLettersOf", { name })}</h3>
      {letters.isPending ? (
        <p role="status">{t("app.loading")}</p>
      ) : letters.isError ? (
        <p role="alert" className="notice notice--error">
          {errorText(letters.error, t)}
        </p>
      ) : letters.data.items.length === 0 ? (
        <p>{t("admin.readModels.noDeadLetters")}</p>
      ) : (
        <>
          <p>{t("admin.readModels.deadLettersTotal", { count: number(letters.data.total) })}</p>
          <div className="table-scroll">
            <table className="data-table" aria-labelledby={headingId}>
              <thead>
                <tr>
                  <th scope="col" className="number">
                    {t("admin.readModels.col.position")}
                  </th>
                  <th scope="col">{t("admin.readModels.col.eventType")}</th>
                  <th scope="col">{t("admin.readModels.col.eventId")}</th>
                  <th scope="col">{t("admin.readModels.col.reason")}</th>
                  <th scope="col">{t("admin.readModels.col.setAside")}</th>
                </tr>
              </thead>
              <tbody>
                {letters.data.items.map((letter) => (
                  <tr key={`${letter.generation}-${letter.partition}-${letter.offset}`}>
                    <td className="number">{letter.position === null ? "—" : number(letter.position)}</td>
                    <td>{letter.event_type ?? "—"}</td>
                    <td>
                      <code>{letter.event_id ?? "—"}</code>
                    </td>
                    <td>{letter.reason}</td>
                    <td>{dateTime(letter.recorded_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="form-actions">
            <button
              type="button"
              className="button--secondary"
              disabled={offset === 0}
              onClick={() => setOffset(Math.max(0, offset - DEAD_LETTERS_PAGE))}
            >
              {t("admin.readModels.previous")}
            </button>
            <button
              type="button"
              className="button--secondary"
              disabled={letters.data.next_offset === null || letters.data.next_offset === undefined}
              onClick={() => setOffset(letters.data.next_offset ?? offset)}
            >
              {t("admin.readModels.next")}
            </button>
          </div>
        </>
      )}
    </section>
  );
}
