import { describe, expect, it } from "vitest";

import { EMPTY_STATE, apiQuery, searchFromState, stateFromSearch, viewQuery } from "./listState";

describe("the list's state in the URL", () => {
  it("reads search, filters, sort, order and cursor, dropping unknown values", () => {
    const state = stateFromSearch(
      new URLSearchParams("q=%20ada%20&owner=rep-1&lifecycle_stage=loyal&sort=company&order=asc&cursor=abc&tag=vip"),
    );
    expect(state).toEqual({
      ...EMPTY_STATE,
      q: "ada",
      owner: "rep-1",
      tag: "vip",
      lifecycle_stage: "loyal",
      sort: "company",
      order: "asc",
      cursor: "abc",
    });
    const odd = stateFromSearch(new URLSearchParams("lifecycle_stage=alien&sort=name&order=sideways"));
    expect(odd).toEqual(EMPTY_STATE);
  });

  it("writes only what differs from the defaults, and reads back the same", () => {
    expect(searchFromState(EMPTY_STATE).toString()).toBe("");
    const state = { ...EMPTY_STATE, q: "Engines", region: "EMEA", sort: "updated_at" as const, cursor: "c1" };
    const written = searchFromState(state);
    expect(written.toString()).toBe("q=Engines&region=EMEA&sort=updated_at&cursor=c1");
    expect(stateFromSearch(written)).toEqual(state);
    expect(viewQuery(state)).toBe("q=Engines&region=EMEA&sort=updated_at");
  });

  it("asks the API for the same list", () => {
    const state = { ...EMPTY_STATE, q: "ada", source: "web", lifecycle_stage: "prospect" as const, order: "asc" as const };
    expect(apiQuery(state, 50)).toEqual({
      q: "ada",
      source: "web",
      lifecycle_stage: "prospect",
      sort: "created_at",
      order: "asc",
      limit: 50,
    });
    expect(apiQuery({ ...state, cursor: "x" }, 10)).toMatchObject({ cursor: "x", limit: 10 });
    expect(apiQuery({ ...state, cursor: "x" }, 10, "")).not.toHaveProperty("cursor");
  });

  it("keeps a funnel figure's lead filters from the URL to the API", () => {
    const search = "lead_reached=won&lead_source=web&lead_created_from=2026-01-01";
    const state = stateFromSearch(new URLSearchParams(search));
    expect(state).toMatchObject({ lead_reached: "won", lead_source: "web", lead_created_from: "2026-01-01" });
    expect(searchFromState(state).toString()).toBe(search);
    expect(apiQuery(state, 25)).toMatchObject({ lead_reached: "won", lead_source: "web", lead_created_from: "2026-01-01" });
  });
});
