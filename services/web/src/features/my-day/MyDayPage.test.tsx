import { cleanup, screen, within } from "@testing-library/react";
import { Route } from "react-router";
import { afterEach, describe, expect, it } from "vitest";

import type { Me } from "../../api/session";
import { ME, json, renderAt } from "../tickets/testkit";
import { MyDayPage, endOfToday } from "./MyDayPage";

afterEach(cleanup);

const REP: Me = { ...ME, subject: "rep-1", roles: ["sales_rep"], permissions: { "leads.read": "own" } };
const lead = (title: string, stale: boolean) => ({
  lead_id: title,
  title,
  pipeline: "default",
  stage: "contacted",
  status: "open",
  open: true,
  owner: "rep-1",
  created_by: "rep-1",
  created_at: "2026-03-01T09:00:00Z",
  stage_entered_at: "2026-03-01T09:00:00Z",
  last_contact_at: "2026-03-01T09:00:00Z",
  next_follow_up_at: "2026-03-08T09:00:00Z",
  follow_up_overdue: false,
  stale,
  version: 2,
  customer_id: "c1",
  customer_name: "Ada Lovelace",
  customer_erased: false,
});

describe("my day", () => {
  it("marks the leads without contact for longer than their stage's follow-up window", async () => {
    renderAt(
      "/my-day",
      <Route path="/my-day" element={<MyDayPage />} />,
      (call) => {
        if (call.path === "/v1/leads") return json(200, { items: [lead("Quiet", true), lead("Fresh", false)], next_cursor: null });
        return json(200, { items: [], next_cursor: null });
      },
      { me: REP },
    );
    const leads = await screen.findByRole("region", { name: "My open leads" });
    const [quiet, fresh] = await within(leads).findAllByRole("listitem");
    expect(within(quiet!).getByText("Stale: no contact within the follow-up window")).toBeTruthy();
    expect(within(fresh!).queryByText(/^Stale/)).toBeNull();
  });
});

const AGENT: Me = {
  ...ME,
  subject: "agent-1",
  roles: ["support_agent"],
  permissions: { "customers.read": "tenant", "tickets.work": "tenant", "tasks.read": "own", "alerts.read": "own" },
};

describe("my day for each role", () => {
  it("asks only for what the role may read: an agent's tickets by SLA deadline, no leads", async () => {
    const calls = renderAt(
      "/my-day",
      <Route path="/my-day" element={<MyDayPage />} />,
      (call) => {
        if (call.path === "/v1/tickets")
          return json(200, {
            items: [
              {
                ticket_id: "t1",
                subject: "Cannot log in",
                status: "open",
                priority: "high",
                customer_id: "c1",
                customer_name: "Ada Lovelace",
                due_at: "2099-01-01T00:00:00Z",
                due_sla: "first_response",
                breached: false,
              },
            ],
            next_cursor: null,
          });
        return json(200, { items: [], next_cursor: null });
      },
      { me: AGENT },
    );
    const tickets = await screen.findByRole("region", { name: "My tickets by SLA deadline" });
    expect(await within(tickets).findByRole("link", { name: "Cannot log in" })).toBeTruthy();
    expect(screen.queryByRole("region", { name: "My open leads" })).toBeNull();
    expect(calls.map((call) => call.path)).not.toContain("/v1/leads");
    const asked = calls.find((call) => call.path === "/v1/tickets")!;
    expect(asked.query.get("assignee")).toBe("me");
    expect(asked.query.get("sort")).toBe("due_at");
    expect(asked.query.getAll("status")).toEqual(["open", "pending", "reopened"]);
    const tasks = calls.find((call) => call.path === "/v1/tasks")!;
    const dueBefore = new Date(tasks.query.get("due_before")!);
    expect([dueBefore.getHours(), dueBefore.getMinutes(), dueBefore.getSeconds()]).toEqual([0, 0, 0]);
    const ahead = dueBefore.getTime() - Date.now();
    expect(ahead > 0 && ahead <= 24 * 3600 * 1000).toBe(true);
  });

  it("ends today at the browser's midnight", () => {
    const end = new Date(endOfToday(new Date(2026, 2, 5, 23, 59)));
    expect([end.getFullYear(), end.getMonth(), end.getDate(), end.getHours(), end.getMinutes()]).toEqual([2026, 2, 6, 0, 0]);
  });
});
