import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route } from "react-router";
import { afterEach, describe, expect, it } from "vitest";

import { codeLabel, duration, secondsUntil } from "./labels";
import { TicketPage } from "./TicketPage";
import { TicketsPage, filtersFrom, ticketQuery } from "./TicketsPage";
import { json, renderAt, type Call } from "./testkit";
import { translate } from "../../i18n/i18n";

afterEach(cleanup);

const inMinutes = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();

const TICKET = {
  ticket_id: "t1",
  customer_id: "c1",
  customer_name: "Ada Lovelace",
  customer_company: "Engines Ltd",
  customer_external_ref: null,
  customer_erased: false,
  subject: "Cannot log in to the portal",
  status: "open",
  priority: "urgent",
  channel: "email",
  assignee: "agent-1",
  opened_by: "agent-1",
  opened_at: "2026-03-02T09:00:00Z",
  updated_at: "2026-03-02T09:00:00Z",
  reopened: 0,
  due_at: inMinutes(150.2),
  due_sla: "first_response",
  breached: false,
  breaches: 0,
};

const queue = (
  <>
    <Route path="/tickets" element={<TicketsPage />} />
    <Route path="/tickets/:ticketId" element={<TicketPage />} />
  </>
);
const reads = (calls: Call[]) => calls.filter((call) => call.method === "GET");

describe("labels and durations", () => {
  it("format a length of time by locale, in its two largest units", () => {
    expect(duration("en", 2 * 3600 + 30 * 60 + 12)).toBe("2 hr 30 min");
    expect(duration("en", -(86_400 * 2 + 7200 + 59))).toBe("2 days 2 hr");
    expect(duration("en", 86_400 + 59)).toBe("1 day");
    expect(duration("en", 45)).toBe("45 sec");
    expect(duration("zh-CN", 2 * 3600 + 30 * 60)).toBe("2小时30分钟");
    expect(secondsUntil("2026-03-02T10:00:00Z", Date.parse("2026-03-02T09:00:00Z"))).toBe(3600);
    expect(secondsUntil(null, 0)).toBeNull();
  });

  it("name the API's codes in the user's language, and unknown ones as they are", () => {
    const en = (key: Parameters<typeof translate>[1]) => translate("en", key);
    const zh = (key: Parameters<typeof translate>[1]) => translate("zh-CN", key);
    expect(codeLabel(en, "ticket-status", "pending")).toBe("Pending");
    expect(codeLabel(zh, "priority", "urgent")).toBe("紧急");
    expect(codeLabel(en, "clock-state", "waiting_on_customer")).toBe("Waiting on the customer");
    expect(codeLabel(en, "alert-kind", "something_new")).toBe("something_new");
  });

  it("turn the address's filters into the API's query", () => {
    expect(ticketQuery(filtersFrom(new URLSearchParams()))).toEqual({
      status: ["open", "pending", "reopened"],
      priority: undefined,
      assignee: undefined,
      breached: undefined,
      sort: "due_at",
      limit: 25,
    });
    expect(
      ticketQuery(filtersFrom(new URLSearchParams("status=all&priority=high&mine=1&breached=false&sort=priority"))),
    ).toMatchObject({ status: undefined, priority: ["high"], assignee: "me", breached: false, sort: "priority" });
    expect(filtersFrom(new URLSearchParams("status=bogus&sort=bogus"))).toMatchObject({ status: "notDone", sort: "due_at" });
  });
});

describe("the ticket queue", () => {
  it("shows each ticket's subject, customer, priority, status and SLA clock", async () => {
    const overdue = { ...TICKET, ticket_id: "t2", subject: "Invoice wrong", priority: "normal", status: "reopened",
      due_at: inMinutes(-61), due_sla: "resolution", breached: true, customer_name: null };
    const calls = renderAt("/tickets", queue, () => json(200, { items: [TICKET, overdue], next_cursor: null, total: 2 }));
    const table = await screen.findByRole("table", { name: "The ticket queue" });
    const [, first, second] = within(table).getAllByRole("row");
    expect(within(first!).getByRole("link", { name: TICKET.subject }).getAttribute("href")).toBe("/tickets/t1");
    expect(within(first!).getByRole("link", { name: "Ada Lovelace" }).getAttribute("href")).toBe("/customers/c1");
    expect(within(first!).getByText("Urgent")).toBeTruthy();
    expect(within(first!).getByText("Open")).toBeTruthy();
    expect(within(first!).getByText("First response due in 2 hr 30 min")).toBeTruthy();
    expect(within(second!).getByRole("link", { name: "Engines Ltd" })).toBeTruthy();
    expect(within(second!).getByText("Reopened")).toBeTruthy();
    expect(within(second!).getByText("Resolution overdue by 1 hr 1 min")).toBeTruthy();
    expect(within(second!).getByText("SLA breached")).toBeTruthy();
    expect(screen.getByText("2 tickets match.")).toBeTruthy();
    const first_read = reads(calls)[0]!;
    expect(first_read.query.getAll("status")).toEqual(["open", "pending", "reopened"]);
    expect(first_read.query.get("sort")).toBe("due_at");
    expect(first_read.query.get("include_total")).toBe("true");
  });

  it("filters by status, priority, breach and assignee, sorts, and pages on", async () => {
    const user = userEvent.setup();
    const calls = renderAt("/tickets", queue, (call) =>
      call.query.get("cursor") === "n1"
        ? json(200, { items: [{ ...TICKET, ticket_id: "t9", subject: "Second page" }], next_cursor: null })
        : json(200, { items: [TICKET], next_cursor: "n1" }),
    );
    await screen.findByRole("table");
    await user.selectOptions(screen.getByLabelText("Status"), "pending");
    await user.selectOptions(screen.getByLabelText("Priority"), "urgent");
    await user.selectOptions(screen.getByLabelText("SLA breach"), "true");
    await user.selectOptions(screen.getByLabelText("Sort by"), "priority");
    await user.click(screen.getByLabelText("Only tickets assigned to me"));
    await waitFor(() => {
      const last = reads(calls).at(-1)!;
      expect(last.query.getAll("status")).toEqual(["pending"]);
      expect(last.query.getAll("priority")).toEqual(["urgent"]);
      expect(last.query.get("breached")).toBe("true");
      expect(last.query.get("sort")).toBe("priority");
      expect(last.query.get("assignee")).toBe("me");
    });
    await user.click(await screen.findByRole("button", { name: "Show more tickets" }));
    expect(await screen.findByRole("link", { name: "Second page" })).toBeTruthy();
    expect(reads(calls).at(-1)!.query.get("include_total")).toBe("false");
  });
});

const DETAIL = {
  ...TICKET,
  first_response_at: null,
  resolved_at: null,
  closed_at: null,
  breached: true,
  breaches: 1,
  clocks: {
    as_of: "2026-03-02T11:00:00Z",
    first_response: { target_seconds: 3600, started_at: "2026-03-02T09:00:00Z", deadline: "2026-03-02T10:00:00Z",
      stopped_at: null, elapsed_seconds: 7200, remaining_seconds: -3600, state: "overdue", breach_recorded: true },
    resolution: { target_seconds: 28800, started_at: "2026-03-02T09:00:00Z", deadline: "2026-03-02T17:00:00Z",
      stopped_at: null, elapsed_seconds: 7200, remaining_seconds: 21600, state: "running", breach_recorded: false },
  },
  status_history: [{ to_status: "open", at: "2026-03-02T09:00:00Z", by: "agent-1" }],
  assignments: [],
  priority_changes: [],
  escalations: [{ sla: "first_response", priority: "urgent", target_seconds: 3600, deadline: "2026-03-02T10:00:00Z",
    at: "2026-03-02T10:00:01Z", by: "rule:sla-first-response" }],
  alerts: [{ alert_id: "a1", kind: "sla_breached", status: "open", summary: "Ticket t1 missed its first response SLA",
    raised_at: "2026-03-02T10:00:01Z" }],
  comments: [{ comment_id: "k1", author: "agent-1", author_type: "agent", public: false, at: "2026-03-02T09:30:00Z",
    body: "Asked the identity team" }],
  comments_total: 1,
  changes_total: 2,
  version: 3,
  last_position: 50,
};

describe("the ticket page", () => {
  it("shows the clocks against their targets, the history, escalations, alerts and comments", async () => {
    const calls = renderAt("/tickets/t1", queue, () => json(200, DETAIL));
    expect(await screen.findByRole("heading", { level: 1, name: TICKET.subject })).toBeTruthy();
    const clocks = screen.getByRole("region", { name: "SLA clocks" });
    const [, first, resolution] = within(clocks).getAllByRole("row");
    expect(within(first!).getByText("1 hr")).toBeTruthy();
    expect(within(first!).getByText("Overdue")).toBeTruthy();
    expect(within(first!).getByText("Overdue by 1 hr")).toBeTruthy();
    expect(within(resolution!).getByText("8 hr")).toBeTruthy();
    expect(within(resolution!).getByText("6 hr")).toBeTruthy();
    const history = screen.getByRole("region", { name: "Status history" });
    expect(within(history).getByText(/^Open — by agent-1, Mar 2, 2026/)).toBeTruthy();
    const escalations = screen.getByRole("region", { name: "Escalations" });
    expect(within(escalations).getByText(/^First response missed \(target 1 hr, deadline Mar 2, 2026/)).toBeTruthy();
    const alerts = screen.getByRole("region", { name: "Alerts about this ticket" });
    expect(within(alerts).getByText("Ticket t1 missed its first response SLA")).toBeTruthy();
    const comments = screen.getByRole("region", { name: "Comments" });
    expect(within(comments).getByText("Asked the identity team")).toBeTruthy();
    expect(within(comments).getByText("Internal")).toBeTruthy();
    expect(reads(calls)[0]!.path).toBe("/v1/tickets/t1");
  });

  it("moves the status and comments, then reads the ticket as changed", async () => {
    const user = userEvent.setup();
    let status = "open";
    const calls = renderAt("/tickets/t1", queue, (call) => {
      if (call.method === "POST" && call.path.endsWith("/status")) {
        status = (call.body as { status: string }).status;
        return json(200, { version: 4, position: 60 });
      }
      if (call.method === "POST") return json(201, { version: 5, position: 61 });
      return json(200, { ...DETAIL, status });
    });
    const move = await screen.findByRole("region", { name: "Move the ticket" });
    await user.selectOptions(within(move).getByLabelText("New status"), "pending");
    await user.type(within(move).getByLabelText("Reason (optional)"), "Waiting for the logs");
    await user.click(within(move).getByRole("button", { name: "Change status" }));
    await waitFor(() => expect(screen.getByTestId("ticket-status").textContent).toBe("Pending"));
    expect(within(move).getByText("Status changed.")).toBeTruthy();
    const moved = calls.find((call) => call.method === "POST")!;
    expect(moved.path).toBe("/v1/tickets/t1/status");
    expect(moved.body).toEqual({ status: "pending", reason: "Waiting for the logs" });
    expect(reads(calls).at(-1)!.query.get("min_position")).toBe("60");

    const form = screen.getByRole("region", { name: "Add a comment" });
    await user.type(within(form).getByLabelText("Comment"), "We are on it");
    await user.click(within(form).getByLabelText("Visible to the customer"));
    await user.click(within(form).getByRole("button", { name: "Post comment" }));
    await within(form).findByText("Comment posted.");
    const posted = calls.filter((call) => call.method === "POST").at(-1)!;
    expect(posted.path).toBe("/v1/tickets/t1/comments");
    expect(posted.body).toEqual({ personal: { body: "We are on it" }, public: false });
    expect(posted.headers.get("X-CSRF-Token")).toBe("token-1");
  });

  it("shows the API's refusal of a move", async () => {
    const user = userEvent.setup();
    renderAt("/tickets/t1", queue, (call) =>
      call.method === "POST"
        ? json(422, { code: "rule_violation", message: "A closed ticket can only be reopened", details: { rule: "ticket-status" } })
        : json(200, DETAIL),
    );
    const move = await screen.findByRole("region", { name: "Move the ticket" });
    await user.click(within(move).getByRole("button", { name: "Change status" }));
    expect((await within(move).findByRole("alert")).textContent).toBe(
      "The server said: A closed ticket can only be reopened",
    );
  });

  it("says when the ticket cannot be read", async () => {
    renderAt("/tickets/nope", queue, () => json(404, { code: "not_found", message: "No ticket nope", details: {} }));
    expect((await screen.findByRole("alert")).textContent).toBe("The server said: No ticket nope");
    expect(screen.getByRole("link", { name: "Back to the queue" })).toBeTruthy();
  });
});
