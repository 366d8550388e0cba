import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";
import { Route } from "react-router";

import { KeysPage } from "./KeysPage";
import { ReadModelsPage } from "./ReadModelsPage";
import { json, renderAdmin, type Sent } from "./testing";

afterEach(cleanup);

const KEY = {
  key_id: "0b7f3a52-1111-4222-8333-444455556666", tenant_id: "default", subject: "erp-sync", display_name: null,
  roles: ["integration"], scopes: ["customers:read"], expires_at: null, created_at: "2026-12-01T00:00:00Z",
  created_by: "demo-admin", revoked_at: null as string | null, last_used_at: null,
};

describe("the API keys page", () => {
  it("creates a key, shows its secret once, and revokes a key after a confirmation", async () => {
    const keys = [KEY];
    const sent = renderAdmin(<Route path="/admin/keys" element={<KeysPage />} />, "/admin/keys", (request: Sent) => {
      if (request.method === "GET") return json(200, { keys });
      if (request.method === "POST") {
        return json(201, { key_id: "k2", key: "crm_k2_secret", tenant_id: "default", subject: "bi-tool", roles: ["integration"], scopes: ["analytics:read"], expires_at: null, version: 1, position: 3 });
      }
      keys[0] = { ...KEY, revoked_at: "2026-12-04T00:00:00Z" };
      return json(200, { key_id: KEY.key_id, version: 2, position: 4 });
    });
    const table = await screen.findByRole("table", { name: "Keys" });
    expect(within(table).getByText("erp-sync")).toBeTruthy();

    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect((await screen.findByRole("alert")).textContent).toBe("Enter the key's subject.");
    await userEvent.type(screen.getByLabelText("Subject (who the key acts as)"), "bi-tool");
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect((await screen.findByRole("alert")).textContent).toBe("An integration key needs at least one scope.");
    await userEvent.click(screen.getByRole("checkbox", { name: "analytics:read" }));
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect((await screen.findByTestId("once-secret")).textContent).toBe("crm_k2_secret");
    const post = sent.find((r) => r.method === "POST");
    expect(JSON.parse(post?.body ?? "")).toMatchObject({ subject: "bi-tool", roles: ["integration"], scopes: ["analytics:read"] });

    await userEvent.click(screen.getByRole("button", { name: "Revoke the key of erp-sync (0b7f3a52)" }));
    const confirm = screen.getByRole("group", { name: /Revoke the key of erp-sync\?/ });
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("group", { name: /Revoke the key of erp-sync\?/ })).toBeNull();
    expect(confirm.isConnected).toBe(false);
    await userEvent.click(screen.getByRole("button", { name: "Revoke the key of erp-sync (0b7f3a52)" }));
    await userEvent.click(within(screen.getByRole("group", { name: /Revoke the key of erp-sync\?/ })).getByRole("button", { name: "Revoke" }));
    await screen.findByText("Revoked the key of erp-sync.");
    expect(sent.some((r) => r.method === "DELETE" && r.url.pathname === `/v1/admin/keys/${KEY.key_id}`)).toBe(true);
    await waitFor(() => expect(within(table).getByText("Revoked")).toBeTruthy());
  });
});

describe("the read models page", () => {
  it("lists every model with its position and lag, and a model's dead letters", async () => {
    const model = (name: string, dead: number) => ({
      projection: name, store: "sql", generation: 1, position: 1234, partitions: {}, lag_events: 2, lag_seconds: 0.5,
      applied: 10, duplicates_skipped: 0, dead_letters: dead, last_event_recorded_at: null,
    });
    const sent = renderAdmin(<Route path="/admin/read-models" element={<ReadModelsPage refreshMs={60_000} />} />, "/admin/read-models", (request: Sent) => {
      if (request.url.pathname === "/v1/projections") return json(200, { head_position: 1236, projections: [model("customer_360", 0), model("timeline", 1)] });
      return json(200, {
        projection: "timeline", total: 1, next_offset: null,
        items: [{ event_id: "e1", event_type: "CustomerRegistered", position: 99, partition: 0, offset: 98, generation: 1, reason: "ValueError", recorded_at: "2026-12-04T00:00:00Z" }],
      });
    });
    const table = await screen.findByRole("table", { name: "Read models and their progress" });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((row) => within(row).getByRole("rowheader").textContent)).toEqual(["customer_360", "timeline"]);
    expect(rows[0]?.textContent).toContain("1,234");
    await userEvent.click(screen.getByRole("button", { name: "Show the 1 dead letters of timeline" }));
    const letters = await screen.findByRole("table", { name: "Dead letters of timeline" });
    expect(letters.textContent).toContain("CustomerRegistered");
    expect(letters.textContent).toContain("ValueError");
    const asked = sent.find((r) => r.url.pathname === "/v1/projections/timeline/dead-letters");
    expect(asked?.url.searchParams.get("limit")).toBe("25");
  });
});
