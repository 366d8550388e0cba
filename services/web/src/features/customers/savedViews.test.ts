import { describe, expect, it } from "vitest";

import { deleteView, loadViews, saveView, viewsKey } from "./savedViews";

function memory() {
  const items = new Map<string, string>();
  return {
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => void items.set(key, value),
    items,
  };
}

describe("saved views", () => {
  it("are kept per tenant and user, sorted by name, a name saved again replaced", () => {
    const storage = memory();
    const mine = viewsKey("default", "rep-1");
    expect(mine).not.toBe(viewsKey("default", "rep-2"));
    saveView(storage, mine, { name: "VIPs", query: "tag=vip" });
    saveView(storage, mine, { name: " EMEA ", query: "region=EMEA" });
    const views = saveView(storage, mine, { name: "VIPs", query: "tag=vip&sort=company" });
    expect(views).toEqual([
      { name: "EMEA", query: "region=EMEA" },
      { name: "VIPs", query: "tag=vip&sort=company" },
    ]);
    expect(loadViews(storage, mine)).toEqual(views);
    expect(loadViews(storage, viewsKey("default", "rep-2"))).toEqual([]);
    expect(deleteView(storage, mine, "EMEA")).toEqual([{ name: "VIPs", query: "tag=vip&sort=company" }]);
  });

  it("ignore a blank name, broken storage and what is not a view", () => {
    const storage = memory();
    expect(saveView(storage, "k", { name: "  ", query: "q=x" })).toEqual([]);
    storage.items.set("k", "not json");
    expect(loadViews(storage, "k")).toEqual([]);
    storage.items.set("k", JSON.stringify([{ name: "ok", query: "" }, { name: 1 }, null]));
    expect(loadViews(storage, "k")).toEqual([{ name: "ok", query: "" }]);
    const failing = {
      getItem: () => {
        throw new Error("disabled");
      },
      setItem: () => {
        throw new Error("disabled");
      },
    };
    expect(loadViews(failing, "k")).toEqual([]);
    // storage that refuses: the view lasts while the page is open
    expect(saveView(failing, "k", { name: "a", query: "" })).toEqual([{ name: "a", query: "" }]);
    expect(loadViews(undefined, "k")).toEqual([]);
  });
});
