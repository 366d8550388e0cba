import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route } from "react-router";
import { afterEach, describe, expect, it } from "vitest";

import { ME, json, renderAt, type Call } from "../tickets/testkit";
import { AlertsPage } from "./AlertsPage";

afterEach(cleanup);

const ALERT = {
  alert_id: "a1",
  customer_id: "c1",
  kind: "sla_breached",
  subject_kind: "ticket",
  subject_id: "t1",
  assignees: ["agent-1"],
  summary: "Ticket 0f6b5a8e missed its first response SLA (urgent, target 1h)",
  status: "open",
  raised_at: "2026-03-02T10:00:00Z",
  raised_by: "rule:sla",
  due_at: "2026-03-02T10:00:00Z",
  acknowledged_at: null,
  acknowledged_by: null,
  resolved_at: null,
  resolved_by: null,
  note: null,
  position: 10,
  cause_event_id: null,
};

const page = (items: unknown[], next_cursor: string | null = null) => json(200, { items, next_cursor });
const alerts = <Route path="/alerts" element={<AlertsPage />} />;
const reads = (calls: Call[]) => calls.filter((call) => call.method === "GET");

describe("the alerts inbox", () => {
  it("lists the signed-in person's active alerts, newest first, with what they are about", async () => {
    const calls = renderAt("/alerts", alerts, () => page([ALERT]));
    const item = await screen.findByRole("listitem", { name: ALERT.summary });
    expect(within(item).getByText("SLA missed")).toBeTruthy();
    expect(within(item).getByText("Open")).toBeTruthy();
    expect(within(item).getByText(/Raised Mar 2, 2026/)).toBeTruthy();
    expect(within(item).getByRole("link", { name: "Customer page" }).getAttribute("href")).toBe("/customers/c1");
    expect(within(item).getByRole("link", { name: "Open the ticket" }).getAttribute("href")).toBe("/tickets/t1");
    const [first] = reads(calls);
    expect(first?.path).toBe("/v1/alerts");
    expect(first?.query.get("assignee")).toBe(ME.subject);
    expect(first?.query.get("status")).toBe("active");
    expect(first?.query.has("kind")).toBe(false);
  });

  it("filters by status and kind, kept in the address", async () => {
    const user = userEvent.setup();
    const calls = renderAt("/alerts", alerts, () => page([]));
    await screen.findByText("No alerts here.");
    await user.selectOptions(screen.getByLabelText("Status"), "resolved");
    await user.selectOptions(screen.getByLabelText("Kind"), "discount_approval");
    await waitFor(() => {
      const last = reads(calls).at(-1);
      expect(last?.query.get("status")).toBe("resolved");
      expect(last?.query.get("kind")).toBe("discount_approval");
    });
    expect(screen.getByTestId("location").textContent).toBe("/alerts?status=resolved&kind=discount_approval");
  });

  it("acknowledges with a note, then shows the alert as the API has it after the change", async () => {
    const user = userEvent.setup();
    let acknowledged = false;
    const calls = renderAt("/alerts", alerts, (call) => {
      if (call.method === "POST") {
        acknowledged = true;
        return json(200, { version: 2, position: 42 });
      }
      return page([
        acknowledged
          ? { ...ALERT, status: "acknowledged", acknowledged_at: "2026-03-02T11:00:00Z", acknowledged_by: "agent-1", note: "On it" }
          : ALERT,
      ]);
    });
    const item = await screen.findByRole("listitem", { name: ALERT.summary });
    await user.type(within(item).getByLabelText("Note (optional)"), "On it");
    await user.click(within(item).getByRole("button", { name: "Acknowledge" }));

    await waitFor(() => expect(within(item).getByText("Acknowledged")).toBeTruthy());
    expect(within(item).getByText("Note: On it")).toBeTruthy();
    expect(within(item).getByText(/Acknowledged by agent-1/)).toBeTruthy();
    expect(within(item).queryByRole("button", { name: "Acknowledge" })).toBeNull();
    expect(within(item).getByRole("button", { name: "Resolve" })).toBeTruthy();
    const post = calls.find((call) => call.method === "POST");
    expect(post?.path).toBe("/v1/alerts/a1/acknowledge");
    expect(post?.body).toEqual({ note: "On it" });
    expect(post?.headers.get("X-CSRF-Token")).toBe("token-1");
    expect(reads(calls).at(-1)?.query.get("min_position")).toBe("42");
    expect(screen.getByText(`Acknowledged: ${ALERT.summary}`)).toBeTruthy();
  });

  it("shows the API's refusal and leaves the alert as it was", async () => {
    const user = userEvent.setup();
    renderAt("/alerts", alerts, (call) =>
      call.method === "POST"
        ? json(409, { code: "invalid_transition", message: "The alert is already resolved", details: {} })
        : page([ALERT]),
    );
    const item = await screen.findByRole("listitem", { name: ALERT.summary });
    await user.click(within(item).getByRole("button", { name: "Resolve" }));
    expect((await within(item).findByRole("alert")).textContent).toBe(
      "The server said: The alert is already resolved",
    );
    expect(within(item).getByText("Open")).toBeTruthy();
  });

  it("pages on with the cursor", async () => {
    const user = userEvent.setup();
    const calls = renderAt("/alerts", alerts, (call) =>
      call.query.get("cursor") === "next-1"
        ? page([{ ...ALERT, alert_id: "a2", summary: "Lead 'Boiler' without contact for 8 days", kind: "follow_up_overdue", subject_kind: "lead" }])
        : page([ALERT], "next-1"),
    );
    await screen.findByRole("listitem", { name: ALERT.summary });
    await user.click(screen.getByRole("button", { name: "Show more alerts" }));
    const second = await screen.findByRole("listitem", { name: "Lead 'Boiler' without contact for 8 days" });
    expect(within(second).getByText("Follow-up overdue")).toBeTruthy();
    expect(within(second).queryByRole("link", { name: "Open the ticket" })).toBeNull();
    expect(screen.getAllByRole("listitem")).toHaveLength(2);
    expect(screen.queryByRole("button", { name: "Show more alerts" })).toBeNull();
    expect(reads(calls)).toHaveLength(2);
  });

  it("offers no actions to someone who may only read alerts", async () => {
    renderAt("/alerts", alerts, () => page([ALERT]), { me: { ...ME, permissions: { "alerts.read": "tenant" } } });
    const item = await screen.findByRole("listitem", { name: ALERT.summary });
    expect(within(item).queryByRole("button")).toBeNull();
  });

  it("speaks Chinese", async () => {
    renderAt("/alerts", alerts, () => page([ALERT]), { locale: "zh-CN" });
    const item = await screen.findByRole("listitem", { name: ALERT.summary });
    expect(within(item).getByText("未达 SLA")).toBeTruthy();
    expect(within(item).getByRole("button", { name: "确认" })).toBeTruthy();
    expect(screen.getByLabelText("状态")).toBeTruthy();
  });
});
