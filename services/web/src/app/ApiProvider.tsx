import { createContext, useContext, type ReactNode } from "react";

import type { ApiClient } from "../api/client";

const ApiContext = createContext<ApiClient | null>(null);

/** The API client the pages use (tests hand in one on a fake fetch). */
export function ApiProvider({ client, children }: { client: ApiClient; children: ReactNode }) {
  return <ApiContext.Provider value={client}>{children}</ApiContext.Provider>;
}

export function useApi(): ApiClient {
  const client = useContext(ApiContext);
  if (client === null) throw new Error("useApi outside <ApiProvider>");
  return client;
}
