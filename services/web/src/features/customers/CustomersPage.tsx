import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { Link, useOutletContext, useSearchParams } from "react-router";

import type { Me } from "../../api/session";
import { useApi } from "../../app/ApiProvider";
import { errorText } from "../../app/errorText";
import { useI18n } from "../../i18n/I18nProvider";
import type { MessageKey } from "../../i18n/messages";
import { downloadCsv } from "./csv";
import { MAX_EXPORT, exportCustomers, type CustomerRow } from "./exportCustomers";
import {
  LIFECYCLE_STAGES,
  ORDERS,
  SORT_KEYS,
  TEXT_FILTERS,
  LEAD_FILTERS,
  apiQuery,
  lifecycleLabel,
  searchFromState,
  stateFromSearch,
  viewQuery,
  type ListState,
} from "./listState";
import { browserStorage, deleteView, loadViews, saveView, viewsKey, type SavedView } from "./savedViews";

export const PAGE_SIZE = 50;

const FILTER_LABELS: Record<(typeof TEXT_FILTERS)[number], MessageKey> = {
  q: "customers.q",
  owner: "customers.owner",
  tag: "customers.tag",
  region: "customers.region",
  source: "customers.source",
};

/** The customers in the signed-in person's book: search, filters, sort, pages, saved views
 * and export, every bit of the list's state in the URL. */
export function CustomersPage() {
  const { t } = useI18n();
  const client = useApi();
  const [search, setSearch] = useSearchParams();
  const state = stateFromSearch(search);
  const stateKey = searchFromState(state).toString();

  const list = useQuery({
    queryKey: ["customers", "list", stateKey],
    queryFn: ({ signal }) => client.get("/v1/customers", { query: apiQuery(state, PAGE_SIZE), signal }),
    placeholderData: keepPreviousData,
  });

  function go(next: ListState) {
    setSearch(searchFromState(next));
  }

  return (
    <section aria-labelledby="page-title" className="customers">
      <h1 id="page-title">{t("customers.title")}</h1>
      <SearchForm key={viewQuery(state)} state={state} onSearch={(next) => go({ ...next, cursor: "" })} />
      <div className="customers__tools">
        <SavedViews state={state} />
        <ExportCsv state={state} />
      </div>
      <section aria-labelledby="customers-results" className="panel">
        <h2 id="customers-results">{t("customers.results")}</h2>
        {list.isPending ? (
          <p role="status">{t("app.loading")}</p>
        ) : list.isError ? (
          <p role="alert" className="notice notice--error">
            {errorText(list.error, t)}
          </p>
        ) : list.data.items.length === 0 ? (
          <p>{t("customers.empty")}</p>
        ) : (
          <>
            <CustomerTable customers={list.data.items} />
            <p className="muted" role="status">
              {t("customers.onPage", { count: list.data.items.length })}
            </p>
          </>
        )}
        <div className="pager">
          {state.cursor && (
            <button type="button" className="button--secondary" onClick={() => go({ ...state, cursor: "" })}>
              {t("customers.firstPage")}
            </button>
          )}
          {list.data?.next_cursor && (
            <button
              type="button"
              disabled={list.isPlaceholderData}
              onClick={() => list.data?.next_cursor && go({ ...state, cursor: list.data.next_cursor })}
            >
              {t("customers.nextPage")}
            </button>
          )}
        </div>
      </section>
    </section>
  );
}

function SearchForm({ state, onSearch }: { state: ListState; onSearch: (state: ListState) => void }) {
  const { t } = useI18n();
  const id = useId();

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const text = (name: string) => String(form.get(name) ?? "").trim();
    const search = new URLSearchParams();
    for (const name of [...TEXT_FILTERS, ...LEAD_FILTERS, "lifecycle_stage", "sort", "order"]) {
      const value = text(name);
      if (value) search.set(name, value);
    }
    onSearch(stateFromSearch(search));
  }

  return (
    <form role="search" aria-label={t("customers.searchForm")} className="search-form panel" onSubmit={submit}>
      <div className="field field--wide">
        <label htmlFor={`${id}-q`}>{t("customers.q")}</label>
        <input
          id={`${id}-q`}
          name="q"
          type="search"
          defaultValue={state.q}
          aria-describedby={`${id}-q-hint`}
          autoComplete="off"
        />
        <span id={`${id}-q-hint`} className="field__hint">
          {t("customers.qHint")}
        </span>
      </div>
      <div className="field">
        <label htmlFor={`${id}-stage`}>{t("customers.lifecycleStage")}</label>
        <select id={`${id}-stage`} name="lifecycle_stage" defaultValue={state.lifecycle_stage}>
          <option value="">{t("customers.anyStage")}</option>
          {LIFECYCLE_STAGES.map((stage) => (
            <option key={stage} value={stage}>
              {t(`lifecycle.${stage}`)}
            </option>
          ))}
        </select>
      </div>
      {TEXT_FILTERS.filter((name) => name !== "q").map((name) => (
        <div className="field" key={name}>
          <label htmlFor={`${id}-${name}`}>{t(FILTER_LABELS[name])}</label>
          <input id={`${id}-${name}`} name={name} type="text" defaultValue={state[name]} autoComplete="off" />
        </div>
      ))}
      <div className="field">
        <label htmlFor={`${id}-sort`}>{t("customers.sort")}</label>
        <select id={`${id}-sort`} name="sort" defaultValue={state.sort}>
          {SORT_KEYS.map((key) => (
            <option key={key} value={key}>
              {t(`customers.sort.${key}`)}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor={`${id}-order`}>{t("customers.order")}</label>
        <select id={`${id}-order`} name="order" defaultValue={state.order}>
          <option value="">{t("customers.order.default")}</option>
          {ORDERS.map((order) => (
            <option key={order} value={order}>
              {t(`customers.order.${order}`)}
            </option>
          ))}
        </select>
      </div>
      {LEAD_FILTERS.some((name) => state[name]) && (
        <p className="field field--wide">
          {t("customers.leadFilter", {
            filters: LEAD_FILTERS.filter((name) => state[name])
              .map((name) => `${name}=${state[name]}`)
              .join(", "),
          })}
          {LEAD_FILTERS.filter((name) => state[name]).map((name) => (
            <input key={name} type="hidden" name={name} value={state[name]} />
          ))}
        </p>
      )}
      <div className="search-form__actions">
        <button type="submit">{t("customers.search")}</button>
        <Link to="/customers">{t("customers.clear")}</Link>
      </div>
    </form>
  );
}

function CustomerTable({ customers }: { customers: CustomerRow[] }) {
  const { t, dateTime } = useI18n();
  return (
    <div className="table-scroll">
      <table className="data-table">
        <thead>
          <tr>
            <th scope="col">{t("customers.col.name")}</th>
            <th scope="col">{t("customers.col.company")}</th>
            <th scope="col">{t("customers.col.stage")}</th>
            <th scope="col">{t("customers.col.owner")}</th>
            <th scope="col">{t("customers.col.region")}</th>
            <th scope="col">{t("customers.col.tags")}</th>
            <th scope="col">{t("customers.col.created")}</th>
          </tr>
        </thead>
        <tbody>
          {customers.map((customer) => (
            <tr key={customer.customer_id}>
              <th scope="row">
                <Link to={`/customers/${encodeURIComponent(customer.customer_id)}`}>
                  {customer.erased
                    ? t("customer.erasedTitle")
                    : (customer.display_name ?? customer.company ?? t("customers.noName"))}
                </Link>
                {customer.erased && <span className="badge">{t("customers.erased")}</span>}
                {customer.email && <span className="item__meta"> {customer.email}</span>}
              </th>
              <td>{customer.company ?? ""}</td>
              <td>{lifecycleLabel(customer.lifecycle_stage, t)}</td>
              <td>{customer.owner ?? ""}</td>
              <td>{customer.region ?? ""}</td>
              <td>{(customer.tags ?? []).join(", ")}</td>
              <td>{customer.created_at ? dateTime(customer.created_at) : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function SavedViews({ state }: { state: ListState }) {
  const { t } = useI18n();
  const me = useOutletContext<Me>();
  const id = useId();
  const key = viewsKey(me.tenant_id, me.subject);
  const [views, setViews] = useState<SavedView[]>(() => loadViews(browserStorage(), key));
  const [name, setName] = useState("");
  const [saved, setSaved] = useState<string | null>(null);

  function save(event: FormEvent) {
    event.preventDefault();
    if (!name.trim()) return;
    setViews(saveView(browserStorage(), key, { name, query: viewQuery(state) }));
    setSaved(name.trim());
    setName("");
  }

  return (
    <section aria-labelledby={`${id}-title`} className="panel">
      <h2 id={`${id}-title`}>{t("customers.views")}</h2>
      <p className="muted">{t("customers.viewsHint")}</p>
      {views.length === 0 ? (
        <p>{t("customers.noViews")}</p>
      ) : (
        <ul className="saved-views">
          {views.map((view) => (
            <li key={view.name}>
              <Link to={view.query ? `/customers?${view.query}` : "/customers"}>{view.name}</Link>
              <button
                type="button"
                className="button--secondary button--small"
                aria-label={t("customers.deleteView", { name: view.name })}
                onClick={() => setViews(deleteView(browserStorage(), key, view.name))}
              >
                {t("customers.delete")}
              </button>
            </li>
          ))}
        </ul>
      )}
      <form className="inline-form" onSubmit={save}>
        <label htmlFor={`${id}-name`}>{t("customers.viewName")}</label>
        <input id={`${id}-name`} value={name} onChange={(event) => setName(event.target.value)} maxLength={80} />
        <button type="submit" disabled={!name.trim()}>
          {t("customers.saveView")}
        </button>
      </form>
      <p role="status" className="muted">
        {saved ? t("customers.viewSaved", { name: saved }) : ""}
      </p>
    </section>
  );
}

type ExportStatus =
  | { kind: "idle" }
  | { kind: "running"; rows: number; expected: number }
  | { kind: "done"; rows: number; truncated: boolean }
  | { kind: "failed"; message: string };

function ExportCsv({ state }: { state: ListState }) {
  const { t, number } = useI18n();
  const client = useApi();
  const id = useId();
  const [status, setStatus] = useState<ExportStatus>({ kind: "idle" });
  const running = useRef<AbortController | null>(null);

  useEffect(() => () => running.current?.abort(), []);

  async function start() {
    const controller = new AbortController();
    running.current = controller;
    setStatus({ kind: "running", rows: 0, expected: MAX_EXPORT });
    try {
      const result = await exportCustomers(client, state, (rows, expected) => setStatus({ kind: "running", rows, expected }), controller.signal);
      if (controller.signal.aborted) return;
      const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
      downloadCsv(`customers-${stamp}.csv`, result.csv);
      setStatus({ kind: "done", rows: result.rows, truncated: result.truncated });
    } catch (error) {
      if (controller.signal.aborted) {
        setStatus({ kind: "idle" });
        return;
      }
      setStatus({ kind: "failed", message: errorText(error, t) });
    } finally {
      if (running.current === controller) running.current = null;
    }
  }

  return (
    <section aria-labelledby={`${id}-title`} className="panel export">
      <h2 id={`${id}-title`}>{t("customers.export")}</h2>
      {status.kind === "running" ? (
        <button type="button" className="button--secondary" onClick={() => running.current?.abort()}>
          {t("customers.cancelExport")}
        </button>
      ) : (
        <button type="button" onClick={start}>
          {t("customers.export")}
        </button>
      )}
      {status.kind === "running" && (
        <div className="export__progress">
          <label htmlFor={`${id}-progress`}>{t("customers.exportProgress")}</label>
          <progress id={`${id}-progress`} max={Math.max(status.expected, 1)} value={status.rows} />
        </div>
      )}
      <p role="status" className={status.kind === "failed" ? "notice notice--error" : "muted"}>
        {status.kind === "running"
          ? t("customers.exportRead", { count: number(status.rows) })
          : status.kind === "done"
            ? t(status.truncated ? "customers.exportTruncated" : "customers.exportDone", { count: number(status.rows) })
            : status.kind === "failed"
              ? status.message
              : ""}
      </p>
    </section>
  );
}
