/**
 * The dashboards' filters as the URL's query string holds them, and the links from a figure
 * to the customers behind it.
 */
export const ACTIVITIES = ["purchase", "interaction", "any"] as const;
export type Activity = (typeof ACTIVITIES)[number];
export const FUNNEL_MODES = ["reached", "in_order"] as const;
export type FunnelMode = (typeof FUNNEL_MODES)[number];

export interface DashboardFilters {
  /** Business dates (YYYY-MM-DD): `from` inclusive, `to` exclusive; "" for unbounded. */
  from: string;
  to: string;
  source: string;
  owner: string;
  region: string;
  /** The lifecycle counts' date; "" for now. */
  as_of: string;
  /** The service figures' ticket channel and assignee. */
  channel: string;
  assignee: string;
  activity: Activity;
  mode: FunnelMode;
}

export const EMPTY_FILTERS: DashboardFilters = {
  from: "",
  to: "",
  source: "",
  owner: "",
  region: "",
  as_of: "",
  channel: "",
  assignee: "",
  activity: "purchase",
  mode: "reached",
};

const TEXT = ["from", "to", "source", "owner", "region", "as_of", "channel", "assignee"] as const;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function filtersFromSearch(search: URLSearchParams): DashboardFilters {
  const filters: DashboardFilters = { ...EMPTY_FILTERS };
  for (const name of TEXT) filters[name] = (search.get(name) ?? "").trim();
  for (const name of ["from", "to", "as_of"] as const) if (!DATE.test(filters[name])) filters[name] = "";
  const activity = search.get("activity");
  if ((ACTIVITIES as readonly (string | null)[]).includes(activity)) filters.activity = activity as Activity;
  const mode = search.get("mode");
  if ((FUNNEL_MODES as readonly (string | null)[]).includes(mode)) filters.mode = mode as FunnelMode;
  return filters;
}

export function searchFromFilters(filters: DashboardFilters): URLSearchParams {
  const search = new URLSearchParams();
  for (const name of TEXT) if (filters[name].trim()) search.set(name, filters[name].trim());
  if (filters.activity !== "purchase") search.set("activity", filters.activity);
  if (filters.mode !== "reached") search.set("mode", filters.mode);
  return search;
}

/** The query of the funnel and retention routes (they take the same filters). */
export function segmentQuery(filters: DashboardFilters) {
  return {
    from: filters.from || undefined,
    to: filters.to || undefined,
    source: filters.source || undefined,
    owner: filters.owner || undefined,
    region: filters.region || undefined,
  };
}

/** The customers with a lead in this funnel stage, selected as the funnel selects leads. */
export function funnelStageLink(filters: DashboardFilters, stage: string): string {
  const search = new URLSearchParams();
  search.set("lead_reached", stage);
  if (filters.source) search.set("lead_source", filters.source);
  if (filters.owner) search.set("lead_owner", filters.owner);
  if (filters.region) search.set("lead_region", filters.region);
  if (filters.from) search.set("lead_created_from", filters.from);
  if (filters.to) search.set("lead_created_to", filters.to);
  return `/customers?${search.toString()}`;
}

/** The customers in a lifecycle stage now (the list cannot say "as of" a past date). */
export function lifecycleLink(stage: string): string {
  return `/customers?${new URLSearchParams({ lifecycle_stage: stage }).toString()}`;
}

/** The tickets of a priority. */
export function priorityLink(priority: string): string {
  return `/tickets?${new URLSearchParams({ priority }).toString()}`;
}

/**
 * The customers with a lead in the dashboard's slice — as GET /v1/analytics/sales selects
 * leads — narrowed to one owner or source (a group's key) and, with `reached`, to the leads
 * that reached that stage (`won`, `lost`).
 */
export function salesLink(
  filters: DashboardFilters,
  group: { owner?: string; source?: string; reached?: "won" | "lost" },
): string {
  const search = new URLSearchParams();
  if (group.reached) search.set("lead_reached", group.reached);
  const source = group.source ?? filters.source;
  const owner = group.owner ?? filters.owner;
  if (source) search.set("lead_source", source);
  if (owner) search.set("lead_owner", owner);
  if (filters.region) search.set("lead_region", filters.region);
  if (filters.from) search.set("lead_created_from", filters.from);
  if (filters.to) search.set("lead_created_to", filters.to);
  return `/customers?${search.toString()}`;
}

/** An owner's open leads on the pipeline board. */
export function boardLink(owner: string): string {
  return `/pipeline?${new URLSearchParams({ owner }).toString()}`;
}
