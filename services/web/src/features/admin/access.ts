import type { Me } from "../../api/session";
import type { MessageKey } from "../../i18n/messages";

/** The parts of the Admin area, each shown to whoever may take the action it needs. */
export const SECTIONS: ReadonlyArray<{ path: string; label: MessageKey; action: string }> = [
  { path: "rules", label: "admin.rules.nav", action: "rules.write" },
  { path: "users", label: "admin.users.nav", action: "users.read" },
  { path: "keys", label: "admin.keys.nav", action: "keys.read" },
  { path: "read-models", label: "admin.readModels.nav", action: "operations.read" },
];

export function may(me: Pick<Me, "permissions">, action: string): boolean {
  return me.permissions[action] !== undefined;
}

/** The sections `me` may open (none: the Admin area is not theirs). */
export function sectionsFor(me: Pick<Me, "permissions">) {
  return SECTIONS.filter((section) => may(me, section.action));
}

/** Whether the Admin area shows in the navigation for `me`. */
export function canSeeAdmin(me: Pick<Me, "permissions">): boolean {
  return sectionsFor(me).length > 0;
}

/** The role of a person's account (an integration is a program's key, not a person). */
export const PERSON_ROLES = ["admin", "sales_manager", "sales_rep", "support_agent", "analyst", "auditor"] as const;
export const KEY_ROLES = [...PERSON_ROLES, "integration"] as const;
export const KEY_SCOPES = [
  "customers:read",
  "customers:write",
  "leads:read",
  "leads:write",
  "tickets:write",
  "events:read",
  "analytics:read",
  "alerts:read",
  "tasks:read",
  "tasks:write",
  "notes:write",
  "rules:read",
  "operations:read",
] as const;

export function roleLabel(t: (key: MessageKey) => string, role: string): string {
  const key = `admin.role.${role}` as MessageKey;
  const text = t(key);
  return text === undefined || text === key ? role : text;
}
