import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Route } from "react-router";

import { CustomerPage } from "./CustomerPage";
import { CustomersPage } from "./CustomersPage";
import { viewsKey } from "./savedViews";
import { json, renderPage } from "./testing";

afterEach(cleanup);
beforeEach(() => window.localStorage.clear());

const ADA = {
  customer_id: "c-ada",
  name: "Ada Lovelace",
  display_name: "Ada Lovelace",
  email: "ada@example.com",
  erased: false,
  company: "Engines Ltd",
  owner: "rep-1",
  region: "EMEA",
  source: "web",
  lifecycle_stage: "customer",
  tags: ["vip"],
  created_at: "2026-03-02T09:00:00+00:00",
};
const GONE = { customer_id: "c-gone", display_name: null, erased: true, company: "Old Co", tags: [] };

const routes = (
  <>
    <Route path="/customers" element={<CustomersPage />} />
    <Route path="/customers/:customerId" element={<p>customer page</p>} />
  </>
);

function location() {
  return screen.getByTestId("location").textContent ?? "";
}

describe("the customer list", () => {
  it("asks the API for the list the URL names and shows it, linking each customer", async () => {
    const urls = renderPage(routes, "/customers?q=ada&lifecycle_stage=customer&sort=company", () =>
      json(200, { items: [ADA, GONE], next_cursor: null }),
    );
    const table = await screen.findByRole("table");
    expect(urls[0]).toBe("/v1/customers?sort=company&limit=50&q=ada&lifecycle_stage=customer");
    expect(within(table).getByRole("link", { name: "Ada Lovelace" }).getAttribute("href")).toBe("/customers/c-ada");
    expect(within(table).getByText("Engines Ltd")).toBeTruthy();
    expect(within(table).getByText("Customer")).toBeTruthy();
    expect(within(table).getByRole("link", { name: "Erased customer" })).toBeTruthy();
    expect((screen.getByLabelText("Search") as HTMLInputElement).value).toBe("ada");
    expect((screen.getByLabelText("Lifecycle stage") as HTMLSelectElement).value).toBe("customer");
    expect((screen.getByLabelText("Sort by") as HTMLSelectElement).value).toBe("company");
    expect(screen.queryByRole("button", { name: "Next page" })).toBeNull();
  });

  it("puts a search and filters in the URL, and pages on with the cursor", async () => {
    const user = userEvent.setup();
    const urls = renderPage(routes, "/customers", (url) =>
      url.searchParams.get("cursor") === "p2"
        ? json(200, { items: [GONE], next_cursor: null })
        : json(200, { items: [ADA], next_cursor: "p2" }),
    );
    await screen.findByRole("table");
    await user.type(screen.getByLabelText("Search"), "Engines");
    await user.type(screen.getByLabelText("Region"), "EMEA");
    await user.selectOptions(screen.getByLabelText("Order"), "asc");
    await user.click(screen.getByRole("button", { name: "Search" }));
    await waitFor(() => expect(location()).toBe("/customers?q=Engines&region=EMEA&order=asc"));
    await waitFor(() => expect(urls).toContain("/v1/customers?sort=created_at&limit=50&q=Engines&region=EMEA&order=asc"));

    const next = await screen.findByRole("button", { name: "Next page" });
    await waitFor(() => expect((next as HTMLButtonElement).disabled).toBe(false));
    await user.click(next);
    await waitFor(() => expect(location()).toBe("/customers?q=Engines&region=EMEA&order=asc&cursor=p2"));
    expect(await screen.findByRole("link", { name: "Erased customer" })).toBeTruthy();
    await user.click(screen.getByRole("button", { name: "First page" }));
    await waitFor(() => expect(location()).toBe("/customers?q=Engines&region=EMEA&order=asc"));
  });

  it("saves the current search as a view of this user, opens and deletes it", async () => {
    const user = userEvent.setup();
    renderPage(routes, "/customers?tag=vip&cursor=p9", () => json(200, { items: [ADA], next_cursor: null }));
    await screen.findByRole("table");
    expect(screen.getByText("No saved views yet.")).toBeTruthy();
    await user.type(screen.getByLabelText("View name"), "My VIPs");
    await user.click(screen.getByRole("button", { name: "Save view" }));
    const link = await screen.findByRole("link", { name: "My VIPs" });
    expect(link.getAttribute("href")).toBe("/customers?tag=vip");
    expect(JSON.parse(window.localStorage.getItem(viewsKey("default", "rep-1")) ?? "[]")).toEqual([
      { name: "My VIPs", query: "tag=vip" },
    ]);
    await user.click(screen.getByRole("button", { name: "Delete view My VIPs" }));
    expect(screen.queryByRole("link", { name: "My VIPs" })).toBeNull();
  });

  it("exports every page of the list as a CSV file, showing progress", async () => {
    const user = userEvent.setup();
    const blobs: Blob[] = [];
    const created = URL.createObjectURL;
    const revoked = URL.revokeObjectURL;
    URL.createObjectURL = (blob: Blob | MediaSource) => {
      blobs.push(blob as Blob);
      return "blob:app/1";
    };
    URL.revokeObjectURL = () => undefined;
    const clicked: string[] = [];
    const click = HTMLAnchorElement.prototype.click;
    HTMLAnchorElement.prototype.click = function (this: HTMLAnchorElement) {
      clicked.push(this.download);
    };
    try {
      renderPage(routes, "/customers?q=ada", (url) =>
        url.searchParams.get("cursor") === "p2"
          ? json(200, { items: [GONE], next_cursor: null })
          : json(200, { items: [ADA], next_cursor: "p2", total: 2 }),
      );
      await screen.findByRole("table");
      await user.click(screen.getByRole("button", { name: "Export CSV" }));
      expect(await screen.findByText("Exported 2 customers.")).toBeTruthy();
      expect(clicked).toHaveLength(1);
      expect(clicked[0]).toMatch(/^customers-.*\.csv$/);
      const text = await blobs[0]!.text();
      expect(text).toContain("c-ada,Ada Lovelace,ada@example.com,Engines Ltd");
      expect(text.split("\r\n")).toHaveLength(4);
    } finally {
      URL.createObjectURL = created;
      URL.revokeObjectURL = revoked;
      HTMLAnchorElement.prototype.click = click;
    }
  });

  it("shows the API's refusal", async () => {
    renderPage(routes, "/customers", () => json(403, { code: "forbidden", message: "no", details: {} }));
    expect((await screen.findByRole("alert")).textContent).toBe("You are not allowed to do this.");
  });

  it("speaks Simplified Chinese, every control labelled", async () => {
    renderPage(routes, "/customers", () => json(200, { items: [ADA], next_cursor: null }), "zh-CN");
    await screen.findByRole("table");
    expect(screen.getByRole("heading", { name: "客户", level: 1 })).toBeTruthy();
    for (const label of ["搜索", "生命周期阶段", "负责人", "标签", "地区", "来源", "排序依据", "顺序", "视图名称"]) {
      expect(screen.getByLabelText(label)).toBeTruthy();
    }
    expect(screen.getByRole("button", { name: "导出 CSV" })).toBeTruthy();
  });

  it("links a row to the customer page", async () => {
    const user = userEvent.setup();
    renderPage(
      <>
        <Route path="/customers" element={<CustomersPage />} />
        <Route path="/customers/:customerId" element={<CustomerPage />} />
      </>,
      "/customers",
      (url) =>
        url.pathname === "/v1/customers"
          ? json(200, { items: [ADA], next_cursor: null })
          : url.pathname.endsWith("/timeline")
            ? json(200, { items: [], next_cursor: null })
            : json(200, { customer_id: "c-ada", display_name: "Ada Lovelace", company: "Engines Ltd", version: 1 }),
    );
    await user.click(await screen.findByRole("link", { name: "Ada Lovelace" }));
    expect(await screen.findByRole("heading", { name: "Ada Lovelace", level: 1 })).toBeTruthy();
    expect(location()).toBe("/customers/c-ada");
  });
});
