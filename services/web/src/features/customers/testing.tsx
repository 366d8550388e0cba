import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactNode } from "react";
import { MemoryRouter, Outlet, Route, Routes, useLocation } from "react-router";

import { createClient } from "../../api/client";
import type { Me } from "../../api/session";
import { ApiProvider } from "../../app/ApiProvider";
import { I18nProvider } from "../../i18n/I18nProvider";
import type { Locale } from "../../i18n/messages";

export const ME: Me = {
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

export const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

/** Where the router is (the tests read the URL's query string from it). */
function WhereAmI() {
  const location = useLocation();
  return <output data-testid="location">{location.pathname + location.search}</output>;
}

/** Renders `routes` under the signed-in frame's context, on a fake API answering `answer`. */
export function renderPage(
  routes: ReactNode,
  path: string,
  answer: (url: URL) => Response,
  locale: Locale = "en",
  me: Me = ME,
): string[] {
  const urls: string[] = [];
  const client = createClient({
    cookies: () => "crm_csrf=t",
    fetch: async (input) => {
      urls.push(String(input));
      return answer(new URL(String(input), "http://app"));
    },
  });
  render(
    <I18nProvider locale={locale}>
      <ApiProvider client={client}>
        <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
          <MemoryRouter initialEntries={[path]}>
            <Routes>
              <Route element={<Outlet context={me} />}>{routes}</Route>
            </Routes>
            <WhereAmI />
          </MemoryRouter>
        </QueryClientProvider>
      </ApiProvider>
    </I18nProvider>,
  );
  return urls;
}
