import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { cleanup, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryRouter, Route, Routes } from "react-router";

import { createClient } from "../../api/client";
import { ApiProvider } from "../../app/ApiProvider";
import { I18nProvider } from "../../i18n/I18nProvider";
import type { Locale } from "../../i18n/messages";
import { SignInPage } from "./SignInPage";

afterEach(cleanup);

interface Call {
  method: string;
  url: string;
  body: unknown;
}

const LOCAL_ONLY = { local_accounts: true, oidc: null };

function renderSignIn(
  answer: (call: Call) => Response,
  locale: Locale = "en",
  methods: unknown = LOCAL_ONLY,
  entry = "/sign-in?next=/pipeline",
) {
  const calls: Call[] = [];
  let cookies = "";
  const client = createClient({
    cookies: () => cookies,
    fetch: async (input, init) => {
      const call = {
        method: init?.method ?? "GET",
        url: String(input),
        body: init?.body ? JSON.parse(String(init.body)) : undefined,
      };
      if (call.url === "/v1/session/methods") return json(200, methods);
      calls.push(call);
      const response = answer(call);
      if (call.url === "/v1/session" && response.ok) cookies = "crm_csrf=token-1";
      return response;
    },
  });
  render(
    <I18nProvider locale={locale}>
      <ApiProvider client={client}>
        <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
          <MemoryRouter initialEntries={[entry]}>
            <Routes>
              <Route path="/sign-in" element={<SignInPage />} />
              <Route path="/pipeline" element={<p>pipeline page</p>} />
            </Routes>
          </MemoryRouter>
        </QueryClientProvider>
      </ApiProvider>
    </I18nProvider>,
  );
  return calls;
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const ME = {
  subject: "rep-1",
  display_name: null,
  tenant_id: "default",
  tenants: ["default"],
  roles: ["sales_rep"],
  teams: [],
  scopes: [],
  credential: "session",
  key_id: null,
  permissions: {},
};

describe("the sign-in page", () => {
  it("signs in with tenant, name and password, then opens the page asked for", async () => {
    const user = userEvent.setup();
    const calls = renderSignIn((call) => (call.url === "/v1/me" ? json(200, ME) : json(200, { csrf_token: "token-1" })));
    const tenant = screen.getByLabelText("Tenant");
    await user.clear(tenant);
    await user.type(tenant, "acme");
    await user.type(screen.getByLabelText("User name"), "rep-1");
    await user.type(screen.getByLabelText("Password"), "correct horse battery");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByText("pipeline page")).toBeTruthy();
    expect(calls[0]).toEqual({
      method: "POST",
      url: "/v1/session",
      body: { tenant: "acme", name: "rep-1", password: "correct horse battery" },
    });
    expect(calls[1]).toMatchObject({ method: "GET", url: "/v1/me" });
  });

  it("shows the API's refusal and clears the password", async () => {
    const user = userEvent.setup();
    renderSignIn(() => json(401, { code: "invalid_credentials", message: "invalid credentials", details: {} }));
    await user.type(screen.getByLabelText("User name"), "rep-1");
    await user.type(screen.getByLabelText("Password"), "wrong password");
    await user.keyboard("{Enter}");
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The tenant, user name or password is not right.");
    expect((screen.getByLabelText("Password") as HTMLInputElement).value).toBe("");
  });

  it("shows any other refusal with the server's message", async () => {
    const user = userEvent.setup();
    renderSignIn(() => json(422, { code: "invalid_request", message: "the request is not valid", details: {} }));
    await user.type(screen.getByLabelText("User name"), "rep-1");
    await user.type(screen.getByLabelText("Password"), "whatever it is");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("alert")).textContent).toContain("The server said: the request is not valid");
  });

  it("offers the identity provider, coming back to the page asked for", async () => {
    renderSignIn(() => json(500, {}), "en", {
      local_accounts: true,
      oidc: { display_name: "Acme ID", start: "/v1/session/oidc/start" },
    });
    const link = await screen.findByRole("link", { name: "Sign in with Acme ID" });
    expect(link.getAttribute("href")).toBe("/v1/session/oidc/start?next=%2Fpipeline");
    expect(screen.getByLabelText("Password")).toBeTruthy();
  });

  it("offers only the identity provider when local accounts are off", async () => {
    renderSignIn(() => json(500, {}), "zh-CN", {
      local_accounts: false,
      oidc: { display_name: null, start: "/v1/session/oidc/start" },
    });
    expect(await screen.findByRole("link", { name: "使用您所在组织的账户登录" })).toBeTruthy();
    expect(screen.queryByLabelText("密码")).toBeNull();
  });

  it("explains why signing in at the identity provider failed, in both languages", () => {
    renderSignIn(() => json(500, {}), "en", LOCAL_ONLY, "/sign-in?error=no_role");
    expect(screen.getByRole("alert").textContent).toContain("has no role in this CRM");
    cleanup();
    renderSignIn(() => json(500, {}), "zh-CN", LOCAL_ONLY, "/sign-in?error=bad_state");
    expect(screen.getByRole("alert").textContent).toContain("该登录已过期或已被使用");
    cleanup();
    renderSignIn(() => json(500, {}), "en", LOCAL_ONLY, "/sign-in?error=<b>made-up</b>");
    expect(screen.getByRole("alert").textContent).toContain("Signing in at the identity provider failed.");
  });

  it("speaks Simplified Chinese, every control labelled", () => {
    renderSignIn(() => json(500, {}), "zh-CN");
    expect(screen.getByRole("heading", { name: "登录" })).toBeTruthy();
    for (const label of ["租户", "用户名", "密码", "语言"]) expect(screen.getByLabelText(label)).toBeTruthy();
    expect(screen.getByRole("button", { name: "登录" })).toBeTruthy();
  });
});
