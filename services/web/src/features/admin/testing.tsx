import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactNode } from "react";
import { MemoryRouter, Outlet, Route, Routes } from "react-router";

import { createClient } from "../../api/client";
import { ApiProvider } from "../../app/ApiProvider";
import { I18nProvider } from "../../i18n/I18nProvider";
import type { Locale } from "../../i18n/messages";
import { ME, json } from "../customers/testing";

export { json };

export const ADMIN = {
  ...ME,
  subject: "demo-admin",
  roles: ["admin"],
  permissions: {
    "rules.read": "tenant",
    "rules.write": "tenant",
    "users.read": "tenant",
    "users.manage": "tenant",
    "keys.read": "tenant",
    "keys.manage": "tenant",
    "operations.read": "tenant",
  },
};

export interface Sent {
  method: string;
  url: URL;
  body: string | undefined;
  contentType: string | null;
}

/** Renders `routes` under the signed-in frame's context as `me`, on a fake API answering
 * `answer`; returns every request it was sent. */
export function renderAdmin(
  routes: ReactNode,
  path: string,
  answer: (request: Sent) => Response | Promise<Response>,
  options: { me?: object; locale?: Locale } = {},
): Sent[] {
  const sent: Sent[] = [];
  const client = createClient({
    cookies: () => "crm_csrf=t",
    fetch: async (input, init) => {
      const request: Sent = {
        method: init?.method ?? "GET",
        url: new URL(String(input), "http://app"),
        body: typeof init?.body === "string" ? init.body : undefined,
        contentType: new Headers(init?.headers).get("Content-Type"),
      };
      sent.push(request);
      return answer(request);
    },
  });
  render(
    <I18nProvider locale={options.locale ?? "en"}>
      <ApiProvider client={client}>
        <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
          <MemoryRouter initialEntries={[path]}>
            <Routes>
              <Route element={<Outlet context={options.me ?? ADMIN} />}>{routes}</Route>
            </Routes>
          </MemoryRouter>
        </QueryClientProvider>
      </ApiProvider>
    </I18nProvider>,
  );
  return sent;
}
