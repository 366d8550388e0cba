import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";
import { Route } from "react-router";

import { CustomerPage } from "./CustomerPage";
import { localInputValue } from "./history";
import { ME, json, renderPage } from "./testing";

afterEach(cleanup);

const NOW_360 = {
  customer_id: "c-ada",
  personal: { name: "Ada Lovelace", email: "ada@example.com" },
  display_name: "Ada Lovelace",
  company: "Analytical Engines",
  owner: "rep-1",
  tags: ["gold"],
  consents: {},
  erased: false,
  registered_at: "2025-01-10T08:00:00.000000+00:00",
  lifecycle_stage: "active",
  leads: [{ lead_id: "l1", title: "Difference engine upgrade", stage: "contacted", status: "open", amount: "12000.00", currency: "EUR" }],
  purchases: { count: 0, by_currency: {} },
  interactions: { count: 0, by_channel: {} },
  tickets: { open: 0, total: 0, items: [] },
  tasks: { open: 0, overdue: 0, items: [] },
  notes: { count: 0, items: [] },
  timeline: [],
  version: 5,
};
const THEN_360 = {
  ...NOW_360,
  company: "Engines Ltd",
  tags: [],
  lifecycle_stage: "prospect",
  leads: [{ ...NOW_360.leads[0], stage: "new" }],
  as_of: "2025-01-10T08:00:00.001000+00:00",
};

function entry(n: number, day: string) {
  return {
    event_id: `e${n}`,
    kind: "interaction",
    type: "crm.interaction.logged",
    occurred_at: `${day}T10:00:00+00:00`,
    recorded_at: `${day}T10:00:00+00:00`,
    position: n,
    actor: "rep-1",
    aggregate_id: "c-ada",
    summary: `Entry number ${n}`,
  };
}

const routes = <Route path="/customers/:customerId" element={<CustomerPage />} />;

function answer(url: URL) {
  if (url.pathname === "/v1/customers/c-ada") return json(200, url.searchParams.has("as_of") ? THEN_360 : NOW_360);
  if (url.pathname.endsWith("/history")) return json(200, { customer_id: "c-ada", events: [], next_after_position: null });
  return json(200, { items: [], next_cursor: null });
}

const leadStage = () => within(screen.getByRole("region", { name: "Leads" })).getAllByRole("cell")[0]?.textContent;

describe("the customer page's time slider", () => {
  it("moves back by keyboard to show the customer as it stood then, and back to now", async () => {
    const user = userEvent.setup();
    const urls = renderPage(routes, "/customers/c-ada", answer);
    const slider = await screen.findByRole("slider", { name: "Show the customer as at" });
    expect(slider.getAttribute("aria-valuetext")).toBe("Now");
    expect(leadStage()).toBe("Contacted");
    expect(screen.queryByRole("button", { name: "Back to now" })).toBeNull();

    slider.focus();
    await user.keyboard("{Home}");
    expect(slider.getAttribute("aria-valuetext")).toMatch(/Jan 10, 2025/);
    await waitFor(() => expect(screen.getByTestId("location").textContent).toContain("?as_of=2025-01-10T08%3A00%3A00.001Z"));
    expect(urls).toContain("/v1/customers/c-ada?as_of=2025-01-10T08%3A00%3A00.001Z");
    expect(await screen.findByText(/^As it stood on Jan 10, 2025/)).toBeTruthy();
    await waitFor(() => expect(leadStage()).toBe("New"));
    const profile = screen.getByRole("region", { name: "Profile" });
    expect(within(profile).getByText("Engines Ltd")).toBeTruthy();
    expect(within(profile).getByText("Prospect")).toBeTruthy();

    await user.keyboard("{PageUp}");
    expect(Number(slider.getAttribute("aria-valuenow") ?? (slider as HTMLInputElement).value)).toBe(20);

    await user.click(screen.getByRole("button", { name: "Back to now" }));
    await waitFor(() => expect(screen.getByTestId("location").textContent).toBe("/customers/c-ada"));
    expect(leadStage()).toBe("Contacted");
    expect(within(screen.getByRole("region", { name: "Profile" })).getByText("Analytical Engines")).toBeTruthy();
    expect(slider.getAttribute("aria-valuetext")).toBe("Now");
  });

  it("goes to an exact moment typed in the field, kept in the address", async () => {
    const user = userEvent.setup();
    renderPage(routes, "/customers/c-ada", answer);
    const exact = await screen.findByLabelText("Exact moment");
    const moment = "2025-03-01T12:30";
    fireEvent.change(exact, { target: { value: moment } });
    await user.click(screen.getByRole("button", { name: "Show this moment" }));
    const iso = new Date(moment).toISOString();
    await waitFor(() =>
      expect(screen.getByTestId("location").textContent).toBe(`/customers/c-ada?as_of=${encodeURIComponent(iso)}`),
    );
    expect(localInputValue(iso)).toBe(moment);
    await waitFor(() => expect(leadStage()).toBe("New"));
  });

  it("opened at a past moment, limits the timeline to entries up to it, reading older pages", async () => {
    const urls = renderPage(routes, "/customers/c-ada?as_of=2025-02-01T00:00:00Z", (url) => {
      if (!url.pathname.endsWith("/timeline")) return answer(url);
      return url.searchParams.get("cursor") === "older"
        ? json(200, { items: [entry(1, "2025-01-20")], next_cursor: null })
        : json(200, { items: [entry(3, "2025-03-01"), entry(2, "2025-02-15")], next_cursor: "older" });
    });
    expect(await screen.findByText(/^As it stood on/)).toBeTruthy();
    const timeline = screen.getByRole("region", { name: "Timeline" });
    expect(await within(timeline).findByText("Entry number 1")).toBeTruthy();
    expect(within(timeline).queryByText("Entry number 3")).toBeNull();
    expect(within(timeline).queryByText("Entry number 2")).toBeNull();
    expect(within(timeline).getByText(/^Entries up to/)).toBeTruthy();
    expect(urls).toContain("/v1/customers/c-ada/timeline?limit=25&cursor=older");
    expect(urls).toContain("/v1/customers/c-ada?as_of=2025-02-01T00%3A00%3A00Z");
  });

  it("says when the customer did not exist yet at that moment", async () => {
    renderPage(routes, "/customers/c-ada?as_of=2020-01-01T00:00:00Z", (url) =>
      url.pathname === "/v1/customers/c-ada" && url.searchParams.has("as_of")
        ? json(404, { code: "not_found", message: "customer did not exist", details: {} })
        : answer(url),
    );
    expect((await screen.findByRole("alert")).textContent).toMatch(/^The customer did not exist yet on/);
    expect(screen.getByRole("button", { name: "Back to now" })).toBeTruthy();
  });
});

const HISTORY_ME = { ...ME, permissions: { "history.read": "own" } } as typeof ME;

function event(position: number, type: string, occurred_at: string, changes: unknown[], actor_name: string | null = "Rita Rep") {
  return {
    position,
    type,
    version: 1,
    event_id: `ev-${position}`,
    aggregate_id: "c-ada",
    aggregate_version: position,
    actor: "rep-1",
    actor_name,
    occurred_at,
    recorded_at: occurred_at,
    correlation_id: `co-${position}`,
    causation_id: null,
    data: {},
    changes,
  };
}

describe("the customer page's audit history", () => {
  const first = [
    event(1, "crm.customer.registered", "2025-01-10T08:00:00+00:00", [
      { field: "company", before: null, after: "Engines Ltd" },
      { field: "lifecycle_stage", before: null, after: "prospect" },
    ]),
    event(2, "crm.lead.stage_changed", "2025-02-10T08:00:00+00:00", [{ field: "lead.stage", before: "new", after: "contacted" }], null),
  ];
  const second = [
    event(3, "crm.customer.profile_changed", "2025-03-10T08:00:00+00:00", [
      { field: "company", before: "Engines Ltd", after: "Analytical Engines" },
      { field: "consent.email", before: null, after: true },
      { field: "tags", before: [], after: ["gold", "vip"] },
    ]),
    event(4, "crm.customer.record_linked", "2025-03-10T08:00:00+00:00", []),
  ];
  const history = (url: URL) => {
    if (!url.pathname.endsWith("/history")) return answer(url);
    return url.searchParams.get("after_position") === "2"
      ? json(200, { customer_id: "c-ada", events: second, next_after_position: null })
      : json(200, { customer_id: "c-ada", events: first, next_after_position: 2 });
  };

  it("shows who changed which field when, before and after, loading more", async () => {
    const user = userEvent.setup();
    const urls = renderPage(routes, "/customers/c-ada", history, "en", HISTORY_ME);
    const region = await screen.findByRole("region", { name: "Audit history" });
    const table = await within(region).findByRole("table", { name: "Who changed what, when" });
    const rows = () => within(table).getAllByRole("row").map((row) => row.textContent ?? "");
    await waitFor(() => expect(rows().length).toBe(4));
    expect(rows()[1]).toMatch(/Jan 10, 2025.*Rita RepCustomer registeredCompanyNoneEngines Ltd$/);
    expect(rows()[2]).toBe("Lifecycle stageNoneProspect");
    expect(rows()[3]).toMatch(/rep-1Lead stage changedLead stagenewcontacted$/);
    expect(urls).toContain("/v1/customers/c-ada/history?limit=50");

    await user.click(within(region).getByRole("button", { name: "Load more" }));
    await waitFor(() => expect(rows().length).toBe(8));
    expect(urls).toContain("/v1/customers/c-ada/history?limit=50&after_position=2");
    expect(rows()[4]).toMatch(/Profile changedCompanyEngines LtdAnalytical Engines$/);
    expect(rows()[5]).toBe("Consent (email)NoneGranted");
    expect(rows()[6]).toBe("TagsNonegold, vip");
    expect(rows()[7]).toMatch(/Record linkedNo field changed$/);
    expect(within(region).queryByRole("button", { name: "Load more" })).toBeNull();
    expect(within(region).getByText("That is every change.")).toBeTruthy();
  });

  it("shows only the changes up to the moment the page shows", async () => {
    renderPage(routes, "/customers/c-ada?as_of=2025-02-01T00:00:00Z", history, "en", HISTORY_ME);
    const region = await screen.findByRole("region", { name: "Audit history" });
    const table = await within(region).findByRole("table");
    expect(within(table).getByText("Customer registered")).toBeTruthy();
    expect(within(table).queryByText("Lead stage changed")).toBeNull();
    expect(within(region).getByText(/^Changes up to/)).toBeTruthy();
  });

  it("is not shown to those who may not read it", async () => {
    const urls = renderPage(routes, "/customers/c-ada", history);
    expect(await screen.findByRole("region", { name: "Timeline" })).toBeTruthy();
    expect(screen.queryByRole("region", { name: "Audit history" })).toBeNull();
    expect(urls.some((url) => url.includes("/history"))).toBe(false);
  });

  it("speaks Simplified Chinese", async () => {
    renderPage(routes, "/customers/c-ada", history, "zh-CN", HISTORY_ME);
    const region = await screen.findByRole("region", { name: "审计历史" });
    expect(await within(region).findByText("客户已登记")).toBeTruthy();
    expect(within(region).getByRole("columnheader", { name: "修改前" })).toBeTruthy();
    expect(within(region).getByText("线索阶段")).toBeTruthy();
    expect(screen.getByRole("slider", { name: "查看客户在此时刻的状态" }).getAttribute("aria-valuetext")).toBe("现在");
  });
});
