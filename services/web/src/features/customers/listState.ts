/**
 * The customer list's state — search, filters, sort, order and the page's cursor — as the
 * URL's query string holds it, so a list can be shared, bookmarked and gone back to.
 */
import type { GetQuery } from "../../api/client";
import type { MessageKey } from "../../i18n/messages";

export const LIFECYCLE_STAGES = ["prospect", "engaged", "customer", "loyal", "dormant"] as const;
export type LifecycleStage = (typeof LIFECYCLE_STAGES)[number];
export const SORT_KEYS = ["created_at", "updated_at", "company"] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export const ORDERS = ["desc", "asc"] as const;
export type Order = (typeof ORDERS)[number];

/** The text filters, by their name in the API and in the URL. */
export const TEXT_FILTERS = ["q", "owner", "tag", "region", "source"] as const;
export type TextFilter = (typeof TEXT_FILTERS)[number];

/** The filters on the customers' leads (a funnel figure's customers), by their name in the API and the URL. */
export const LEAD_FILTERS = [
  "lead_reached",
  "lead_source",
  "lead_owner",
  "lead_region",
  "lead_created_from",
  "lead_created_to",
] as const;
export type LeadFilter = (typeof LEAD_FILTERS)[number];

export interface ListState {
  q: string;
  owner: string;
  tag: string;
  region: string;
  source: string;
  lead_reached: string;
  lead_source: string;
  lead_owner: string;
  lead_region: string;
  lead_created_from: string;
  lead_created_to: string;
  lifecycle_stage: LifecycleStage | "";
  sort: SortKey;
  /** "" : the API's default for the sort (newest first by date, A to Z by company). */
  order: Order | "";
  cursor: string;
}

export const EMPTY_STATE: ListState = {
  q: "",
  owner: "",
  tag: "",
  region: "",
  source: "",
  lead_reached: "",
  lead_source: "",
  lead_owner: "",
  lead_region: "",
  lead_created_from: "",
  lead_created_to: "",
  lifecycle_stage: "",
  sort: "created_at",
  order: "",
  cursor: "",
};

function oneOf<T extends string>(values: readonly T[], value: string | null): T | "" {
  return value !== null && (values as readonly string[]).includes(value) ? (value as T) : "";
}

export function stateFromSearch(search: URLSearchParams): ListState {
  const state: ListState = { ...EMPTY_STATE };
  for (const name of TEXT_FILTERS) state[name] = (search.get(name) ?? "").trim();
  for (const name of LEAD_FILTERS) state[name] = (search.get(name) ?? "").trim();
  state.lifecycle_stage = oneOf(LIFECYCLE_STAGES, search.get("lifecycle_stage"));
  state.sort = oneOf(SORT_KEYS, search.get("sort")) || "created_at";
  state.order = oneOf(ORDERS, search.get("order"));
  state.cursor = search.get("cursor") ?? "";
  return state;
}

/** The query string of a state: only what differs from the defaults, in a stable order. */
export function searchFromState(state: ListState): URLSearchParams {
  const search = new URLSearchParams();
  for (const name of TEXT_FILTERS) if (state[name].trim()) search.set(name, state[name].trim());
  for (const name of LEAD_FILTERS) if (state[name].trim()) search.set(name, state[name].trim());
  if (state.lifecycle_stage) search.set("lifecycle_stage", state.lifecycle_stage);
  if (state.sort !== "created_at") search.set("sort", state.sort);
  if (state.order) search.set("order", state.order);
  if (state.cursor) search.set("cursor", state.cursor);
  return search;
}

/** What a saved view keeps: everything but the page's cursor. */
export function viewQuery(state: ListState): string {
  return searchFromState({ ...state, cursor: "" }).toString();
}

/** The GET /v1/customers query of a state. */
export type CustomersQuery = NonNullable<GetQuery<"/v1/customers">>;

export function apiQuery(state: ListState, limit: number, cursor: string = state.cursor): CustomersQuery {
  const query: CustomersQuery = { sort: state.sort, limit };
  for (const name of TEXT_FILTERS) if (state[name]) query[name] = state[name];
  for (const name of LEAD_FILTERS) if (state[name]) query[name] = state[name];
  if (state.lifecycle_stage) query.lifecycle_stage = state.lifecycle_stage;
  if (state.order) query.order = state.order;
  if (cursor) query.cursor = cursor;
  return query;
}

/** A lifecycle stage in the user's language (one the app does not know, as the API says it). */
export function lifecycleLabel(stage: string | null | undefined, t: (key: MessageKey) => string): string {
  if (!stage) return "";
  return (LIFECYCLE_STAGES as readonly string[]).includes(stage) ? t(`lifecycle.${stage}` as MessageKey) : stage;
}
