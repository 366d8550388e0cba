import { QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router";

import { createClient } from "./api/client";
import { ApiError } from "./api/errors";
import { ApiProvider } from "./app/ApiProvider";
import { App } from "./app/App";
import { ME_QUERY } from "./app/session";
import { I18nProvider } from "./i18n/I18nProvider";
import "./styles.css";

const queryClient: QueryClient = new QueryClient({
  queryCache: new QueryCache({
    onError(error) {
      // A session that ended while a page was open: back to the sign-in page.
      if (error instanceof ApiError && error.status === 401) queryClient.setQueryData(ME_QUERY, null);
    },
  }),
  defaultOptions: {
    queries: {
      // A refusal (4xx) will not change by asking again; a lost connection may.
      retry: (failures, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && failures < 2,
      refetchOnWindowFocus: true,
    },
  },
});

const root = document.getElementById("root");
if (root === null) throw new Error("index.html has no #root");

createRoot(root).render(
  <StrictMode>
    <I18nProvider>
      <ApiProvider client={createClient()}>
        <QueryClientProvider client={queryClient}>
          <BrowserRouter>
            <App />
          </BrowserRouter>
        </QueryClientProvider>
      </ApiProvider>
    </I18nProvider>
  </StrictMode>,
);
