import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";

import { json, renderPage } from "../customers/testing";
import DashboardsPage from "./DashboardsPage";
import { filtersFromSearch, funnelStageLink, searchFromFilters, EMPTY_FILTERS } from "./dashboardState";
import { formatDuration, formatShare } from "./format";

// The charts draw on a canvas, which the test DOM has not; their numbers are in the tables.
vi.mock("./Chart", () => ({
  Chart: ({ label }: { label: string }) => <div role="img" aria-label={label} />,
}));

afterEach(cleanup);

const STAGES = ["new", "contacted", "qualified", "proposal", "negotiation", "won"];
const FUNNEL = {
  stages: STAGES.map((stage, i) => ({
    stage,
    reached: 20 - i * 3,
    reached_in_order: 20 - i * 4,
    conversion_to_next: i < 5 ? (17 - i * 3) / (20 - i * 3) : null,
    median_time_in_stage_s: i < 5 ? 86400 * (i + 1) : null,
    p90_time_in_stage_s: i < 5 ? 86400 * (i + 3) : null,
  })),
  win_rate: 0.5,
  median_sales_cycle_s: 2592000,
  groups: [],
};
const LIFECYCLE = {
  as_of: "2026-06-30T00:00:00+00:00",
  counts: { prospect: 10, engaged: 4, customer: 7, loyal: 2, dormant: 3 },
  transitions: {
    start: "2026-06-01T00:00:00+00:00",
    end: "2026-06-30T00:00:00+00:00",
    transitions: [{ from: "customer", to: "dormant", count: 2 }],
  },
};
const RETENTION = {
  cohort: "month",
  activity: "purchase",
  cohorts: [
    { cohort: "2026-01", size: 40, retained: [40, 12, 9], retained_pct: [100, 30, 22.5] },
    { cohort: "2026-02", size: 10, retained: [10, 5], retained_pct: [100, 50] },
  ],
};
const FIGURES = {
  tickets: 12,
  responded: 11,
  resolved: 9,
  first_response_s: { p50: 1800, p90: 7200, p99: 14400 },
  resolution_s: { p50: 36000, p90: 172800, p99: 259200 },
  sla_breach_rate: 0.25,
};
const SERVICE = { by_priority: [{ priority: "urgent", ...FIGURES }], overall: FIGURES };

function answer(url: URL): Response {
  switch (url.pathname) {
    case "/v1/analytics/funnel":
      return json(200, FUNNEL);
    case "/v1/analytics/lifecycle":
      return json(200, LIFECYCLE);
    case "/v1/analytics/retention":
      return json(200, RETENTION);
    case "/v1/analytics/service":
      return json(200, SERVICE);
    case "/v1/analytics/sales":
      return json(200, { leads: 0, won: 0, lost: 0, open: 0, win_rate: null, conversion_to_won: null, median_sales_cycle_s: null, open_value: [], won_amount: [], groups: [] });
    default:
      return json(404, { error: { code: "not_found", message: "no" } });
  }
}

const route = <Route path="/dashboards" element={<DashboardsPage />} />;

describe("the dashboards page", () => {
  it("shows the funnel's stage counts in a table, each linked to the customers behind it", async () => {
    const urls = renderPage(route, "/dashboards?from=2026-01-01&source=web", answer);
    const table = await screen.findByRole("table", { name: "Leads per funnel stage" });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((row) => within(row).getAllByRole("cell")[0]?.textContent)).toEqual(
      ["20", "17", "14", "11", "8", "5"],
    );
    const link = within(table).getByRole("link", { name: /^Customers with a lead that reached Qualified: / });
    expect(link.getAttribute("href")).toBe(
      "/customers?lead_reached=qualified&lead_source=web&lead_created_from=2026-01-01",
    );
    expect(within(rows[0]!).getByText("85%")).toBeTruthy();
    expect(within(rows[0]!).getByText("1 day")).toBeTruthy();
    const funnel = urls.find((u) => u.includes("/v1/analytics/funnel"))!;
    expect(new URL(funnel, "http://app").searchParams.get("from")).toBe("2026-01-01");
    expect(new URL(funnel, "http://app").searchParams.get("source")).toBe("web");
    expect(screen.getByRole("img", { name: /leads per funnel stage/ })).toBeTruthy();
  });

  it("switches the funnel to leads that reached each stage in order, in the address", async () => {
    renderPage(route, "/dashboards", answer);
    const table = await screen.findByRole("table", { name: "Leads per funnel stage" });
    await userEvent.selectOptions(screen.getByLabelText("Count leads that"), "in_order");
    await waitFor(() => expect(screen.getByTestId("location").textContent).toBe("/dashboards?mode=in_order"));
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((row) => within(row).getAllByRole("cell")[0]?.textContent)).toEqual(
      ["20", "16", "12", "8", "4", "0"],
    );
  });

  it("shows lifecycle counts, the retention matrix and service figures as tables", async () => {
    renderPage(route, "/dashboards", answer);
    const lifecycle = await screen.findByRole("table", { name: "Customers per lifecycle stage" });
    expect(within(lifecycle).getByRole("link", { name: /^Customers now in Loyal: / }).getAttribute("href")).toBe(
      "/customers?lifecycle_stage=loyal",
    );
    const retention = await screen.findByRole("table", { name: /still active, by cohort/ });
    const first = within(retention).getAllByRole("row")[1]!;
    expect(within(first).getByRole("rowheader").textContent).toBe("2026-01");
    expect(within(first).getAllByRole("cell").map((c) => c.textContent)).toEqual(["40", "40 · 100%", "12 · 30%", "9 · 22.5%"]);
    const service = await screen.findByRole("table", { name: "Response and resolution times by priority" });
    expect(within(service).getByRole("link", { name: /^Tickets of priority Urgent: / }).getAttribute("href")).toBe(
      "/tickets?priority=urgent",
    );
    expect(within(service).getAllByText("25%")).toHaveLength(2);
  });

  it("puts the filters in the address and asks the API with them", async () => {
    const urls = renderPage(route, "/dashboards", answer);
    await screen.findByRole("table", { name: "Leads per funnel stage" });
    const form = screen.getByRole("form", { name: "Dashboard filters" });
    await userEvent.type(within(form).getByLabelText("Region"), "EMEA");
    await userEvent.click(within(form).getByRole("button", { name: "Apply" }));
    await waitFor(() => expect(screen.getByTestId("location").textContent).toBe("/dashboards?region=EMEA"));
    await waitFor(() =>
      expect(urls.some((u) => u.includes("/v1/analytics/retention") && u.includes("region=EMEA"))).toBe(true),
    );
    await userEvent.selectOptions(screen.getByLabelText("Activity that counts"), "any");
    await waitFor(() =>
      expect(urls.some((u) => u.includes("/v1/analytics/retention") && u.includes("activity=any"))).toBe(true),
    );
  });

  it("says so when the API refuses", async () => {
    renderPage(route, "/dashboards", () => json(403, { error: { code: "forbidden", message: "Not allowed" } }));
    expect((await screen.findAllByRole("alert")).length).toBeGreaterThan(0);
  });

  it("is in Simplified Chinese too", async () => {
    renderPage(route, "/dashboards", answer, "zh-CN");
    expect(await screen.findByRole("table", { name: "各漏斗阶段的线索数" })).toBeTruthy();
  });
});

describe("the dashboards' state", () => {
  it("reads and writes the address, ignoring what it does not know", () => {
    const filters = filtersFromSearch(new URLSearchParams("from=2026-01-01&to=bad&activity=any&mode=odd&owner=rep-1"));
    expect(filters).toEqual({ ...EMPTY_FILTERS, from: "2026-01-01", activity: "any", owner: "rep-1" });
    expect(searchFromFilters(filters).toString()).toBe("from=2026-01-01&owner=rep-1&activity=any");
    expect(funnelStageLink({ ...EMPTY_FILTERS, owner: "rep-1", to: "2026-02-01" }, "won")).toBe(
      "/customers?lead_reached=won&lead_owner=rep-1&lead_created_to=2026-02-01",
    );
  });

  it("formats durations and shares by Intl", () => {
    expect(formatDuration(1800, "en")).toBe("30 min");
    expect(formatDuration(7200, "en")).toBe("2 hr");
    expect(formatDuration(null, "en")).toBe("–");
    expect(formatShare(0.25, "en")).toBe("25%");
  });
});
