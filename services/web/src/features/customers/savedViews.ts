/**
 * Saved views of the customer list: a name and the list's query string (search, filters,
 * sort), kept in this browser's localStorage per tenant and user — the API has no saved
 * views, so they do not follow the user to another browser.
 */

export interface SavedView {
  name: string;
  query: string;
}

export function viewsKey(tenant: string, subject: string): string {
  return `crm.customerViews.${tenant}.${subject}`;
}

type Storage = Pick<globalThis.Storage, "getItem" | "setItem">;

function isView(value: unknown): value is SavedView {
  if (typeof value !== "object" || value === null) return false;
  const view = value as Record<string, unknown>;
  return typeof view["name"] === "string" && typeof view["query"] === "string";
}

export function loadViews(storage: Storage | undefined, key: string): SavedView[] {
  try {
    const parsed: unknown = JSON.parse(storage?.getItem(key) ?? "[]");
    return Array.isArray(parsed) ? parsed.filter(isView) : [];
  } catch {
    return [];
  }
}

function store(storage: Storage | undefined, key: string, views: SavedView[]): SavedView[] {
  try {
    storage?.setItem(key, JSON.stringify(views));
  } catch {
    // storage disabled or full: the views last until the page is left
  }
  return views;
}

/** Saves a view under `name` (replacing one of the same name), sorted by name. */
export function saveView(storage: Storage | undefined, key: string, view: SavedView): SavedView[] {
  const name = view.name.trim();
  if (!name) return loadViews(storage, key);
  const others = loadViews(storage, key).filter((existing) => existing.name !== name);
  const views = [...others, { name, query: view.query }].sort((a, b) => a.name.localeCompare(b.name));
  return store(storage, key, views);
}

export function deleteView(storage: Storage | undefined, key: string, name: string): SavedView[] {
  return store(storage, key, loadViews(storage, key).filter((view) => view.name !== name));
}

export function browserStorage(): Storage | undefined {
  try {
    return typeof window === "undefined" ? undefined : window.localStorage;
  } catch {
    return undefined;
  }
}
