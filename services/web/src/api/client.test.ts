import { describe, expect, it } from "vitest";

import { CSRF_HEADER, createClient, fillPath, queryString } from "./client";
import { ApiError, HTTP_ERROR, NETWORK_ERROR } from "./errors";

interface Seen {
  url: string;
  init: RequestInit;
}

function fakeFetch(answer: () => Response | Promise<Response>, seen: Seen[]): typeof fetch {
  return async (input, init) => {
    seen.push({ url: String(input), init: init ?? {} });
    return answer();
  };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

describe("the CSRF token", () => {
  it.each(["POST", "PUT", "PATCH", "DELETE"] as const)("is sent from the crm_csrf cookie on %s", async (method) => {
    const seen: Seen[] = [];
    const client = createClient({
      fetch: fakeFetch(() => json(200, {}), seen),
      cookies: () => "theme=dark; crm_csrf=tok%2Ben; other=1",
    });
    await client.send(method, "/v1/tasks", { title: "Call Ada" });
    const headers = new Headers(seen[0]!.init.headers);
    expect(headers.get(CSRF_HEADER)).toBe("tok+en");
    expect(headers.get("Content-Type")).toBe("application/json");
    expect(seen[0]!.init.credentials).toBe("same-origin");
    expect(seen[0]!.init.method).toBe(method);
  });

  it("is not sent on GET, which still carries the session cookie", async () => {
    const seen: Seen[] = [];
    const client = createClient({ fetch: fakeFetch(() => json(200, { items: [] }), seen), cookies: () => "crm_csrf=abc" });
    await client.get("/v1/leads", { query: { owner: "me", open: true } });
    const headers = new Headers(seen[0]!.init.headers);
    expect(headers.has(CSRF_HEADER)).toBe(false);
    expect(seen[0]!.init.credentials).toBe("same-origin");
    expect(seen[0]!.url).toBe("/v1/leads?owner=me&open=true");
  });

  it("falls back to the token the sign-in answered with, and is forgotten on request", async () => {
    const seen: Seen[] = [];
    const client = createClient({ fetch: fakeFetch(() => new Response(null, { status: 204 }), seen), cookies: () => "" });
    await client.send("DELETE", "/v1/session");
    expect(new Headers(seen[0]!.init.headers).has(CSRF_HEADER)).toBe(false);
    client.rememberCsrf("from-body");
    expect(client.hasSessionCookie()).toBe(true);
    await client.send("POST", "/v1/tasks", {});
    expect(new Headers(seen[1]!.init.headers).get(CSRF_HEADER)).toBe("from-body");
    client.rememberCsrf(undefined);
    expect(client.hasSessionCookie()).toBe(false);
  });
});

describe("errors", () => {
  it("carry the API's code, message, details and rule", async () => {
    const refusal = {
      code: "rule_violation",
      message: "a lost lead needs a reason",
      details: { rule: "lost_requires_reason" },
    };
    const client = createClient({ fetch: fakeFetch(() => json(422, refusal), []), cookies: () => "" });
    const error = await client.send("POST", "/v1/leads/x/stage", { stage: "lost" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 422, code: "rule_violation", message: "a lost lead needs a reason" });
    expect((error as ApiError).rule).toBe("lost_requires_reason");
  });

  it("from an answer that is not the error shape say only the status", async () => {
    const client = createClient({
      fetch: fakeFetch(() => new Response("<html>Bad gateway</html>", { status: 502 }), []),
      cookies: () => "",
    });
    const error = await client.get("/v1/me").catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 502, code: HTTP_ERROR });
  });

  it("when the server cannot be reached are network errors", async () => {
    const client = createClient({
      fetch: () => Promise.reject(new TypeError("Failed to fetch")),
      cookies: () => "",
    });
    const error = await client.get("/v1/me").catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 0, code: NETWORK_ERROR });
  });
});

describe("URLs", () => {
  it("fill path parameters, encoded", () => {
    expect(fillPath("/v1/customers/{customer_id}/timeline", { customer_id: "a b/c" })).toBe(
      "/v1/customers/a%20b%2Fc/timeline",
    );
    expect(() => fillPath("/v1/leads/{lead_id}", {})).toThrow(/lead_id/);
  });

  it("repeat array parameters and leave out empty ones", () => {
    expect(queryString({ stage: ["new", "won"], owner: undefined, open: false, q: null })).toBe(
      "?stage=new&stage=won&open=false",
    );
    expect(queryString({})).toBe("");
  });
});
