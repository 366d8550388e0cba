"""The one table of who may do what: role × action → scope, and each route's action.

docs/security.md is generated from this module (`crm schemas security`), and the permission
matrix test walks it, so the table, the documentation and the tests cannot drift apart.

A scope says which records an allowed action reaches: `tenant` (every record of the tenant),
`team` (the book of the caller's teams) or `own` (the caller's own book: records they own or
created, and leads waiting for assignment).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from services.common.auth.principal import Principal

Scope = Literal["tenant", "team", "own"]
SCOPE_RANK: dict[Scope, int] = {"own": 1, "team": 2, "tenant": 3}


@dataclass(frozen=True)
class Action:
    name: str
    summary: str


ACTIONS: tuple[Action, ...] = (
    Action("me.read", "See who you are signed in as; sign out"),
    Action("customers.read", "Customer-360, lists and search, timelines, tickets"),
    Action("customers.register", "Register a customer"),
    Action("customers.change", "Change a customer's profile, tags and consents"),
    Action("customers.reassign", "Give a customer another owner"),
    Action("customers.erase", "Erase a customer's personal data for good (crypto-shredding)"),
    Action("customers.export", "Everything about a customer as one document (subject access, "
           "portability)"),
    Action("interactions.log", "Log an interaction"),
    Action("purchases.record", "Record a purchase"),
    Action("leads.read", "Lead lists and lead pages (stage history, discounts, payments, "
           "follow-up deadline, alerts)"),
    Action("leads.create", "Create a lead"),
    Action("leads.work", "Move a lead through the pipeline, change its amount, record payments"),
    Action("leads.assign", "Assign a lead to someone"),
    Action("discounts.request", "Ask for a discount on a lead"),
    Action("discounts.decide", "Approve or reject a discount (also the tier's approver, or an "
           "admin)"),
    Action("tickets.open", "Open a support ticket"),
    Action("tickets.work", "Change a ticket's status or priority, comment on it"),
    Action("tickets.assign", "Assign a ticket"),
    Action("tasks.read", "List tasks (by assignee, due time, status, customer, lead or ticket)"),
    Action("tasks.create", "Give someone a task for a customer, with a due time and a reminder"),
    Action("tasks.work", "Complete, reschedule, reassign or cancel a task"),
    Action("notes.write", "Write a note on a customer, a lead or a ticket"),
    Action("notes.edit", "Edit or delete a note: your own (an admin: any)"),
    Action("alerts.read", "Read alerts"),
    Action("alerts.work", "Acknowledge and resolve alerts"),
    Action("history.read", "A customer's audit history, every event with its actor"),
    Action("events.stream", "The live stream of events as they are stored (GET /v1/stream), "
           "personal values sealed"),
    Action("audit.read", "Who read which customer's personal data, and when"),
    Action("audit.verify", "Verify the event log: recompute its hash chain, check its signed "
           "checkpoints"),
    Action("analytics.read", "Funnel, lifecycle, retention and service analytics"),
    Action("rules.read", "Read the tenant's rules and their history"),
    Action("rules.write", "Replace the tenant's rules"),
    Action("keys.read", "List API keys (never their secrets)"),
    Action("keys.manage", "Create and revoke API keys"),
    Action("users.read", "List local accounts (never their passwords)"),
    Action("users.manage", "Add local accounts, give them a new password, disable them"),
    Action("operations.read", "Projection status and metrics"),
)
ACTION_NAMES: frozenset[str] = frozenset(action.name for action in ACTIONS)

ROLES: dict[str, str] = {
    "admin": "Everything in the tenant: rules, keys, and every record",
    "sales_manager": "The book of their teams; approves discounts as the rules' tiers say",
    "sales_rep": "Their own book: customers and leads they own or created, leads waiting for "
                 "assignment",
    "support_agent": "Tickets, and the contact data a ticket needs; no lead amounts or discounts",
    "analyst": "Analytics; customer reads without personal data",
    "auditor": "Read-only over the whole tenant: history, audit and operations",
    "integration": "Only what the scopes on its key allow",
}

_SALES_WORK = ("customers.read", "leads.read", "customers.register", "customers.change",
               "interactions.log",
               "purchases.record", "leads.create", "leads.work", "discounts.request",
               "tickets.open", "alerts.read", "alerts.work", "history.read", "analytics.read",
               "tasks.read", "tasks.create", "tasks.work", "notes.write")


def _grant(scope: Scope, actions: Iterable[str]) -> dict[str, Scope]:
    return {action: scope for action in actions}


TABLE: dict[str, dict[str, Scope]] = {
    "admin": _grant("tenant", ACTION_NAMES),
    "sales_manager": {
        **_grant("team", (*_SALES_WORK, "customers.reassign", "leads.assign", "discounts.decide",
                          "tickets.work", "tickets.assign", "events.stream")),
        **_grant("tenant", ("me.read", "rules.read", "operations.read")),
        **_grant("own", ("notes.edit",)),
    },
    "sales_rep": {**_grant("own", (*_SALES_WORK, "events.stream", "notes.edit")),
                  **_grant("tenant", ("me.read", "rules.read"))},
    "support_agent": {
        **_grant("tenant", ("me.read", "customers.read", "interactions.log", "tickets.open",
                            "tickets.work", "tickets.assign", "tasks.create", "notes.write")),
        **_grant("own", ("alerts.read", "alerts.work", "tasks.read", "tasks.work",
                         "notes.edit")),
    },
    "analyst": _grant("tenant", ("me.read", "customers.read", "leads.read", "analytics.read",
                                 "rules.read",
                                 "operations.read", "events.stream")),
    "auditor": _grant("tenant", ("me.read", "customers.read", "leads.read", "history.read",
                                 "audit.read",
                                 "customers.export", "tasks.read",
                                 "audit.verify", "events.stream",
                                 "analytics.read", "alerts.read", "rules.read", "keys.read",
                                 "operations.read")),
    "integration": _grant("tenant", ("me.read",)),
}
"""role → action → scope. An action missing from a role's row is refused (403)."""

SCOPES: dict[str, tuple[str, ...]] = {
    "customers:read": ("customers.read",),
    "customers:write": ("customers.register", "customers.change", "interactions.log",
                        "purchases.record"),
    "leads:read": ("customers.read", "leads.read"),
    "leads:write": ("leads.create", "leads.work", "discounts.request"),
    "tickets:write": ("tickets.open", "tickets.work"),
    "events:read": ("history.read", "events.stream"),
    "analytics:read": ("analytics.read",),
    "alerts:read": ("alerts.read",),
    "tasks:read": ("tasks.read",),
    "tasks:write": ("tasks.create", "tasks.work"),
    "notes:write": ("notes.write",),
    "rules:read": ("rules.read",),
    "operations:read": ("operations.read",),
}
"""What each scope of an `integration` key allows, across the tenant."""

FIELDS_WITHHELD: dict[str, tuple[str, ...]] = {
    "analyst": ("personal",),
    "support_agent": ("lead amounts", "discounts"),
}
"""What a role's customer reads leave out (documented; applied by the read side)."""


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    action: str


ROUTES: tuple[Route, ...] = (
    Route("GET", "/v1/me", "me.read"),
    Route("GET", "/v1/session", "me.read"),
    Route("DELETE", "/v1/session", "me.read"),
    Route("POST", "/v1/customers", "customers.register"),
    Route("GET", "/v1/customers", "customers.read"),
    Route("GET", "/v1/customers/{customer_id}", "customers.read"),
    Route("GET", "/v1/customers/{customer_id}/timeline", "customers.read"),
    Route("GET", "/v1/customers/{customer_id}/history", "history.read"),
    Route("GET", "/v1/customers/{customer_id}/export", "customers.export"),
    Route("POST", "/v1/customers/{customer_id}/profile", "customers.change"),
    Route("POST", "/v1/customers/{customer_id}/erase", "customers.erase"),
    Route("POST", "/v1/customers/{customer_id}/tags", "customers.change"),
    Route("DELETE", "/v1/customers/{customer_id}/tags/{tag}", "customers.change"),
    Route("POST", "/v1/customers/{customer_id}/consents", "customers.change"),
    Route("POST", "/v1/customers/{customer_id}/owner", "customers.reassign"),
    Route("POST", "/v1/customers/{customer_id}/interactions", "interactions.log"),
    Route("POST", "/v1/customers/{customer_id}/tickets", "tickets.open"),
    Route("POST", "/v1/customers/{customer_id}/purchases", "purchases.record"),
    Route("GET", "/v1/leads", "leads.read"),
    Route("GET", "/v1/leads/{lead_id}", "leads.read"),
    Route("POST", "/v1/leads", "leads.create"),
    Route("POST", "/v1/leads/{lead_id}/stage", "leads.work"),
    Route("POST", "/v1/leads/{lead_id}/amount", "leads.work"),
    Route("POST", "/v1/leads/{lead_id}/payments", "leads.work"),
    Route("POST", "/v1/leads/{lead_id}/assign", "leads.assign"),
    Route("POST", "/v1/leads/{lead_id}/discounts", "discounts.request"),
    Route("POST", "/v1/leads/{lead_id}/discounts/{discount_id}/approve", "discounts.decide"),
    Route("POST", "/v1/leads/{lead_id}/discounts/{discount_id}/reject", "discounts.decide"),
    Route("POST", "/v1/tickets/{ticket_id}/status", "tickets.work"),
    Route("POST", "/v1/tickets/{ticket_id}/comments", "tickets.work"),
    Route("POST", "/v1/tickets/{ticket_id}/priority", "tickets.work"),
    Route("POST", "/v1/tickets/{ticket_id}/assign", "tickets.assign"),
    Route("POST", "/v1/tasks", "tasks.create"),
    Route("GET", "/v1/tasks", "tasks.read"),
    Route("POST", "/v1/tasks/{task_id}/complete", "tasks.work"),
    Route("POST", "/v1/tasks/{task_id}/reschedule", "tasks.work"),
    Route("POST", "/v1/tasks/{task_id}/reassign", "tasks.work"),
    Route("POST", "/v1/tasks/{task_id}/cancel", "tasks.work"),
    Route("POST", "/v1/customers/{customer_id}/notes", "notes.write"),
    Route("GET", "/v1/customers/{customer_id}/notes", "customers.read"),
    Route("POST", "/v1/leads/{lead_id}/notes", "notes.write"),
    Route("POST", "/v1/tickets/{ticket_id}/notes", "notes.write"),
    Route("POST", "/v1/notes/{note_id}/edit", "notes.edit"),
    Route("DELETE", "/v1/notes/{note_id}", "notes.edit"),
    Route("GET", "/v1/tickets", "customers.read"),
    Route("GET", "/v1/tickets/{ticket_id}", "customers.read"),
    Route("GET", "/v1/alerts", "alerts.read"),
    Route("POST", "/v1/alerts/{alert_id}/acknowledge", "alerts.work"),
    Route("POST", "/v1/alerts/{alert_id}/resolve", "alerts.work"),
    Route("GET", "/v1/analytics/funnel", "analytics.read"),
    Route("GET", "/v1/analytics/lifecycle", "analytics.read"),
    Route("GET", "/v1/analytics/retention", "analytics.read"),
    Route("GET", "/v1/analytics/service", "analytics.read"),
    Route("GET", "/v1/analytics/sales", "analytics.read"),
    Route("GET", "/v1/rules", "rules.read"),
    Route("GET", "/v1/rules/history", "rules.read"),
    Route("PUT", "/v1/rules", "rules.write"),
    Route("POST", "/v1/rules/check", "rules.write"),
    Route("GET", "/v1/admin/keys", "keys.read"),
    Route("POST", "/v1/admin/keys", "keys.manage"),
    Route("DELETE", "/v1/admin/keys/{key_id}", "keys.manage"),
    Route("GET", "/v1/admin/users", "users.read"),
    Route("POST", "/v1/admin/users", "users.manage"),
    Route("POST", "/v1/admin/users/{name}/password", "users.manage"),
    Route("POST", "/v1/admin/users/{name}/disable", "users.manage"),
    Route("GET", "/v1/audit/access", "audit.read"),
    Route("GET", "/v1/audit/verify", "audit.verify"),
    Route("GET", "/v1/projections", "operations.read"),
    Route("GET", "/v1/projections/{name}/dead-letters", "operations.read"),
    Route("GET", "/metrics", "operations.read"),
    Route("GET", "/v1/stream", "events.stream"),
    Route("POST", "/v1/stream/tickets", "events.stream"),
)
ACTION_OF: dict[tuple[str, str], str] = {(r.method, r.path): r.action for r in ROUTES}

PUBLIC_PATHS: frozenset[str] = frozenset({
    "/health", "/ready", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
"""Served without credentials: probes and the API's own description."""
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/v1/session"), ("GET", "/v1/session/methods"),
    ("GET", "/v1/session/oidc/start"), ("GET", "/v1/session/oidc/callback")})
"""(method, path) served without credentials: signing in with a name and a password, or at
the identity provider (services/common/auth/oidc_login.py), and which of the two is offered."""


def is_public(method: str, path: str) -> bool:
    return path in PUBLIC_PATHS or (method.upper(), path) in PUBLIC_ROUTES


def scope_of(principal: Principal, action: str) -> Scope | None:
    """The widest scope any of the principal's roles (or its key's scopes) gives `action`;
    None when none allows it. Anyone signed in may ask who they are."""
    if action == "me.read":
        return "tenant"
    best: Scope | None = None
    for role in principal.roles:
        granted = TABLE.get(role, {}).get(action)
        if granted is not None and (best is None or SCOPE_RANK[granted] > SCOPE_RANK[best]):
            best = granted
    if best is None and "integration" in principal.roles and any(
            action in SCOPES.get(scope, ()) for scope in principal.scopes):
        best = "tenant"
    return best


def _check_table() -> None:
    unknown = {a for row in TABLE.values() for a in row} - ACTION_NAMES
    unknown |= {r.action for r in ROUTES} - ACTION_NAMES
    unknown |= {a for actions in SCOPES.values() for a in actions} - ACTION_NAMES
    assert not unknown, f"the permission table names unknown actions: {sorted(unknown)}"
    assert set(TABLE) == set(ROLES), "every role has one row in the table"
    assert len(ACTION_OF) == len(ROUTES), "a route is listed twice"


_check_table()
