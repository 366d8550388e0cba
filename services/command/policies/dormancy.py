"""Dormancy: a buying customer with no purchase, win or interaction for the lifecycle's
dormancy period gets `CustomerBecameDormant` — for e-mail and marketing systems to act on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.command.domain.rules import RuleSet
from services.command.policies.actions import Action
from services.command.policies.state import uuid
from services.common.times import as_utc
from services.projections.policy_state.reads import PolicyStateReads

RULE_ID = "dormancy"


def decide(state: PolicyStateReads, tenant: str, rules: RuleSet, now: datetime,
           limit: int) -> list[Action]:
    lifecycle = rules.lifecycle
    if not lifecycle.dormancy_events:
        return []
    quiet = state.quiet_buyers(tenant, now - lifecycle.dormant_after, limit=limit)
    return [_dormant(c, tenant, lifecycle.dormant_after.days) for c in quiet]


def _dormant(customer: dict[str, Any], tenant: str, days: int) -> Action:
    last_activity = as_utc(customer["active_at"])
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
