import { describe, expect, it } from "vitest";

import { createClient } from "../../api/client";
import { CSV_COLUMNS, MAX_EXPORT, exportCustomers } from "./exportCustomers";
import { EMPTY_STATE } from "./listState";

const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });

function customer(n: number) {
  return {
    customer_id: `id-${n}`,
    display_name: n === 1 ? 'Ada "the first" Lovelace' : `Customer ${n}`,
    email: null,
    company: "Engines, Ltd",
    erased: false,
    tags: ["vip", "b2b"],
    created_at: "2026-03-02T09:00:00+00:00",
  };
}

describe("exporting the list", () => {
  it("reads every page with the list's filters, then writes quoted CSV", async () => {
    const urls: string[] = [];
    const client = createClient({
      cookies: () => "",
      fetch: async (input) => {
        const url = String(input);
        urls.push(url);
        const cursor = new URL(url, "http://app").searchParams.get("cursor");
        return cursor === null
          ? json({ items: [customer(1), customer(2)], next_cursor: "page-2", total: 3 })
          : json({ items: [customer(3)], next_cursor: null });
      },
    });
    const progress: [number, number][] = [];
    const result = await exportCustomers(client, { ...EMPTY_STATE, q: "eng", sort: "company", cursor: "ignored" }, (rows, expected) =>
      progress.push([rows, expected]),
    );
    expect(urls).toEqual([
      "/v1/customers?sort=company&limit=200&q=eng&include_total=true",
      "/v1/customers?sort=company&limit=200&q=eng&cursor=page-2",
    ]);
    expect(progress).toEqual([
      [2, 3],
      [3, 3],
    ]);
    expect(result.rows).toBe(3);
    expect(result.truncated).toBe(false);
    const lines = result.csv.split("\r\n");
    expect(lines[0]).toBe(CSV_COLUMNS.join(","));
    expect(lines[1]).toBe('id-1,"Ada ""the first"" Lovelace",,"Engines, Ltd",,,,,,vip;b2b,2026-03-02T09:00:00+00:00,false');
    expect(lines).toHaveLength(5); // header, three rows, and the empty string after the last CRLF
  });

  it("stops at the cap, saying more matched", async () => {
    let served = 0;
    const client = createClient({
      cookies: () => "",
      fetch: async (input) => {
        const limit = Number(new URL(String(input), "http://app").searchParams.get("limit"));
        const items = Array.from({ length: limit }, (_, index) => customer(served + index));
        served += limit;
        return json({ items, next_cursor: `after-${served}`, total: 25_000 });
      },
    });
    const result = await exportCustomers(client, EMPTY_STATE, () => undefined);
    expect(result.rows).toBe(MAX_EXPORT);
    expect(result.truncated).toBe(true);
  });
});
