import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";

import { json, renderPage } from "../customers/testing";
import { boardLink, EMPTY_FILTERS, salesLink } from "./dashboardState";
import { formatDays } from "./format";
import { ChannelResultsPanel, RepPerformancePanel } from "./SalesPanels";
import DashboardsPage from "./DashboardsPage";

// The charts draw on a canvas, which the test DOM has not; their numbers are in the tables.
vi.mock("./Chart", () => ({
  Chart: ({ label }: { label: string }) => <div role="img" aria-label={label} />,
}));

afterEach(cleanup);

const DAY = 86400;
const figures = {
  leads: 0,
  won: 0,
  lost: 0,
  open: 0,
  win_rate: null,
  conversion_to_won: null,
  median_sales_cycle_s: null,
  open_value: [],
  won_amount: [],
};
const BY_OWNER = {
  ...figures,
  groups: [
    {
      ...figures,
      key: "rep-1",
      leads: 10,
      won: 3,
      lost: 1,
      open: 6,
      win_rate: 0.75,
      conversion_to_won: 0.3,
      median_sales_cycle_s: 12.5 * DAY,
      open_value: [
        { currency: "EUR", amount: "48000.00" },
        { currency: "USD", amount: "1200.50" },
      ],
      won_amount: [{ currency: "EUR", amount: "36000.00" }],
    },
    { ...figures, key: null, leads: 2, open: 2, open_value: [{ currency: "EUR", amount: "500.00" }] },
  ],
};
const BY_SOURCE = {
  ...figures,
  groups: [
    {
      ...figures,
      key: "web",
      leads: 1234,
      won: 100,
      lost: 50,
      open: 1084,
      conversion_to_won: 100 / 1234,
      won_amount: [{ currency: "EUR", amount: "1234567.89" }],
    },
  ],
};

function answer(url: URL): Response {
  if (url.pathname === "/v1/analytics/sales") {
    return json(200, url.searchParams.get("group_by") === "owner" ? BY_OWNER : BY_SOURCE);
  }
  return json(404, { error: { code: "not_found", message: "no" } });
}

function cells(table: HTMLElement, row: number): string[] {
  const found = within(table).getAllByRole("row")[row]!;
  return within(found)
    .getAllByRole("cell")
    .map((cell) => cell.textContent ?? "");
}

const route = (
  <Route
    path="/dashboards"
    element={
      <>
        <RepPerformancePanel filters={{ ...EMPTY_FILTERS, from: "2026-01-01", region: "EMEA" }} />
        <ChannelResultsPanel filters={{ ...EMPTY_FILTERS, from: "2026-01-01", region: "EMEA" }} />
      </>
    }
  />
);

describe("the rep performance panel", () => {
  it("shows each owner's figures, amounts by Intl currency, each linked to the list behind it", async () => {
    const urls = renderPage(route, "/dashboards", answer);
    const table = await screen.findByRole("table", { name: "Sales figures per owner" });
    expect(within(table).getAllByRole("rowheader").map((h) => h.textContent)).toEqual(["rep-1", "Unassigned"]);
    expect(cells(table, 1)).toEqual(["10", "3", "1", "6", "75%", "12.5 days", "€48,000.00$1,200.50", "€36,000.00"]);
    const won = within(table).getByRole("link", { name: "Customers with a won lead of rep-1: 3" });
    expect(won.getAttribute("href")).toBe(
      "/customers?lead_reached=won&lead_owner=rep-1&lead_region=EMEA&lead_created_from=2026-01-01",
    );
    expect(within(table).getByRole("link", { name: "Customers with a lead of rep-1: 10" }).getAttribute("href")).toBe(
      "/customers?lead_owner=rep-1&lead_region=EMEA&lead_created_from=2026-01-01",
    );
    expect(within(table).getByRole("link", { name: "Won amount: Customers with a won lead of rep-1: €36,000.00" })).toBeTruthy();
    expect(
      within(table).getByRole("link", { name: "Open pipeline value: Open leads of rep-1 on the pipeline board: €48,000.00, $1,200.50" }).getAttribute("href"),
    ).toBe("/pipeline?owner=rep-1");
    // Unassigned leads have no owner a list can filter on: numbers, no links.
    const unassigned = within(table).getAllByRole("row")[2]!;
    expect(within(unassigned).queryAllByRole("link")).toEqual([]);
    expect(cells(table, 2)).toEqual(["2", "0", "0", "2", "–", "–", "€500.00", "–"]);
    const asked = urls.map((u) => new URL(u, "http://app")).find((u) => u.searchParams.get("group_by") === "owner")!;
    expect(Object.fromEntries(asked.searchParams)).toEqual({ from: "2026-01-01", region: "EMEA", group_by: "owner" });
  });

  it("charts the metric and currency picked with labelled controls", async () => {
    renderPage(route, "/dashboards", answer);
    await screen.findByRole("table", { name: "Sales figures per owner" });
    expect(screen.getByRole("img", { name: /^Bar chart of Win rate per owner/ })).toBeTruthy();
    expect(screen.queryByLabelText("Currency")).toBeNull();
    await userEvent.selectOptions(screen.getByLabelText("Chart shows"), "open_value");
    expect(screen.getByRole("img", { name: /^Bar chart of Open pipeline value \(EUR\) per owner/ })).toBeTruthy();
    await userEvent.selectOptions(screen.getByLabelText("Currency"), "USD");
    expect(screen.getByRole("img", { name: /^Bar chart of Open pipeline value \(USD\) per owner/ })).toBeTruthy();
  });

  it("says withheld when the API leaves the amounts out", async () => {
    const withheld = { ...BY_OWNER, groups: [{ ...BY_OWNER.groups[0]!, open_value: null, won_amount: null }] };
    renderPage(route, "/dashboards", (url) =>
      url.searchParams.get("group_by") === "owner" ? json(200, withheld) : json(200, BY_SOURCE),
    );
    const table = await screen.findByRole("table", { name: "Sales figures per owner" });
    expect(cells(table, 1).slice(-2)).toEqual(["withheld", "withheld"]);
  });
});

describe("the channel results panel", () => {
  it("shows each source's leads, conversion to won and won amount, linked to the customers", async () => {
    renderPage(route, "/dashboards", answer);
    const table = await screen.findByRole("table", { name: "Sales figures per lead source" });
    expect(cells(table, 1)).toEqual(["1,234", "100", "8.1%", "€1,234,567.89"]);
    expect(within(table).getByRole("link", { name: "Customers with a lead of web: 1,234" }).getAttribute("href")).toBe(
      "/customers?lead_source=web&lead_region=EMEA&lead_created_from=2026-01-01",
    );
    expect(
      within(table).getByRole("link", { name: "Conversion to won: Customers with a won lead of web: 8.1%" }).getAttribute("href"),
    ).toBe("/customers?lead_reached=won&lead_source=web&lead_region=EMEA&lead_created_from=2026-01-01");
  });

  it("is in Simplified Chinese too, amounts by the Chinese locale", async () => {
    renderPage(route, "/dashboards", answer, "zh-CN");
    const table = await screen.findByRole("table", { name: "各线索来源的销售数据" });
    expect(cells(table, 1)[3]).toBe(new Intl.NumberFormat("zh-CN", { style: "currency", currency: "EUR" }).format(1234567.89));
    expect(await screen.findByRole("table", { name: "各负责人的销售数据" })).toBeTruthy();
  });
});

describe("the dashboards page's sales panels", () => {
  it("follow the page's filters from the address", async () => {
    const urls = renderPage(
      <Route path="/dashboards" element={<DashboardsPage />} />,
      "/dashboards?from=2026-01-01&to=2026-04-01&source=web&owner=rep-1&region=EMEA",
      answer,
    );
    await screen.findByRole("table", { name: "Sales figures per owner" });
    await screen.findByRole("table", { name: "Sales figures per lead source" });
    await waitFor(() => {
      const sales = urls.map((u) => new URL(u, "http://app")).filter((u) => u.pathname === "/v1/analytics/sales");
      expect(sales.map((u) => u.searchParams.get("group_by")).sort()).toEqual(["owner", "source"]);
      for (const u of sales) {
        expect([u.searchParams.get("from"), u.searchParams.get("to"), u.searchParams.get("source")]).toEqual([
          "2026-01-01",
          "2026-04-01",
          "web",
        ]);
        expect([u.searchParams.get("owner"), u.searchParams.get("region")]).toEqual(["rep-1", "EMEA"]);
      }
    });
  });
});

describe("the sales links and formats", () => {
  it("narrow the dashboard's slice to a group", () => {
    const filters = { ...EMPTY_FILTERS, source: "web", owner: "rep-2", to: "2026-02-01" };
    expect(salesLink(filters, { owner: "rep-1" })).toBe(
      "/customers?lead_source=web&lead_owner=rep-1&lead_created_to=2026-02-01",
    );
    expect(salesLink(filters, { source: "fair", reached: "lost" })).toBe(
      "/customers?lead_reached=lost&lead_source=fair&lead_owner=rep-2&lead_created_to=2026-02-01",
    );
    expect(boardLink("rep 1")).toBe("/pipeline?owner=rep+1");
    expect(formatDays(1.5 * DAY, "en")).toBe("1.5 days");
    expect(formatDays(null, "en")).toBe("–");
  });
});
