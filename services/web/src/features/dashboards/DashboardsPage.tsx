import { useQuery } from "@tanstack/react-query";
import { useId, useMemo, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";

import { useApi } from "../../app/ApiProvider";
import { useI18n } from "../../i18n/I18nProvider";
import type { MessageKey } from "../../i18n/messages";
import { LIFECYCLE_STAGES, lifecycleLabel } from "../customers/listState";
import { codeLabel } from "../tickets/labels";
import { Chart, type ChartOption } from "./Chart";
import {
  ACTIVITIES,
  FUNNEL_MODES,
  filtersFromSearch,
  funnelStageLink,
  lifecycleLink,
  priorityLink,
  searchFromFilters,
  segmentQuery,
  type Activity,
  type DashboardFilters,
  type FunnelMode,
} from "./dashboardState";
import { formatDuration, formatShare } from "./format";
import { ChannelResultsPanel, RepPerformancePanel } from "./SalesPanels";
import { Status } from "./Status";

interface FunnelStage {
  stage: string;
  reached: number;
  reached_in_order: number;
  conversion_to_next: number | null;
  median_time_in_stage_s: number | null;
  p90_time_in_stage_s: number | null;
}
interface Funnel {
  stages: FunnelStage[];
  win_rate: number | null;
  median_sales_cycle_s: number | null;
}
interface Lifecycle {
  as_of: string;
  counts: Record<string, number>;
  transitions?: { start: string; end: string; transitions: { from: string | null; to: string; count: number }[] };
}
interface Retention {
  activity: string;
  cohorts: { cohort: string; size: number; retained: number[]; retained_pct: number[] }[];
}
interface Percentiles {
  p50: number | null;
  p90: number | null;
  p99: number | null;
}
interface ServiceFigures {
  tickets: number;
  responded: number;
  resolved: number;
  first_response_s: Percentiles;
  resolution_s: Percentiles;
  sla_breach_rate: number | null;
}
interface Service {
  by_priority: (ServiceFigures & { priority: string })[];
  overall: ServiceFigures;
}

const ACCENT = "#1d4ed8";

/** The analytics dashboards: funnel, lifecycle, retention and service, filtered by the URL. */
export default function DashboardsPage() {
  const { t } = useI18n();
  const [params, setParams] = useSearchParams();
  const filters = filtersFromSearch(params);

  function apply(next: DashboardFilters) {
    setParams(searchFromFilters(next), { replace: false });
  }

  return (
    <section aria-labelledby="page-title" className="dashboards">
      <h1 id="page-title">{t("dash.title")}</h1>
      <p>{t("dash.intro")}</p>
      <FilterForm key={params.toString()} filters={filters} apply={apply} />
      <FunnelPanel filters={filters} apply={apply} />
      <RepPerformancePanel filters={filters} />
      <ChannelResultsPanel filters={filters} />
      <LifecyclePanel filters={filters} />
      <RetentionPanel filters={filters} apply={apply} />
      <ServicePanel filters={filters} />
    </section>
  );
}

function FilterForm({ filters, apply }: { filters: DashboardFilters; apply: (next: DashboardFilters) => void }) {
  const { t } = useI18n();
  const [draft, setDraft] = useState(filters);
  const id = useId();
  const fields: { name: "from" | "to" | "as_of" | "source" | "owner" | "region" | "channel" | "assignee"; label: MessageKey; type: string }[] = [
    { name: "from", label: "dash.from", type: "date" },
    { name: "to", label: "dash.to", type: "date" },
    { name: "source", label: "dash.source", type: "text" },
    { name: "owner", label: "dash.owner", type: "text" },
    { name: "region", label: "dash.region", type: "text" },
    { name: "as_of", label: "dash.asOf", type: "date" },
    { name: "channel", label: "dash.channel", type: "text" },
    { name: "assignee", label: "dash.assignee", type: "text" },
  ];

  function submit(event: FormEvent) {
    event.preventDefault();
    apply(draft);
  }

  return (
    <form className="dash-filters" aria-label={t("dash.filters")} onSubmit={submit}>
      {fields.map((field) => (
        <div key={field.name} className="dash-filters__field">
          <label htmlFor={`${id}-${field.name}`}>{t(field.label)}</label>
          <input
            id={`${id}-${field.name}`}
            type={field.type}
            value={draft[field.name]}
            onChange={(event) => setDraft({ ...draft, [field.name]: event.target.value })}
          />
        </div>
      ))}
      <div className="dash-filters__actions">
        <button type="submit">{t("dash.apply")}</button>
        <button type="button" className="button--secondary" onClick={() => apply({ ...filters, from: "", to: "", source: "", owner: "", region: "", as_of: "", channel: "", assignee: "" })}>
          {t("dash.clear")}
        </button>
      </div>
    </form>
  );
}

function stageLabel(stage: string, t: (key: MessageKey) => string): string {
  const key = `dash.stage.${stage}` as MessageKey;
  return key in STAGE_KEYS ? t(key) : stage;
}
const STAGE_KEYS = {
  "dash.stage.new": 1,
  "dash.stage.contacted": 1,
  "dash.stage.qualified": 1,
  "dash.stage.proposal": 1,
  "dash.stage.negotiation": 1,
  "dash.stage.won": 1,
};

function FunnelPanel({ filters, apply }: { filters: DashboardFilters; apply: (next: DashboardFilters) => void }) {
  const { t, number, locale } = useI18n();
  const client = useApi();
  const modeId = useId();
  const query = segmentQuery(filters);
  const funnel = useQuery({
    queryKey: ["dashboards", "funnel", query],
    queryFn: ({ signal }) => client.get("/v1/analytics/funnel", { query, signal }) as Promise<unknown> as Promise<Funnel>,
  });
  const inOrder = filters.mode === "in_order";
  const stages = funnel.data?.stages ?? [];
  const countOf = (stage: FunnelStage) => (inOrder ? stage.reached_in_order : stage.reached);
  const option = useMemo<ChartOption>(
    () => ({
      grid: { left: 100, right: 24, top: 8, bottom: 24 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", inverse: true, data: stages.map((s) => stageLabel(s.stage, t)) },
      series: [{ type: "bar", data: stages.map(countOf), itemStyle: { color: ACCENT } }],
    }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [funnel.data, inOrder, locale],
  );

  return (
    <section aria-labelledby={`${modeId}-title`} className="dash-panel">
      <h2 id={`${modeId}-title`}>{t("dash.funnel")}</h2>
      <div className="dash-panel__controls">
        <label htmlFor={modeId}>{t("dash.funnelMode")}</label>
        <select
          id={modeId}
          value={filters.mode}
          onChange={(event) => apply({ ...filters, mode: event.target.value as FunnelMode })}
        >
          {FUNNEL_MODES.map((mode) => (
            <option key={mode} value={mode}>
              {t(`dash.mode.${mode}` as MessageKey)}
            </option>
          ))}
        </select>
      </div>
      <Status pending={funnel.isPending} error={funnel.error} />
      {funnel.data && (
        <>
          <Chart option={option} label={t("dash.funnelChart")} />
          <table className="data-table">
            <caption>{t("dash.funnelTable")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("dash.stage")}</th>
                <th scope="col">{t(inOrder ? "dash.mode.in_order" : "dash.mode.reached")}</th>
                <th scope="col">{t("dash.conversion")}</th>
                <th scope="col">{t("dash.medianTime")}</th>
                <th scope="col">{t("dash.p90Time")}</th>
              </tr>
            </thead>
            <tbody>
              {stages.map((stage) => (
                <tr key={stage.stage}>
                  <th scope="row">{stageLabel(stage.stage, t)}</th>
                  <td>
                    {inOrder ? (
                      number(countOf(stage))
                    ) : (
                      <Link
                        to={funnelStageLink(filters, stage.stage)}
                        aria-label={`${t("dash.customersReached", { stage: stageLabel(stage.stage, t) })}: ${number(countOf(stage))}`}
                      >
                        {number(countOf(stage))}
                      </Link>
                    )}
                  </td>
                  <td>{formatShare(stage.conversion_to_next, locale)}</td>
                  <td>{formatDuration(stage.median_time_in_stage_s, locale)}</td>
                  <td>{formatDuration(stage.p90_time_in_stage_s, locale)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <dl className="dash-figures">
            <dt>{t("dash.winRate")}</dt>
            <dd>{formatShare(funnel.data.win_rate, locale)}</dd>
            <dt>{t("dash.salesCycle")}</dt>
            <dd>{formatDuration(funnel.data.median_sales_cycle_s, locale)}</dd>
          </dl>
          <p className="dash-note">{t("dash.funnelNote")}</p>
        </>
      )}
    </section>
  );
}

function LifecyclePanel({ filters }: { filters: DashboardFilters }) {
  const { t, number, dateTime, locale } = useI18n();
  const client = useApi();
  const id = useId();
  const query = { as_of: filters.as_of || undefined, from: filters.from || undefined, to: filters.to || undefined };
  const lifecycle = useQuery({
    queryKey: ["dashboards", "lifecycle", query],
    queryFn: ({ signal }) =>
      client.get("/v1/analytics/lifecycle", { query, signal }) as Promise<unknown> as Promise<Lifecycle>,
  });
  const counts = lifecycle.data?.counts ?? {};
  const stages = [...LIFECYCLE_STAGES, ...Object.keys(counts).filter((s) => !(LIFECYCLE_STAGES as readonly string[]).includes(s))];
  const option = useMemo<ChartOption>(
    () => ({
      grid: { left: 48, right: 16, top: 8, bottom: 24 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: stages.map((s) => lifecycleLabel(s, t)) },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "bar", data: stages.map((s) => counts[s] ?? 0), itemStyle: { color: ACCENT } }],
    }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [lifecycle.data, locale],
  );
  // The customers list knows each customer's stage now, not at a past date.
  const linkable = !filters.as_of;
  const transitions = lifecycle.data?.transitions;

  return (
    <section aria-labelledby={`${id}-title`} className="dash-panel">
      <h2 id={`${id}-title`}>{t("dash.lifecycle")}</h2>
      <Status pending={lifecycle.isPending} error={lifecycle.error} />
      {lifecycle.data && (
        <>
          <p>{t("dash.asOfWhen", { when: dateTime(lifecycle.data.as_of) })}</p>
          <Chart option={option} label={t("dash.lifecycleChart")} height={220} />
          <table className="data-table">
            <caption>{t("dash.lifecycleTable")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("dash.lifecycleStage")}</th>
                <th scope="col">{t("dash.customers")}</th>
              </tr>
            </thead>
            <tbody>
              {stages.map((stage) => (
                <tr key={stage}>
                  <th scope="row">{lifecycleLabel(stage, t)}</th>
                  <td>
                    {linkable ? (
                      <Link to={lifecycleLink(stage)} aria-label={`${t("dash.customersIn", { stage: lifecycleLabel(stage, t) })}: ${number(counts[stage] ?? 0)}`}>
                        {number(counts[stage] ?? 0)}
                      </Link>
                    ) : (
                      number(counts[stage] ?? 0)
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {transitions && (
            <table className="data-table">
              <caption>
                {t("dash.transitions", { from: dateTime(transitions.start), to: dateTime(transitions.end) })}
              </caption>
              <thead>
                <tr>
                  <th scope="col">{t("dash.fromStage")}</th>
                  <th scope="col">{t("dash.toStage")}</th>
                  <th scope="col">{t("dash.count")}</th>
                </tr>
              </thead>
              <tbody>
                {transitions.transitions.length === 0 && (
                  <tr>
                    <td colSpan={3}>{t("dash.none")}</td>
                  </tr>
                )}
                {transitions.transitions.map((row) => (
                  <tr key={`${row.from ?? ""}-${row.to}`}>
                    <td>{row.from ? lifecycleLabel(row.from, t) : t("dash.newCustomer")}</td>
                    <td>{lifecycleLabel(row.to, t)}</td>
                    <td>{number(row.count)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}

function RetentionPanel({ filters, apply }: { filters: DashboardFilters; apply: (next: DashboardFilters) => void }) {
  const { t, number, locale } = useI18n();
  const client = useApi();
  const id = useId();
  const query = { ...segmentQuery(filters), activity: filters.activity };
  const retention = useQuery({
    queryKey: ["dashboards", "retention", query],
    queryFn: ({ signal }) =>
      client.get("/v1/analytics/retention", { query, signal }) as Promise<unknown> as Promise<Retention>,
  });
  const cohorts = retention.data?.cohorts ?? [];
  const months = Math.max(0, ...cohorts.map((c) => c.retained.length));
  const option = useMemo<ChartOption>(
    () => ({
      grid: { left: 72, right: 16, top: 8, bottom: 32 },
      tooltip: { position: "top" },
      xAxis: { type: "category", data: Array.from({ length: months }, (_, i) => t("dash.monthN", { n: i })) },
      yAxis: { type: "category", inverse: true, data: cohorts.map((c) => c.cohort) },
      visualMap: { show: false, min: 0, max: 100, inRange: { color: ["#eff6ff", ACCENT] } },
      series: [
        {
          type: "heatmap",
          data: cohorts.flatMap((c, y) => c.retained_pct.map((pct, x) => [x, y, pct])),
          label: { show: true, formatter: (p: { value: number[] }) => `${Math.round(p.value[2] ?? 0)}%` },
        },
      ],
    }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [retention.data, locale],
  );

  return (
    <section aria-labelledby={`${id}-title`} className="dash-panel">
      <h2 id={`${id}-title`}>{t("dash.retention")}</h2>
      <div className="dash-panel__controls">
        <label htmlFor={id}>{t("dash.activity")}</label>
        <select
          id={id}
          value={filters.activity}
          onChange={(event) => apply({ ...filters, activity: event.target.value as Activity })}
        >
          {ACTIVITIES.map((activity) => (
            <option key={activity} value={activity}>
              {t(`dash.activity.${activity}` as MessageKey)}
            </option>
          ))}
        </select>
      </div>
      <Status pending={retention.isPending} error={retention.error} />
      {retention.data && cohorts.length === 0 && <p>{t("dash.noCohorts")}</p>}
      {retention.data && cohorts.length > 0 && (
        <>
          <Chart option={option} label={t("dash.retentionChart")} height={Math.max(160, 40 + cohorts.length * 28)} />
          <div className="table-scroll" tabIndex={0} role="region" aria-label={t("dash.retentionTable")}>
            <table className="data-table">
              <caption>{t("dash.retentionTable")}</caption>
              <thead>
                <tr>
                  <th scope="col">{t("dash.cohort")}</th>
                  <th scope="col">{t("dash.cohortSize")}</th>
                  {Array.from({ length: months }, (_, i) => (
                    <th scope="col" key={i}>
                      {t("dash.monthN", { n: i })}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {cohorts.map((cohort) => (
                  <tr key={cohort.cohort}>
                    <th scope="row">{cohort.cohort}</th>
                    <td>{number(cohort.size)}</td>
                    {Array.from({ length: months }, (_, i) => (
                      <td key={i}>
                        {i < cohort.retained.length
                          ? `${number(cohort.retained[i] ?? 0)} · ${formatShare((cohort.retained_pct[i] ?? 0) / 100, locale)}`
                          : ""}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

function ServicePanel({ filters }: { filters: DashboardFilters }) {
  const { t, number, locale } = useI18n();
  const client = useApi();
  const id = useId();
  const query = {
    from: filters.from || undefined,
    to: filters.to || undefined,
    channel: filters.channel || undefined,
    assignee: filters.assignee || undefined,
  };
  const service = useQuery({
    queryKey: ["dashboards", "service", query],
    queryFn: ({ signal }) => client.get("/v1/analytics/service", { query, signal }) as Promise<unknown> as Promise<Service>,
  });
  const rows = service.data?.by_priority ?? [];
  const option = useMemo<ChartOption>(
    () => ({
      grid: { left: 72, right: 16, top: 8, bottom: 24 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: rows.map((r) => codeLabel(t, "priority", r.priority)) },
      yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
      series: [{ type: "bar", data: rows.map((r) => (r.sla_breach_rate ?? 0) * 100), itemStyle: { color: "#b91c1c" } }],
    }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [service.data, locale],
  );
  const figures = (label: string, row: ServiceFigures, link?: string) => (
    <>
      <td>{link ? <Link to={link} aria-label={`${t("dash.ticketsOf", { priority: label })}: ${number(row.tickets)}`}>{number(row.tickets)}</Link> : number(row.tickets)}</td>
      <td>{number(row.responded)}</td>
      <td>{number(row.resolved)}</td>
      <td>{formatDuration(row.first_response_s.p50, locale)}</td>
      <td>{formatDuration(row.first_response_s.p90, locale)}</td>
      <td>{formatDuration(row.first_response_s.p99, locale)}</td>
      <td>{formatDuration(row.resolution_s.p50, locale)}</td>
      <td>{formatDuration(row.resolution_s.p90, locale)}</td>
      <td>{formatDuration(row.resolution_s.p99, locale)}</td>
      <td>{formatShare(row.sla_breach_rate, locale)}</td>
    </>
  );

  return (
    <section aria-labelledby={`${id}-title`} className="dash-panel">
      <h2 id={`${id}-title`}>{t("dash.service")}</h2>
      <Status pending={service.isPending} error={service.error} />
      {service.data && (
        <>
          {rows.length > 0 && <Chart option={option} label={t("dash.serviceChart")} height={220} />}
          <div className="table-scroll" tabIndex={0} role="region" aria-label={t("dash.serviceTable")}>
            <table className="data-table">
              <caption>{t("dash.serviceTable")}</caption>
              <thead>
                <tr>
                  <th scope="col">{t("dash.priority")}</th>
                  <th scope="col">{t("dash.tickets")}</th>
                  <th scope="col">{t("dash.responded")}</th>
                  <th scope="col">{t("dash.resolved")}</th>
                  <th scope="col">{t("dash.firstResponse", { p: "50" })}</th>
                  <th scope="col">{t("dash.firstResponse", { p: "90" })}</th>
                  <th scope="col">{t("dash.firstResponse", { p: "99" })}</th>
                  <th scope="col">{t("dash.resolution", { p: "50" })}</th>
                  <th scope="col">{t("dash.resolution", { p: "90" })}</th>
                  <th scope="col">{t("dash.resolution", { p: "99" })}</th>
                  <th scope="col">{t("dash.breachRate")}</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((row) => (
                  <tr key={row.priority}>
                    <th scope="row">{codeLabel(t, "priority", row.priority)}</th>
                    {figures(codeLabel(t, "priority", row.priority), row, priorityLink(row.priority))}
                  </tr>
                ))}
                <tr>
                  <th scope="row">{t("dash.overall")}</th>
                  {figures(t("dash.overall"), service.data.overall)}
                </tr>
              </tbody>
            </table>
          </div>
          <p className="dash-note">{t("dash.serviceNote")}</p>
        </>
      )}
    </section>
  );
}
