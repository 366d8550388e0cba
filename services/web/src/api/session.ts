/**
 * Signing in and out: `POST /v1/session` with a tenant, a name and a password sets an
 * HttpOnly session cookie and answers with a CSRF token (also set as the `crm_csrf` cookie);
 * `DELETE /v1/session` signs out. Who is signed in comes from `GET /v1/me`.
 */
import type { ApiClient } from "./client";
import { ApiError } from "./errors";
import type { components } from "./schema";

export type Me = components["schemas"]["Me"];
export type SignInMethods = components["schemas"]["SignInMethods"];

export interface Credentials {
  tenant: string;
  name: string;
  password: string;
}

interface SignedIn {
  csrf_token?: string;
}

export async function signIn(client: ApiClient, credentials: Credentials): Promise<void> {
  const answer = await client.send<SignedIn | undefined>("POST", "/v1/session", credentials);
  client.rememberCsrf(answer?.csrf_token);
}

export async function signOut(client: ApiClient): Promise<void> {
  try {
    await client.send("DELETE", "/v1/session");
  } finally {
    client.rememberCsrf(undefined);
  }
}

/** Who is signed in; null when nobody is (asked only when a session cookie is there, so a
 * visitor who never signed in causes no refused request). */
export async function whoIsSignedIn(client: ApiClient): Promise<Me | null> {
  if (!client.hasSessionCookie()) return null;
  try {
    return await client.get("/v1/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

/** How this server signs people in: local accounts, the identity provider (no credentials
 * needed to ask). */
export function signInMethods(client: ApiClient): Promise<SignInMethods> {
  return client.get("/v1/session/methods");
}

/** Where the browser goes to sign in at the identity provider, coming back to `next`. */
export function providerSignInUrl(start: string, next: string): string {
  return `${start}?${new URLSearchParams({ next }).toString()}`;
}
