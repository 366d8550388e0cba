/**
 * Rep performance (per owner) and channel results (per lead source), from
 * GET /v1/analytics/sales with the dashboard's filters; every figure links to the list behind it.
 */
import { useQuery } from "@tanstack/react-query";
import { Fragment, useId, useMemo, useState } from "react";
import { Link } from "react-router";

import type { components } from "../../api/schema";
import { useApi } from "../../app/ApiProvider";
import { useI18n } from "../../i18n/I18nProvider";
import type { MessageKey } from "../../i18n/messages";
import { Chart, type ChartOption } from "./Chart";
import { boardLink, salesLink, segmentQuery, type DashboardFilters } from "./dashboardState";
import { formatDays, formatShare } from "./format";
import { Status } from "./Status";

type Group = components["schemas"]["SalesGroup"];
type Money = components["schemas"]["Money"];

const ACCENT = "#1d4ed8";
const SECOND = "#15803d";
export const REP_METRICS = ["win_rate", "cycle", "open_value", "won_amount"] as const;
export type RepMetric = (typeof REP_METRICS)[number];
const METRIC_LABEL: Record<RepMetric, MessageKey> = {
  win_rate: "dash.winRate",
  cycle: "dash.cycleDays",
  open_value: "dash.openValue",
  won_amount: "dash.wonAmount",
};

function useSales(filters: DashboardFilters, groupBy: "owner" | "source") {
  const client = useApi();
  const query = { ...segmentQuery(filters), group_by: groupBy };
  return useQuery({
    queryKey: ["dashboards", "sales", query],
    queryFn: ({ signal }) => client.get("/v1/analytics/sales", { query, signal }),
  });
}

/** Amounts per currency, one a line; "–" for none; withheld when the API leaves them out. */
function Amounts({ money, to, label }: { money: Money[] | null; to?: string; label?: string }) {
  const { t, money: format } = useI18n();
  if (money === null) return <>{t("dash.withheld")}</>;
  if (money.length === 0) return <>–</>;
  const text = money.map((m, i) => (
    <Fragment key={m.currency ?? ""}>
      {i > 0 && <br />}
      {format(m.amount, m.currency)}
    </Fragment>
  ));
  const shown = money.map((m) => format(m.amount, m.currency)).join(", ");
  return to ? (
    <Link to={to} aria-label={label ? `${label}: ${shown}` : undefined}>
      {text}
    </Link>
  ) : (
    <>{text}</>
  );
}

/** A figure linked to the list behind it, or the bare figure when no list can show it. */
function link(text: string, to: string | undefined, label: string) {
  return to ? (
    <Link to={to} aria-label={`${label}: ${text}`}>
      {text}
    </Link>
  ) : (
    text
  );
}

/** The currencies the groups' amounts are in, sorted. */
function currenciesOf(groups: Group[]): string[] {
  const found = new Set<string>();
  for (const group of groups)
    for (const m of [...(group.open_value ?? []), ...(group.won_amount ?? [])]) if (m.currency) found.add(m.currency);
  return [...found].sort();
}

function amountIn(money: Money[] | null, currency: string): number {
  return Number(money?.find((m) => m.currency === currency)?.amount ?? 0);
}

export function RepPerformancePanel({ filters }: { filters: DashboardFilters }) {
  const { t, number, locale } = useI18n();
  const id = useId();
  const sales = useSales(filters, "owner");
  const [metric, setMetric] = useState<RepMetric>("win_rate");
  const groups = sales.data?.groups ?? [];
  const currencies = currenciesOf(groups);
  const [chosen, setChosen] = useState("");
  const currency = currencies.includes(chosen) ? chosen : (currencies[0] ?? "");
  const ownerName = (g: Group) => g.key ?? t("dash.unassigned");
  const option = useMemo<ChartOption>(() => {
    const value = (g: Group): number =>
      metric === "win_rate"
        ? (g.win_rate ?? 0) * 100
        : metric === "cycle"
          ? (g.median_sales_cycle_s ?? 0) / 86400
          : amountIn(metric === "open_value" ? g.open_value : g.won_amount, currency);
    return {
      grid: { left: 100, right: 24, top: 8, bottom: 24 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "value", ...(metric === "win_rate" ? { max: 100, axisLabel: { formatter: "{value}%" } } : {}) },
      yAxis: { type: "category", inverse: true, data: groups.map(ownerName) },
      series: [{ type: "bar", data: groups.map(value), itemStyle: { color: ACCENT } }],
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [sales.data, metric, currency, locale]);
  const money = metric === "open_value" || metric === "won_amount";

  return (
    <section aria-labelledby={`${id}-title`} className="dash-panel">
      <h2 id={`${id}-title`}>{t("dash.reps")}</h2>
      <div className="dash-panel__controls">
        <label htmlFor={`${id}-metric`}>{t("dash.chartMetric")}</label>
        <select id={`${id}-metric`} value={metric} onChange={(event) => setMetric(event.target.value as RepMetric)}>
          {REP_METRICS.map((m) => (
            <option key={m} value={m}>
              {t(METRIC_LABEL[m])}
            </option>
          ))}
        </select>
        {money && currencies.length > 1 && (
          <>
            <label htmlFor={`${id}-currency`}>{t("dash.chartCurrency")}</label>
            <select id={`${id}-currency`} value={currency} onChange={(event) => setChosen(event.target.value)}>
              {currencies.map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
          </>
        )}
      </div>
      <Status pending={sales.isPending} error={sales.error} />
      {sales.data && groups.length === 0 && <p>{t("dash.noLeads")}</p>}
      {sales.data && groups.length > 0 && (
        <>
          <Chart
            option={option}
            label={t("dash.repsChart", { metric: t(METRIC_LABEL[metric]) + (money && currency ? ` (${currency})` : "") })}
            height={Math.max(160, 40 + groups.length * 32)}
          />
          <div className="table-scroll" tabIndex={0} role="region" aria-label={t("dash.repsTable")}>
            <table className="data-table">
              <caption>{t("dash.repsTable")}</caption>
              <thead>
                <tr>
                  <th scope="col">{t("dash.repOwner")}</th>
                  <th scope="col">{t("dash.leads")}</th>
                  <th scope="col">{t("dash.won")}</th>
                  <th scope="col">{t("dash.lost")}</th>
                  <th scope="col">{t("dash.open")}</th>
                  <th scope="col">{t("dash.winRate")}</th>
                  <th scope="col">{t("dash.cycleDays")}</th>
                  <th scope="col">{t("dash.openValue")}</th>
                  <th scope="col">{t("dash.wonAmount")}</th>
                </tr>
              </thead>
              <tbody>
                {groups.map((g) => {
                  const who = ownerName(g);
                  // Leads waiting for assignment have no owner a list can filter on.
                  const owner = g.key ?? undefined;
                  const leads = owner && salesLink(filters, { owner });
                  const won = owner && salesLink(filters, { owner, reached: "won" });
                  const lost = owner && salesLink(filters, { owner, reached: "lost" });
                  const open = owner && boardLink(owner);
                  const wonLabel = t("dash.wonOf", { who });
                  const openLabel = t("dash.openOf", { who });
                  return (
                    <tr key={g.key ?? ""}>
                      <th scope="row">{who}</th>
                      <td>{link(number(g.leads), leads, t("dash.leadsOf", { who }))}</td>
                      <td>{link(number(g.won), won, wonLabel)}</td>
                      <td>{link(number(g.lost), lost, t("dash.lostOf", { who }))}</td>
                      <td>{link(number(g.open), open, openLabel)}</td>
                      <td>{link(formatShare(g.win_rate, locale), won, `${t("dash.winRate")}: ${wonLabel}`)}</td>
                      <td>{link(formatDays(g.median_sales_cycle_s, locale), won, `${t("dash.cycleDays")}: ${wonLabel}`)}</td>
                      <td>
                        <Amounts money={g.open_value} to={open} label={`${t("dash.openValue")}: ${openLabel}`} />
                      </td>
                      <td>
                        <Amounts money={g.won_amount} to={won} label={`${t("dash.wonAmount")}: ${wonLabel}`} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <p className="dash-note">{t("dash.repsNote")}</p>
        </>
      )}
    </section>
  );
}

export function ChannelResultsPanel({ filters }: { filters: DashboardFilters }) {
  const { t, number, locale } = useI18n();
  const id = useId();
  const sales = useSales(filters, "source");
  const groups = sales.data?.groups ?? [];
  const sourceName = (g: Group) => g.key ?? t("dash.noSource");
  const option = useMemo<ChartOption>(
    () => ({
      grid: { left: 100, right: 24, top: 8, bottom: 24 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", inverse: true, data: groups.map(sourceName) },
      series: [
        { type: "bar", name: t("dash.leads"), data: groups.map((g) => g.leads), itemStyle: { color: ACCENT } },
        { type: "bar", name: t("dash.won"), data: groups.map((g) => g.won), itemStyle: { color: SECOND } },
      ],
    }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [sales.data, locale],
  );

  return (
    <section aria-labelledby={`${id}-title`} className="dash-panel">
      <h2 id={`${id}-title`}>{t("dash.channels")}</h2>
      <Status pending={sales.isPending} error={sales.error} />
      {sales.data && groups.length === 0 && <p>{t("dash.noLeads")}</p>}
      {sales.data && groups.length > 0 && (
        <>
          <Chart option={option} label={t("dash.channelsChart")} height={Math.max(160, 40 + groups.length * 40)} />
          <div className="table-scroll" tabIndex={0} role="region" aria-label={t("dash.channelsTable")}>
            <table className="data-table">
              <caption>{t("dash.channelsTable")}</caption>
              <thead>
                <tr>
                  <th scope="col">{t("dash.channelSource")}</th>
                  <th scope="col">{t("dash.leads")}</th>
                  <th scope="col">{t("dash.won")}</th>
                  <th scope="col">{t("dash.conversionToWon")}</th>
                  <th scope="col">{t("dash.wonAmount")}</th>
                </tr>
              </thead>
              <tbody>
                {groups.map((g) => {
                  const who = sourceName(g);
                  // Leads without a source have none a list can filter on.
                  const all = g.key !== null ? salesLink(filters, { source: g.key }) : undefined;
                  const won = g.key !== null ? salesLink(filters, { source: g.key, reached: "won" }) : undefined;
                  const wonLabel = t("dash.wonOf", { who });
                  return (
                    <tr key={g.key ?? ""}>
                      <th scope="row">{who}</th>
                      <td>{link(number(g.leads), all, t("dash.leadsOf", { who }))}</td>
                      <td>{link(number(g.won), won, wonLabel)}</td>
                      <td>{link(formatShare(g.conversion_to_won, locale), won, `${t("dash.conversionToWon")}: ${wonLabel}`)}</td>
                      <td>
                        <Amounts money={g.won_amount} to={won} label={`${t("dash.wonAmount")}: ${wonLabel}`} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <p className="dash-note">{t("dash.channelsNote")}</p>
        </>
      )}
    </section>
  );
}
