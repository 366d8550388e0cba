import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";
import { Route } from "react-router";

import { ME } from "../customers/testing";
import { AdminRoutes } from "./AdminRoutes";
import { UsersPage } from "./UsersPage";
import { ADMIN, json, renderAdmin, type Sent } from "./testing";

afterEach(cleanup);

function usersApi(state: { users: object[]; refuse?: boolean }) {
  return (request: Sent): Response => {
    const path = request.url.pathname;
    if (path === "/v1/admin/users" && request.method === "GET") return json(200, { users: state.users });
    if (path === "/v1/admin/users" && request.method === "POST") {
      if (state.refuse) {
        return json(422, { code: "weak_password", message: "this password is too easy to guess", details: {} });
      }
      const body = JSON.parse(request.body ?? "{}");
      state.users.push({
        name: body.name, display_name: body.display_name, roles: body.roles, teams: body.teams, disabled: false,
        created_at: "2026-12-04T10:00:00Z", created_by: "demo-admin", password_changed_at: "2026-12-04T10:00:00Z",
        disabled_at: null, disabled_by: null,
      });
      return json(201, { name: body.name, version: 1, position: 5, password: body.generate_password ? "Gen-erated-pass-123" : null });
    }
    if (path.endsWith("/disable")) return json(200, { name: "rep-9", version: 2, position: 6, password: null });
    return json(404, { code: "not_found", message: "no", details: {} });
  };
}

describe("the users page", () => {
  it("adds a user with a generated password and shows it once", async () => {
    const state = { users: [] as object[] };
    const sent = renderAdmin(<Route path="/admin/users" element={<UsersPage />} />, "/admin/users", usersApi(state));
    expect(await screen.findByText("No accounts yet.")).toBeTruthy();
    await userEvent.type(screen.getByLabelText("User name"), "rep-9");
    await userEvent.selectOptions(screen.getByLabelText("Role"), "support_agent");
    await userEvent.type(screen.getByLabelText("Teams (comma-separated, optional)"), "north, south");
    await userEvent.click(screen.getByRole("button", { name: "Add user" }));

    const secret = await screen.findByTestId("once-secret");
    expect(secret.textContent).toBe("Gen-erated-pass-123");
    const post = sent.find((r) => r.method === "POST");
    expect(JSON.parse(post?.body ?? "")).toEqual({
      name: "rep-9", roles: ["support_agent"], teams: ["north", "south"], display_name: null, generate_password: true,
    });
    const table = await screen.findByRole("table", { name: "Accounts" });
    await waitFor(() => expect(within(table).getByText("rep-9")).toBeTruthy());
    expect(within(table).getByText("Support agent")).toBeTruthy();

    await userEvent.click(screen.getByRole("button", { name: "Done, hide it" }));
    expect(screen.queryByTestId("once-secret")).toBeNull();
  });

  it("checks a chosen password's length before sending, and never shows it back", async () => {
    const state = { users: [] as object[] };
    const sent = renderAdmin(<Route path="/admin/users" element={<UsersPage />} />, "/admin/users", usersApi(state));
    await screen.findByText("No accounts yet.");
    await userEvent.click(screen.getByRole("button", { name: "Add user" }));
    expect((await screen.findByRole("alert")).textContent).toBe("Enter a user name.");

    await userEvent.type(screen.getByLabelText("User name"), "rep-8");
    await userEvent.click(screen.getByLabelText("Set one myself"));
    const password = screen.getByLabelText("Password (at least 12 characters)");
    expect(password.getAttribute("type")).toBe("password");
    expect(password.getAttribute("autocomplete")).toBe("new-password");
    await userEvent.type(password, "short");
    await userEvent.click(screen.getByRole("button", { name: "Add user" }));
    expect((await screen.findByRole("alert")).textContent).toBe("A password has at least 12 characters.");
    expect(sent.filter((r) => r.method === "POST")).toHaveLength(0);

    await userEvent.type(password, "-but-longer-now");
    await userEvent.click(screen.getByRole("button", { name: "Add user" }));
    await screen.findByText("Added rep-8.");
    const post = sent.find((r) => r.method === "POST");
    expect(JSON.parse(post?.body ?? "").password).toBe("short-but-longer-now");
    expect(screen.queryByTestId("once-secret")).toBeNull();
    expect(document.body.textContent).not.toContain("short-but-longer-now");
  });

  it("shows the server's refusal", async () => {
    const state = { users: [] as object[], refuse: true };
    renderAdmin(<Route path="/admin/users" element={<UsersPage />} />, "/admin/users", usersApi(state));
    await screen.findByText("No accounts yet.");
    await userEvent.type(screen.getByLabelText("User name"), "rep-7");
    await userEvent.click(screen.getByRole("button", { name: "Add user" }));
    expect((await screen.findByRole("alert")).textContent).toContain("too easy to guess");
  });

  it("disables a user after a confirmation, and not oneself", async () => {
    const state = {
      users: [
        { name: "demo-admin", display_name: null, roles: ["admin"], teams: [], disabled: false, created_at: "2026-12-01T00:00:00Z", created_by: "cli:ops", password_changed_at: null, disabled_at: null, disabled_by: null },
        { name: "rep-9", display_name: null, roles: ["sales_rep"], teams: [], disabled: false, created_at: "2026-12-01T00:00:00Z", created_by: "cli:ops", password_changed_at: null, disabled_at: null, disabled_by: null },
      ],
    };
    const sent = renderAdmin(<Route path="/admin/users" element={<UsersPage />} />, "/admin/users", usersApi(state));
    await screen.findByRole("table", { name: "Accounts" });
    expect(screen.queryByRole("button", { name: "Disable demo-admin" })).toBeNull();
    expect(screen.queryByRole("button", { name: "New password for demo-admin" })).toBeNull();
    expect(screen.getByRole("button", { name: "New password for rep-9" })).toBeTruthy();
    await userEvent.click(screen.getByRole("button", { name: "Disable rep-9" }));
    const confirm = screen.getByRole("group", { name: /Disable rep-9\?/ });
    expect(document.activeElement?.textContent).toBe("Cancel");
    await userEvent.click(within(confirm).getByRole("button", { name: "Disable" }));
    await screen.findByText("Disabled rep-9.");
    expect(sent.some((r) => r.method === "POST" && r.url.pathname === "/v1/admin/users/rep-9/disable")).toBe(true);
  });
});

describe("the Admin area", () => {
  it("tells a rep plainly that it is not theirs", async () => {
    const sent = renderAdmin(<Route path="/admin/*" element={<AdminRoutes />} />, "/admin/users", () => json(500, {}), {
      me: { ...ME, permissions: { "rules.read": "tenant", "customers.read": "own" } },
    });
    expect(screen.getByRole("heading", { name: "Not allowed" })).toBeTruthy();
    expect(sent).toHaveLength(0);
  });

  it("shows an admin every section", async () => {
    renderAdmin(<Route path="/admin/*" element={<AdminRoutes />} />, "/admin", () => json(200, { users: [] }), { me: ADMIN });
    const nav = screen.getByRole("navigation", { name: "Admin sections" });
    expect(within(nav).getAllByRole("link").map((link) => link.textContent)).toEqual(["Rules", "Users", "API keys", "Read models"]);
  });
});
