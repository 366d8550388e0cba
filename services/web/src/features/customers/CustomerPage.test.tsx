import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";
import { Route } from "react-router";

import { CustomerPage } from "./CustomerPage";
import { json, renderPage } from "./testing";

afterEach(cleanup);

const ADA_360 = {
  customer_id: "c-ada",
  personal: { name: "Ada Lovelace", email: "ada@example.com", phone: "+44 20 7946 0000" },
  display_name: "Ada Lovelace",
  company: "Engines Ltd",
  region: "EMEA",
  source: "web",
  owner: "rep-1",
  tags: ["vip", "b2b"],
  consents: { email: true, sms: false },
  erased: false,
  registered_at: "2025-01-10T08:00:00+00:00",
  lifecycle_stage: "loyal",
  leads: [
    { lead_id: "l1", title: "Difference engine upgrade", stage: "proposal", status: "open", amount: "12000.00", currency: "EUR" },
  ],
  purchases: { count: 3, by_currency: { EUR: { count: 3, total: "4500.00" } }, first_at: "2025-02-01T10:00:00+00:00", last_at: "2026-02-01T10:00:00+00:00" },
  interactions: { count: 7, by_channel: { email: 5, phone: 2 }, last_at: "2026-02-03T10:00:00+00:00" },
  tickets: { open: 1, total: 2, items: [{ ticket_id: "t1", subject: "Gear jammed", priority: "high", status: "open", opened_at: "2026-02-04T10:00:00+00:00" }] },
  tasks: { open: 1, overdue: 1, items: [{ task_id: "k1", title: "Call Ada back", due_at: "2026-02-05T10:00:00+00:00", overdue: true }] },
  notes: { count: 1, pinned: 1, items: [{ note_id: "n1", body: "Prefers mornings", author: "rep-1", created_at: "2026-02-02T10:00:00+00:00", pinned: true }] },
  timeline: [],
  version: 12,
};

function entry(n: number) {
  return {
    event_id: `e${n}`,
    kind: "interaction",
    type: "crm.interaction.logged",
    occurred_at: `2026-02-0${n}T10:00:00+00:00`,
    recorded_at: `2026-02-0${n}T10:00:00+00:00`,
    position: n,
    actor: "rep-1",
    aggregate_id: "c-ada",
    summary: `Entry number ${n}`,
  };
}

const routes = <Route path="/customers/:customerId" element={<CustomerPage />} />;

describe("the customer page", () => {
  it("shows the customer-360 and the timeline, loading older entries with the cursor", async () => {
    const user = userEvent.setup();
    const urls = renderPage(routes, "/customers/c-ada", (url) => {
      if (url.pathname === "/v1/customers/c-ada") return json(200, ADA_360);
      return url.searchParams.get("cursor") === "older"
        ? json(200, { items: [entry(1)], next_cursor: null })
        : json(200, { items: [entry(3), entry(2)], next_cursor: "older" });
    });
    expect(await screen.findByRole("heading", { name: "Ada Lovelace", level: 1 })).toBeTruthy();
    const profile = screen.getByRole("region", { name: "Profile" });
    for (const text of ["Engines Ltd", "rep-1", "Loyal", "ada@example.com", "vip, b2b"]) {
      expect(within(profile).getByText(text)).toBeTruthy();
    }
    const consents = screen.getByRole("region", { name: "Consents" });
    expect(within(consents).getByText("Granted")).toBeTruthy();
    expect(within(consents).getByText("Withdrawn")).toBeTruthy();
    const leads = screen.getByRole("region", { name: "Leads" });
    expect(within(leads).getByText("Difference engine upgrade")).toBeTruthy();
    expect(within(leads).getByText("€12,000.00")).toBeTruthy();
    expect(within(screen.getByRole("region", { name: "Purchases" })).getByText(/€4,500.00/)).toBeTruthy();
    const interactions = screen.getByRole("region", { name: "Interactions" });
    expect(within(interactions).getByText("7 interactions")).toBeTruthy();
    expect(within(interactions).getByText("phone")).toBeTruthy();
    expect(within(screen.getByRole("region", { name: "Tickets" })).getByText("Gear jammed")).toBeTruthy();
    expect(within(screen.getByRole("region", { name: "Open tasks" })).getByText("Call Ada back")).toBeTruthy();
    expect(within(screen.getByRole("region", { name: "Notes" })).getByText("Prefers mornings")).toBeTruthy();

    const timeline = screen.getByRole("region", { name: "Timeline" });
    expect(await within(timeline).findByText("Entry number 3")).toBeTruthy();
    expect(urls).toContain("/v1/customers/c-ada/timeline?limit=25");
    await user.click(within(timeline).getByRole("button", { name: "Load older" }));
    expect(await within(timeline).findByText("Entry number 1")).toBeTruthy();
    expect(urls).toContain("/v1/customers/c-ada/timeline?limit=25&cursor=older");
    const shown = within(timeline).getAllByRole("listitem").map((item) => item.textContent ?? "");
    expect(shown.map((text) => text.slice(0, 14))).toEqual(["Entry number 3", "Entry number 2", "Entry number 1"]);
    await waitFor(() => expect(within(timeline).queryByRole("button", { name: "Load older" })).toBeNull());
    expect(within(timeline).getByText("That is the beginning.")).toBeTruthy();
  });

  it("says when the customer was erased", async () => {
    renderPage(routes, "/customers/c-gone", (url) =>
      url.pathname.endsWith("/timeline")
        ? json(200, { items: [], next_cursor: null })
        : json(200, { ...ADA_360, customer_id: "c-gone", personal: {}, display_name: null, erased: true }),
    );
    expect(await screen.findByRole("heading", { name: "Erased customer", level: 1 })).toBeTruthy();
    expect(screen.getByRole("note").textContent).toContain("This customer was erased");
  });

  it("says when there is no such customer (or not in the user's book)", async () => {
    renderPage(routes, "/customers/c-none", () => json(404, { code: "not_found", message: "customer not found", details: {} }));
    expect((await screen.findByRole("alert")).textContent).toBe("No such customer, or it is not in your book.");
    expect(screen.getByRole("link", { name: "Back to customers" }).getAttribute("href")).toBe("/customers");
  });

  it("speaks Simplified Chinese", async () => {
    renderPage(
      routes,
      "/customers/c-ada",
      (url) => (url.pathname.endsWith("/timeline") ? json(200, { items: [], next_cursor: null }) : json(200, ADA_360)),
      "zh-CN",
    );
    expect(await screen.findByRole("region", { name: "资料" })).toBeTruthy();
    expect(screen.getByText("忠实客户")).toBeTruthy();
    expect(screen.getByRole("region", { name: "时间线" })).toBeTruthy();
  });
});
