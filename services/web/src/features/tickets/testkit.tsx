/** Rendering a page of the app against a fake API, for the component tests (not in the build). */
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactNode } from "react";
import { MemoryRouter, Outlet, Route, Routes, useLocation } from "react-router";

import { createClient } from "../../api/client";
import type { Me } from "../../api/session";
import { ApiProvider } from "../../app/ApiProvider";
import { I18nProvider } from "../../i18n/I18nProvider";
import type { Locale } from "../../i18n/messages";

export interface Call {
  method: string;
  url: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  headers: Headers;
}

export const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

export const ME: Me = {
  subject: "agent-1",
  display_name: null,
  tenant_id: "default",
  tenants: ["default"],
  roles: ["support_agent"],
  teams: [],
  scopes: [],
  credential: "session",
  key_id: null,
  permissions: { "alerts.read": "own", "alerts.work": "own", "tickets.work": "tenant", "customers.read": "tenant" },
};

function Where() {
  const location = useLocation();
  return <p data-testid="location">{location.pathname + location.search}</p>;
}

/** Renders `routes` at `at` for `me`, answering requests with `answer`; returns the calls made. */
export function renderAt(
  at: string,
  routes: ReactNode,
  answer: (call: Call) => Response | Promise<Response>,
  options: { me?: Me; locale?: Locale } = {},
): Call[] {
  const calls: Call[] = [];
  const client = createClient({
    cookies: () => "crm_csrf=token-1",
    fetch: async (input, init) => {
      const url = new URL(String(input), "http://app.test");
      const call: Call = {
        method: init?.method ?? "GET",
        url: String(input),
        path: url.pathname,
        query: url.searchParams,
        body: init?.body ? JSON.parse(String(init.body)) : undefined,
        headers: new Headers(init?.headers),
      };
      calls.push(call);
      return answer(call);
    },
  });
  render(
    <I18nProvider locale={options.locale ?? "en"}>
      <ApiProvider client={client}>
        <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
          <MemoryRouter initialEntries={[at]}>
            <Routes>
              <Route element={<Outlet context={options.me ?? ME} />}>{routes}</Route>
            </Routes>
            <Where />
          </MemoryRouter>
        </QueryClientProvider>
      </ApiProvider>
    </I18nProvider>,
  );
  return calls;
}
