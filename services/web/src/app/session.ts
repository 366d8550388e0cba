import { useQuery } from "@tanstack/react-query";

import { whoIsSignedIn, type Me } from "../api/session";
import { useApi } from "./ApiProvider";

export const ME_QUERY = ["session", "me"] as const;

/** Who is signed in (null: nobody). */
export function useMe() {
  const client = useApi();
  return useQuery<Me | null>({ queryKey: ME_QUERY, queryFn: () => whoIsSignedIn(client), staleTime: 60_000 });
}
