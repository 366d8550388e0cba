import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route } from "react-router";
import { afterEach, describe, expect, it } from "vitest";

import type { Me } from "../../api/session";
import { ME, json, renderAt, type Call } from "../tickets/testkit";
import { columnsOf, daysSince, gateOf, openStagesOf } from "./board";
import { PipelinePage, ownerFrom } from "./PipelinePage";

afterEach(cleanup);

const REP: Me = { ...ME, subject: "rep-1", roles: ["sales_rep"], permissions: { "leads.read": "own", "leads.work": "own", "rules.read": "tenant" } };
const LEAD = {
  lead_id: "l1",
  title: "Difference engine upgrade",
  pipeline: "default",
  stage: "contacted",
  status: "open",
  open: true,
  owner: "rep-1",
  created_by: "admin",
  amount: "12000.00",
  currency: "EUR",
  created_at: "2026-03-01T09:00:00Z",
  stage_entered_at: new Date(Date.now() - 3 * 86_400_000 - 60_000).toISOString(),
  last_contact_at: "2026-03-01T09:00:00Z",
  next_follow_up_at: "2026-03-02T09:00:00Z",
  follow_up_overdue: true,
  stale: true,
  version: 3,
  customer_id: "c1",
  customer_name: "Ada Lovelace",
  customer_erased: false,
};
const page = <Route path="/pipeline" element={<PipelinePage />} />;
const column = (name: string) => screen.getByRole("region", { name: new RegExp(`^${name} \\(`) });

describe("the board's parts", () => {
  it("read the stages from the rules, else the built-in ones", () => {
    expect(openStagesOf({ pipeline: { stages: ["lead", "demo"] } })).toEqual(["lead", "demo"]);
    expect(openStagesOf({})).toEqual(["new", "contacted", "qualified", "proposal", "negotiation"]);
    expect(openStagesOf(undefined)).toHaveLength(5);
  });

  it("place moved leads in their new column and name the refused gates", () => {
    const columns = columnsOf(["new", "contacted"], [{ lead_id: "a", stage: "new" }, { lead_id: "b", stage: "new" }], { b: "contacted" });
    expect(columns["new"]!.map((l) => l.lead_id)).toEqual(["a"]);
    expect(columns["contacted"]!.map((l) => l.lead_id)).toEqual(["b"]);
    expect(gateOf("qualified_requires_confirmed_budget")).toBe("budget");
    expect(gateOf("proposal_requires_amount")).toBe("amount");
    expect(gateOf("won_requires_discount_approval")).toBe("discount");
    expect(gateOf("transition_not_allowed")).toBeNull();
    expect(daysSince("2026-03-01T00:00:00Z", Date.parse("2026-03-03T01:00:00Z"))).toBe(2);
    expect(ownerFrom(new URLSearchParams("owner=all")).choice).toBe("all");
    expect(ownerFrom(new URLSearchParams("owner=rep-2"))).toEqual({ choice: "person", person: "rep-2" });
  });
});

describe("the pipeline board", () => {
  it("shows a column per stage with the caller's leads: customer, amount, days in stage, stale marker", async () => {
    const calls = renderAt(
      "/pipeline",
      page,
      (call) => {
        if (call.path === "/v1/rules") return json(200, { rules: { pipeline: { stages: ["new", "contacted", "demo"] } } });
        return json(200, { items: call.query.get("stage") === "contacted" ? [LEAD] : [], next_cursor: null });
      },
      { me: REP },
    );
    const contacted = await waitFor(() => column("Contacted"));
    expect(await within(contacted).findByText(LEAD.title)).toBeTruthy();
    expect(within(contacted).getByRole("link", { name: "Ada Lovelace" }).getAttribute("href")).toBe("/customers/c1");
    expect(within(contacted).getByText(/€12,000\.00/)).toBeTruthy();
    expect(within(contacted).getByText(/3 days in stage/)).toBeTruthy();
    expect(within(contacted).getByText("Follow-up overdue")).toBeTruthy();
    expect(within(contacted).getByText("Stale: no contact within the follow-up window")).toBeTruthy();
    for (const name of ["New", "demo", "Won", "Lost"]) expect(column(name)).toBeTruthy();
    const reads = calls.filter((c: Call) => c.path === "/v1/leads");
    const contactedRead = reads.find((c) => c.query.get("stage") === "contacted")!;
    expect(contactedRead.query.get("open")).toBe("true");
    expect(contactedRead.query.get("owner")).toBe("me");
    expect(reads.find((c) => c.query.get("stage") === "won")!.query.get("open")).toBe("false");

    await userEvent.setup().selectOptions(screen.getByLabelText("Owner"), "all");
    await waitFor(() => expect(screen.getByTestId("location").textContent).toBe("/pipeline?owner=all"));
    await waitFor(() => expect(calls.filter((c) => c.path === "/v1/leads").at(-1)!.query.has("owner")).toBe(false));
  });

  it("moves a card with the keyboard; a refused budget gate is confirmed on the card", async () => {
    let stage = "contacted";
    const calls = renderAt(
      "/pipeline",
      page,
      (call) => {
        if (call.path === "/v1/rules") return json(403, { code: "forbidden", message: "no", details: {} });
        if (call.method === "POST") {
          const body = call.body as { stage: string; budget_confirmed?: boolean };
          if (!body.budget_confirmed) {
            return json(422, {
              code: "rule_violation",
              message: "a lead can only enter 'qualified' once its budget is confirmed (send budget_confirmed: true)",
              details: { rule: "qualified_requires_confirmed_budget" },
            });
          }
          stage = body.stage;
          return json(200, { version: 3, position: 42 });
        }
        return json(200, { items: call.query.get("stage") === stage ? [{ ...LEAD, stage }] : [], next_cursor: null });
      },
      { me: REP },
    );
    const handle = await screen.findByRole("button", { name: `Move ${LEAD.title}` });
    expect(screen.getByText(/showing the built-in stages/)).toBeTruthy();
    handle.focus();
    fireEvent.keyDown(handle, { code: "Space", key: " " });
    await act(() => new Promise((resolve) => setTimeout(resolve, 10)));
    fireEvent.keyDown(document, { code: "ArrowRight", key: "ArrowRight" });
    await act(() => new Promise((resolve) => setTimeout(resolve, 10)));
    fireEvent.keyDown(document, { code: "Space", key: " " });

    const refusal = await screen.findByRole("alert");
    expect(refusal.textContent).toContain("Not moved to Qualified: a lead can only enter 'qualified' once its budget is confirmed");
    expect(within(column("Contacted")).getByText(LEAD.title)).toBeTruthy(); // rolled back
    await userEvent.setup().click(within(refusal).getByRole("button", { name: "Confirm budget and move" }));
    await waitFor(() => expect(within(column("Qualified")).getByText(LEAD.title)).toBeTruthy());
    const posts = calls.filter((c) => c.method === "POST");
    expect(posts.map((c) => c.body)).toEqual([
      { stage: "qualified", expected_version: 3 },
      { stage: "qualified", expected_version: 3, budget_confirmed: true },
    ]);
    expect(posts[0]!.path).toBe("/v1/leads/l1/stage");
    expect(calls.filter((c) => c.path === "/v1/leads").at(-1)!.query.get("min_position")).toBe("42");
    expect(screen.queryByRole("alert")).toBeNull();
  });

  async function drag(title: string, presses: number) {
    const handle = await screen.findByRole("button", { name: `Move ${title}` });
    handle.focus();
    fireEvent.keyDown(handle, { code: "Space", key: " " });
    for (let i = 0; i < presses; i++) {
      await act(() => new Promise((resolve) => setTimeout(resolve, 10)));
      fireEvent.keyDown(document, { code: "ArrowRight", key: "ArrowRight" });
    }
    await act(() => new Promise((resolve) => setTimeout(resolve, 10)));
    fireEvent.keyDown(document, { code: "Space", key: " " });
  }

  it("asks for an amount when the amount gate refuses, and a reason before losing a lead", async () => {
    const user = userEvent.setup();
    const lead = { ...LEAD, stage: "qualified", amount: null, currency: null };
    let amount = false;
    const calls = renderAt(
      "/pipeline",
      page,
      (call) => {
        if (call.path === "/v1/rules") return json(200, { rules: {} });
        if (call.path.endsWith("/amount")) {
          amount = true;
          return json(200, { version: 4, position: 50 });
        }
        if (call.method === "POST") {
          const body = call.body as { stage: string };
          if (body.stage === "proposal" && !amount) {
            return json(422, { code: "rule_violation", message: "a lead needs an amount above zero before it enters 'proposal'",
              details: { rule: "proposal_requires_amount" } });
          }
          return json(200, { version: 5, position: 51 });
        }
        return json(200, { items: call.query.get("stage") === "qualified" ? [lead] : [], next_cursor: null });
      },
      { me: REP },
    );
    await drag(lead.title, 1);
    const refusal = await screen.findByRole("alert");
    expect(refusal.textContent).toContain("a lead needs an amount above zero");
    await user.type(within(refusal).getByLabelText("Amount"), "5000");
    await user.type(within(refusal).getByLabelText("Currency"), "eur");
    await user.click(within(refusal).getByRole("button", { name: "Set amount and move" }));
    await waitFor(() => expect(calls.filter((c) => c.method === "POST")).toHaveLength(3));
    const posts = calls.filter((c) => c.method === "POST");
    expect(posts[1]!.path).toBe("/v1/leads/l1/amount");
    expect(posts[1]!.body).toEqual({ amount: "5000", currency: "EUR", expected_version: 3 });
    expect(posts[2]!.body).toEqual({ stage: "proposal", expected_version: 4 }); // after the amount's change

    // Losing asks for a reason first (qualified → … → lost is five columns to the right).
    await drag(lead.title, 5);
    const ask = await screen.findByRole("form", { name: `Mark ${lead.title} as lost` });
    await user.click(within(ask).getByRole("button", { name: "Mark lost" }));
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(3); // the reason is required
    await user.type(within(ask).getByLabelText("Reason (required)"), "Chose a competitor");
    await user.click(within(ask).getByRole("button", { name: "Mark lost" }));
    await waitFor(() => expect(calls.filter((c) => c.method === "POST")).toHaveLength(4));
    expect(calls.filter((c) => c.method === "POST")[3]!.body).toEqual({
      stage: "lost",
      expected_version: 3,
      reason: "Chose a competitor",
    });
  });

  it("says so when someone else moved the lead first, and shows the card as it is now", async () => {
    let moved = false;
    const calls = renderAt(
      "/pipeline",
      page,
      (call) => {
        if (call.path === "/v1/rules") return json(200, { rules: {} });
        if (call.method === "POST") {
          moved = true; // someone else's move got there first
          return json(409, { code: "version_conflict", message: "lead l1 is at version 4, not 3", details: {} });
        }
        const now = moved ? { ...LEAD, stage: "proposal", version: 4 } : LEAD;
        return json(200, { items: call.query.get("stage") === now.stage ? [now] : [], next_cursor: null });
      },
      { me: REP },
    );
    await drag(LEAD.title, 1);
    const refusal = await screen.findByRole("alert");
    expect(refusal.textContent).toContain("Someone else moved or changed this lead meanwhile");
    await waitFor(() => expect(within(column("Proposal")).getByText(LEAD.title)).toBeTruthy());
    expect(calls.find((c) => c.method === "POST")!.body).toEqual({ stage: "qualified", expected_version: 3 });
  });

  it("requests a discount on a card; a manager approves one someone else asked for", async () => {
    const user = userEvent.setup();
    const pending = {
      discount_id: "d1", percent: "15", status: "pending", requires_approval: true, threshold_percent: "10",
      requested_by: "rep-1", requested_at: "2026-03-01T09:00:00Z", approver: "manager-1",
    };
    let discounts: Array<typeof pending & { decided_by?: string }> = [];
    const rep = { ...REP, permissions: { ...REP.permissions, "discounts.request": "own" } } as Me;
    const calls = renderAt(
      "/pipeline",
      page,
      (call) => {
        if (call.path === "/v1/rules") return json(200, { rules: {} });
        if (call.path === "/v1/leads/l1/discounts") {
          discounts = [pending];
          return json(201, { discount_id: "d1", version: 4, position: 60 });
        }
        if (call.path === "/v1/leads/l1") return json(200, { ...LEAD, discounts });
        return json(200, { items: call.query.get("stage") === "contacted" ? [LEAD] : [], next_cursor: null });
      },
      { me: rep },
    );
    await user.click(await screen.findByRole("button", { name: `Discounts of ${LEAD.title}` }));
    const panel = await screen.findByRole("region", { name: `Discounts of ${LEAD.title}` });
    expect(await within(panel).findByText("No discounts yet.")).toBeTruthy();
    await user.type(within(panel).getByLabelText("Discount in percent"), "15");
    await user.type(within(panel).getByLabelText("Reason"), "three-year deal");
    await user.click(within(panel).getByRole("button", { name: "Request discount" }));
    expect(await within(panel).findByText("Awaiting approval by manager-1")).toBeTruthy();
    expect(within(panel).queryByRole("button", { name: /^Approve/ })).toBeNull(); // not their own
    expect(calls.find((c) => c.method === "POST")!.body).toEqual({ percent: "15", reason: "three-year deal" });
    const reread = calls.filter((c) => c.path === "/v1/leads/l1").at(-1)!;
    expect(reread.query.get("min_position")).toBe("60");
    cleanup();

    const manager = { ...REP, subject: "manager-1", roles: ["sales_manager"],
      permissions: { ...REP.permissions, "discounts.decide": "team" } } as Me;
    const decided = renderAt(
      "/pipeline?owner=all",
      page,
      (call) => {
        if (call.path === "/v1/rules") return json(200, { rules: {} });
        if (call.path === "/v1/leads/l1/discounts/d1/approve") {
          discounts = [{ ...pending, status: "approved", decided_by: "manager-1" }];
          return json(200, { version: 5, position: 61 });
        }
        if (call.path === "/v1/leads/l1") return json(200, { ...LEAD, discounts });
        return json(200, { items: call.query.get("stage") === "contacted" ? [LEAD] : [], next_cursor: null });
      },
      { me: manager },
    );
    await user.click(await screen.findByRole("button", { name: `Discounts of ${LEAD.title}` }));
    const open = await screen.findByRole("region", { name: `Discounts of ${LEAD.title}` });
    expect(within(open).queryByLabelText("Discount in percent")).toBeNull(); // may not ask
    await user.click(await within(open).findByRole("button", { name: "Approve 15%" }));
    expect(await within(open).findByText("Approved by manager-1")).toBeTruthy();
    expect(decided.filter((c) => c.method === "POST").map((c) => c.path)).toEqual(["/v1/leads/l1/discounts/d1/approve"]);
    expect(screen.getByText("Approved the discount of 15% on Difference engine upgrade.")).toBeTruthy();
  });
});

describe("the won and lost question", () => {
  it("takes the focus after a keyboard drop, and Escape closes it without a move, the focus back on the card's handle", async () => {
    const lead = { ...LEAD, stage: "negotiation" };
    const calls = renderAt(
      "/pipeline",
      page,
      (call) => {
        if (call.path === "/v1/rules") return json(200, { rules: {} });
        return json(200, { items: call.query.get("stage") === "negotiation" ? [lead] : [], next_cursor: null });
      },
      { me: REP },
    );
    const handle = await screen.findByRole("button", { name: `Move ${lead.title}` });
    handle.focus();
    fireEvent.keyDown(handle, { code: "Space", key: " " });
    await act(() => new Promise((resolve) => setTimeout(resolve, 10)));
    fireEvent.keyDown(document, { code: "ArrowRight", key: "ArrowRight" }); // negotiation → won
    await act(() => new Promise((resolve) => setTimeout(resolve, 10)));
    fireEvent.keyDown(document, { code: "Space", key: " " });

    const ask = await screen.findByRole("form", { name: `Mark ${lead.title} as won?` });
    const markWon = within(ask).getByRole("button", { name: "Mark won" });
    await waitFor(() => expect(document.activeElement).toBe(markWon));
    fireEvent.keyDown(markWon, { key: "Escape", code: "Escape" });
    expect(screen.queryByRole("form", { name: `Mark ${lead.title} as won?` })).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(screen.getByRole("button", { name: `Move ${lead.title}` })));
    expect(calls.filter((c) => c.method === "POST")).toEqual([]);
  });
});
