"""Alerts resolve themselves when what they asked for happened: the lead was contacted (or
closed), the ticket was resolved, the discount was decided. Each is a `resolve` command by the
rule, caused by the event that cleared it, so the inbox, the alert's history and the audit agree."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.command.policies.actions import Action
from services.command.policies.state import PolicyState, uuid
from services.common.rules import RuleSet

_ACTIVE = "a.tenant_id = ? AND a.status IN ('open', 'acknowledged')"
_CLEARED: dict[str, tuple[str, str, str]] = {
    # kind: (rule id, query giving the cleared alerts and the clearing event, note)
    "follow_up_overdue": (
        "follow-up",
        "SELECT a.*, CASE WHEN c.contacted_at > l.touched_at THEN c.contact_event_id "
        "ELSE l.touch_event_id END AS cause FROM policy_alerts a "
        "JOIN policy_leads l ON l.id = a.subject_id "
        "LEFT JOIN policy_customers c ON c.id = l.customer_id "
        f"WHERE {_ACTIVE} AND a.kind = 'follow_up_overdue' "
        "AND (l.open = ? OR l.touched_at >= a.raised_at OR c.contacted_at >= a.raised_at) LIMIT ?",
        "cleared: the lead was contacted or closed"),
    "sla_breached": (
        "sla",
        "SELECT a.*, t.status_event_id AS cause FROM policy_alerts a "
        "JOIN policy_tickets t ON t.id = a.subject_id "
        f"WHERE {_ACTIVE} AND a.kind = 'sla_breached' AND t.open = ? LIMIT ?",
        "cleared: the ticket was resolved"),
    "discount_approval": (
        "discount-approval",
        "SELECT a.*, COALESCE((SELECT d.decided_event_id FROM policy_discounts d "
        "WHERE d.lead_id = l.id AND d.decided_event_id IS NOT NULL ORDER BY d.position DESC "
        "LIMIT 1), l.touch_event_id) AS cause FROM policy_alerts a "
        "JOIN policy_leads l ON l.id = a.subject_id "
        f"WHERE {_ACTIVE} AND a.kind = 'discount_approval' AND (l.open = ? OR NOT EXISTS "
        "(SELECT 1 FROM policy_discounts d WHERE d.lead_id = l.id AND d.status = 'pending')) "
        "LIMIT ?",
        "cleared: the discount was decided or the lead closed"),
}


def decide(state: PolicyState, tenant: str, rules: RuleSet, now: datetime,
           limit: int) -> list[Action]:
    actions = []
    for rule_id, query, note in _CLEARED.values():
        cleared = state.rows(query, [tenant, False, limit])
        actions += [_resolve(alert, tenant, rule_id, note) for alert in cleared]
    return actions


def _resolve(alert: dict[str, Any], tenant: str, rule_id: str, note: str) -> Action:
    alert_id = uuid(alert["id"])
    return Action(
        policy="alert_clearing", key=f"policy:clear:{alert_id}", tenant_id=tenant,
        rule_id=rule_id, cause_event_id=uuid(alert["cause"]),
        correlation_id=uuid(alert["correlation_id"]),
        issue=lambda service, ctx, idem: service.resolve_alert(ctx, alert_id, note, idem),
        describe={"alert_id": str(alert_id), "kind": alert["kind"]},
    )
