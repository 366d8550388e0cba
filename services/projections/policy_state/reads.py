"""Every query the automation policies make of the policy state, in either SQL dialect.

Each answers one question a policy asks ("which open leads have no owner", "which tickets are
past their first-response deadline") with rows of the policy_state tables; the policies decide
from those rows and a clock, and never write SQL themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from services.common.times import iso
from services.projections.policy_state.projection import (
    ALERTS,
    CUSTOMERS,
    DISCOUNTS,
    ERASED,
    LEADS,
    TASKS,
    TICKETS,
    PolicyStateProjection,
)
from services.projections.stores.sql import SqlReadStore

NAME = PolicyStateProjection.name

Row = dict[str, Any]
Sla = Literal["first_response", "resolution"]
SLA_CLOCKS: dict[Sla, tuple[str, str]] = {
    # sla: (the column its clock starts from, the event that started it)
    "first_response": ("opened_at", "open_event_id"),
    "resolution": ("resolution_since", "resolution_event_id"),
}
ClearedKind = Literal["follow_up_overdue", "sla_breached", "discount_approval",
                      "task_reminder", "task_overdue"]

_ACTIVE_ALERT = "a.tenant_id = ? AND a.status IN ('open', 'acknowledged')"
_CLEARED: dict[ClearedKind, str] = {
    # Each gives the tenant's active alerts of its kind whose cause has gone, with the event
    # that cleared it as `cause`.
    "follow_up_overdue":
        "SELECT a.*, CASE WHEN c.contacted_at > l.touched_at THEN c.contact_event_id "
        f"ELSE l.touch_event_id END AS cause FROM {ALERTS.name} a "
        f"JOIN {LEADS.name} l ON l.id = a.subject_id "
        f"LEFT JOIN {CUSTOMERS.name} c ON c.id = l.customer_id "
        f"WHERE {_ACTIVE_ALERT} AND a.kind = 'follow_up_overdue' "
        "AND (l.open = ? OR l.touched_at >= a.raised_at OR c.contacted_at >= a.raised_at) LIMIT ?",
    "sla_breached":
        f"SELECT a.*, t.status_event_id AS cause FROM {ALERTS.name} a "
        f"JOIN {TICKETS.name} t ON t.id = a.subject_id "
        f"WHERE {_ACTIVE_ALERT} AND a.kind = 'sla_breached' AND t.open = ? LIMIT ?",
    "discount_approval":
        f"SELECT a.*, COALESCE((SELECT d.decided_event_id FROM {DISCOUNTS.name} d "
        "WHERE d.lead_id = l.id AND d.decided_event_id IS NOT NULL ORDER BY d.position DESC "
        f"LIMIT 1), l.touch_event_id) AS cause FROM {ALERTS.name} a "
        f"JOIN {LEADS.name} l ON l.id = a.subject_id "
        f"WHERE {_ACTIVE_ALERT} AND a.kind = 'discount_approval' AND (l.open = ? OR NOT EXISTS "
        f"(SELECT 1 FROM {DISCOUNTS.name} d WHERE d.lead_id = l.id AND d.status = 'pending')) "
        "LIMIT ?",
    # A task's alerts are about one due time (`a.due_at`): they clear when the task is closed
    # or moved to another time; its reminder also when it is recorded overdue.
    "task_reminder":
        "SELECT a.*, CASE WHEN t.open = ? THEN t.close_event_id "
        "WHEN t.due_at <> a.due_at THEN t.schedule_event_id ELSE t.overdue_event_id END AS cause "
        f"FROM {ALERTS.name} a JOIN {TASKS.name} t ON t.id = a.subject_id "
        f"WHERE {_ACTIVE_ALERT} AND a.kind = 'task_reminder' "
        "AND (t.open = ? OR t.due_at <> a.due_at OR t.overdue_for = a.due_at) LIMIT ?",
    "task_overdue":
        "SELECT a.*, CASE WHEN t.open = ? THEN t.close_event_id ELSE t.schedule_event_id END "
        f"AS cause FROM {ALERTS.name} a JOIN {TASKS.name} t ON t.id = a.subject_id "
        f"WHERE {_ACTIVE_ALERT} AND a.kind = 'task_overdue' "
        "AND (t.open = ? OR t.due_at <> a.due_at) LIMIT ?",
}
_CAUSE_FIRST: frozenset[ClearedKind] = frozenset({"task_reminder", "task_overdue"})
"""Kinds whose query asks `open = ?` once more, in the cause, before the tenant."""


class PolicyStateReads:
    """The policy state of one read-model store, as the policies ask for it."""

    def __init__(self, store: SqlReadStore) -> None:
        self.store = store

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.store.query(sql, [iso(p) if isinstance(p, datetime) else p for p in params])

    def tenants(self) -> list[str]:
        """Every tenant with a customer: one index seek per tenant (a loose index scan)
        instead of reading every customer."""
        table = CUSTOMERS.name
        found = self._rows(
            "WITH RECURSIVE t(tenant_id) AS ("
            f" SELECT MIN(tenant_id) FROM {table}"
            " UNION ALL"
            f" SELECT (SELECT MIN(c.tenant_id) FROM {table} c WHERE c.tenant_id > t.tenant_id)"
            " FROM t WHERE t.tenant_id IS NOT NULL)"
            " SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL")
        return sorted(row["tenant_id"] for row in found)

    # -- leads --------------------------------------------------------------------------------

    def open_leads_per_owner(self, tenant: str) -> dict[str, int]:
        return {r["owner"]: int(r["n"]) for r in self._rows(
            f"SELECT owner, COUNT(*) AS n FROM {LEADS.name} WHERE tenant_id = ? AND open = ? "
            "AND owner IS NOT NULL GROUP BY owner", [tenant, True])}

    def last_rule_assignment_per_owner(self, tenant: str) -> dict[str, int]:
        """The position of the latest lead a rule gave each owner."""
        return {r["owner"]: int(r["p"]) for r in self._rows(
            f"SELECT owner, MAX(rule_assigned_position) AS p FROM {LEADS.name} "
            "WHERE tenant_id = ? AND rule_assigned_position IS NOT NULL GROUP BY owner",
            [tenant])}

    def unassigned_leads(self, tenant: str, *, limit: int,
                         after_position: int | None = None) -> list[Row]:
        """Open leads without an owner, in creation order, after `after_position`."""
        return self._page(f"SELECT * FROM {LEADS.name} WHERE tenant_id = ? AND open = ? "
                          "AND owner IS NULL", [tenant, True], limit, after_position)

    def hand_over_candidates(self, tenant: str, stages: Sequence[str], keep_with: Sequence[str],
                             *, limit: int, after_position: int | None = None) -> list[Row]:
        """Owned open leads in one of `stages`, with nobody in `keep_with`, that no rule has
        assigned in their current stage yet; in creation order, after `after_position`."""
        sql = (f"SELECT * FROM {LEADS.name} WHERE tenant_id = ? AND open = ? "
               f"AND owner IS NOT NULL AND stage IN ({', '.join('?' for _ in stages)}) "
               f"AND owner NOT IN ({', '.join('?' for _ in keep_with)}) "
               "AND (rule_assigned_stage IS NULL OR rule_assigned_stage <> stage)")
        return self._page(sql, [tenant, True, *stages, *keep_with], limit, after_position)

    def _page(self, sql: str, params: list[Any], limit: int,
              after_position: int | None) -> list[Row]:
        if after_position is not None:
            sql += " AND created_position > ?"
            params = [*params, after_position]
        return self._rows(f"{sql} ORDER BY created_position LIMIT ?", [*params, limit])

    def leads_without_contact(self, tenant: str, stage: str, since: datetime, *,
                              limit: int) -> list[Row]:
        """Open leads in `stage` neither touched nor their customer contacted after `since`,
        and not flagged after it either; each with its customer's last contact."""
        return self._rows(
            f"SELECT l.*, c.contacted_at, c.contact_event_id FROM {LEADS.name} l "
            f"LEFT JOIN {CUSTOMERS.name} c ON c.id = l.customer_id "
            "WHERE l.tenant_id = ? AND l.open = ? AND l.stage = ? AND l.touched_at <= ? "
            "AND (l.overdue_at IS NULL OR l.overdue_at <= ?) "
            "AND (c.contacted_at IS NULL OR c.contacted_at <= ?) "
            "ORDER BY l.touched_at LIMIT ?", [tenant, True, stage, since, since, since, limit])

    # -- discounts, tickets, customers --------------------------------------------------------

    def discounts_awaiting_approver(self, tenant: str, *, limit: int) -> list[Row]:
        """Pending discounts that need an approval nobody was asked for, on open leads; each
        with its lead's title."""
        return self._rows(
            f"SELECT d.*, l.title FROM {DISCOUNTS.name} d JOIN {LEADS.name} l "
            "ON l.id = d.lead_id WHERE d.tenant_id = ? AND d.status = 'pending' "
            "AND d.requires_approval = ? AND d.approver IS NULL AND l.open = ? "
            "ORDER BY d.position LIMIT ?", [tenant, True, True, limit])

    def tickets_past_sla(self, tenant: str, sla: Sla, priority: str, started_before: datetime,
                         *, limit: int) -> list[Row]:
        """Open tickets of `priority` whose `sla` clock started before `started_before` and
        that have not met or breached it yet. Resolution time runs while the team works on
        the ticket, not while it waits on the customer (`pending`)."""
        anchor, _ = SLA_CLOCKS[sla]
        if sla == "first_response":
            condition, flags = "responded = ? AND first_response_breached = ?", [False, False]
        else:
            condition, flags = "resolution_breached = ? AND status <> 'pending'", [False]
        return self._rows(
            f"SELECT * FROM {TICKETS.name} WHERE tenant_id = ? AND open = ? AND priority = ? "
            f"AND {condition} AND {anchor} <= ? ORDER BY {anchor} LIMIT ?",
            [tenant, True, priority, *flags, started_before, limit])

    def tasks_to_remind(self, tenant: str, now: datetime, *, limit: int) -> list[Row]:
        """Open tasks whose reminder time has come and whose assignee was not yet reminded of
        their current due time; soonest reminder first."""
        return self._rows(
            f"SELECT t.* FROM {TASKS.name} t WHERE t.tenant_id = ? AND t.open = ? "
            "AND t.remind_at <= ? AND (t.reminded_for IS NULL OR t.reminded_for <> t.due_at) "
            f"AND NOT EXISTS (SELECT 1 FROM {ERASED.name} e WHERE e.id = t.customer_id) "
            "ORDER BY t.remind_at LIMIT ?", [tenant, True, now, limit])

    def tasks_past_due(self, tenant: str, now: datetime, *, limit: int) -> list[Row]:
        """Open tasks past their due time, not yet recorded overdue for it; longest overdue
        first."""
        return self._rows(
            f"SELECT t.* FROM {TASKS.name} t WHERE t.tenant_id = ? AND t.open = ? "
            "AND t.due_at <= ? AND (t.overdue_for IS NULL OR t.overdue_for <> t.due_at) "
            f"AND NOT EXISTS (SELECT 1 FROM {ERASED.name} e WHERE e.id = t.customer_id) "
            "ORDER BY t.due_at LIMIT ?", [tenant, True, now, limit])

    def quiet_buyers(self, tenant: str, active_before: datetime, *, limit: int) -> list[Row]:
        """Customers who bought, last active before `active_before`, not yet marked dormant
        for that last activity."""
        return self._rows(
            f"SELECT * FROM {CUSTOMERS.name} WHERE tenant_id = ? AND buyer = ? AND active_at <= ? "
            "AND (dormant_for IS NULL OR dormant_for <> active_at) ORDER BY active_at LIMIT ?",
            [tenant, True, active_before, limit])

    # -- alerts -------------------------------------------------------------------------------

    def cleared_alerts(self, tenant: str, kind: ClearedKind, *, limit: int) -> list[Row]:
        """Active alerts of `kind` whose cause has gone (the lead was contacted or closed, the
        ticket resolved, the discount decided, the task done or moved), each with the clearing
        event as `cause`."""
        params = [tenant, False, limit]
        if kind in _CAUSE_FIRST:
            params = [False, *params]
        return self._rows(_CLEARED[kind], params)
