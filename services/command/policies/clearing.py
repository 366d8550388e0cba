"""Alerts resolve themselves when what they asked for happened: the lead was contacted (or
closed), the ticket was resolved, the discount was decided, the task was done or moved. Each is a `resolve` command by the
rule, caused by the event that cleared it, so the inbox, the alert's history and the audit agree."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.command.domain.rules import RuleSet
from services.command.policies.actions import Action
from services.command.policies.state import uuid
from services.projections.policy_state.reads import ClearedKind, PolicyStateReads

_CLEARING: tuple[tuple[ClearedKind, str, str], ...] = (
    # (kind, rule id, note)
    ("follow_up_overdue", "follow-up", "cleared: the lead was contacted or closed"),
    ("sla_breached", "sla", "cleared: the ticket was resolved"),
    ("discount_approval", "discount-approval",
     "cleared: the discount was decided or the lead closed"),
    ("task_reminder", "task-reminder",
     "cleared: the task was done, cancelled, moved or is overdue"),
    ("task_overdue", "task-reminder", "cleared: the task was done, cancelled or moved"),
)


def decide(state: PolicyStateReads, tenant: str, rules: RuleSet, now: datetime,
           limit: int) -> list[Action]:
    actions = []
    for kind, rule_id, note in _CLEARING:
        cleared = state.cleared_alerts(tenant, kind, limit=limit)
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
