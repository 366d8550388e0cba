/**
 * "Export CSV": every page of the current list (up to MAX_EXPORT rows), read through the API
 * with the list's search, filters and sort, turned into CSV in the browser.
 */
import type { ApiClient, GetResult } from "../../api/client";
import { csvDocument, type Cell } from "./csv";
import { apiQuery, type ListState } from "./listState";

export const MAX_EXPORT = 10_000;
export const EXPORT_PAGE = 200; // the API's largest page

export type CustomerRow = GetResult<"/v1/customers">["items"][number];

export const CSV_COLUMNS = [
  "customer_id",
  "display_name",
  "email",
  "company",
  "external_ref",
  "owner",
  "lifecycle_stage",
  "region",
  "source",
  "tags",
  "created_at",
  "erased",
] as const;

export function csvRow(customer: CustomerRow): Cell[] {
  return CSV_COLUMNS.map((column) => {
    if (column === "tags") return (customer.tags ?? []).join(";");
    const value = customer[column];
    return typeof value === "string" || typeof value === "number" || typeof value === "boolean" ? value : null;
  });
}

export interface ExportResult {
  csv: string;
  rows: number;
  /** More customers matched than MAX_EXPORT. */
  truncated: boolean;
}

/** Reads the list page after page (from its first), reporting the rows read so far and how
 * many are expected (the first page asks for the total). */
export async function exportCustomers(
  client: ApiClient,
  state: ListState,
  onProgress: (rows: number, expected: number) => void,
  signal?: AbortSignal,
): Promise<ExportResult> {
  const customers: CustomerRow[] = [];
  let cursor = "";
  let truncated = false;
  let expected = MAX_EXPORT;
  for (;;) {
    const limit = Math.min(EXPORT_PAGE, MAX_EXPORT - customers.length);
    const first = customers.length === 0;
    const query = { ...apiQuery(state, limit, cursor), ...(first ? { include_total: true } : {}) };
    const page = await client.get("/v1/customers", { query, signal });
    if (first && typeof page.total === "number") expected = Math.min(page.total, MAX_EXPORT);
    customers.push(...page.items);
    onProgress(customers.length, Math.max(expected, customers.length));
    if (!page.next_cursor || page.items.length === 0) break;
    if (customers.length >= MAX_EXPORT) {
      truncated = true;
      break;
    }
    cursor = page.next_cursor;
  }
  return { csv: csvDocument(CSV_COLUMNS, customers.map(csvRow)), rows: customers.length, truncated };
}
