"""Dormancy: a buying customer with no purchase, win or interaction for the lifecycle's
dormancy period gets `CustomerBecameDormant` — for e-mail and marketing systems to act on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.command.policies.actions import Action
from services.command.policies.state import PolicyState, ts, uuid
from services.common.rules import RuleSet

RULE_ID = "dormancy"


def decide(state: PolicyState, tenant: str, rules: RuleSet, now: datetime,
           limit: int) -> list[Action]:
    lifecycle = rules.lifecycle
    if not lifecycle.dormancy_events:
        return []
    quiet = state.rows(
        "SELECT * FROM policy_customers WHERE tenant_id = ? AND buyer = ? AND active_at <= ? "
        "AND (dormant_for IS NULL OR dormant_for <> active_at) ORDER BY active_at LIMIT ?",
        [tenant, True, now - lifecycle.dormant_after, limit])
    return [_dormant(c, tenant, lifecycle.dormant_after.days) for c in quiet]


def _dormant(customer: dict[str, Any], tenant: str, days: int) -> Action:
    last_activity = ts(customer["active_at"])
    assert last_activity is not None
    customer_id = uuid(customer["id"])
    key = f"policy:dormancy:{customer_id}:{last_activity.isoformat()}"
    return Action(
        policy="dormancy", key=key, tenant_id=tenant, rule_id=RULE_ID,
        cause_event_id=uuid(customer["active_event_id"]),
        correlation_id=uuid(customer["correlation_id"]),
        issue=lambda service, ctx, idem: service.mark_customer_dormant(
            ctx, customer_id, last_activity_at=last_activity, dormant_after_days=max(1, days),
            idempotency=idem),
        describe={"customer_id": str(customer_id), "last_activity_at": last_activity.isoformat()},
    )
