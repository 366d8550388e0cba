"""Discount approval: a discount above the tenant's threshold goes to the approver of its tier
(the lead cannot be won until that person approves — a gate of the Lead aggregate)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from services.command.domain.alert import alert_id_for
from services.command.domain.rules import RuleSet
from services.command.policies.actions import Action
from services.command.policies.state import uuid
from services.command.service import AlertSpec
from services.projections.policy_state.reads import PolicyStateReads


def decide(state: PolicyStateReads, tenant: str, rules: RuleSet, now: datetime,
           limit: int) -> list[Action]:
    if not rules.discount.approvers:
        return []
    pending = state.discounts_awaiting_approver(tenant, limit=limit)
    actions = []
    for discount in pending:
        tier = rules.approver_for(Decimal(discount["percent"]))
        if tier is None or tier.approver == discount["requested_by"]:
            continue  # nobody the rules name may decide: a person approves by hand
        actions.append(_request(discount, tenant, tier.approver, tier.above_percent))
    return actions


def _request(discount: dict[str, Any], tenant: str, approver: str, tier: Decimal) -> Action:
    key = f"policy:approval:{discount['id']}"
    lead_id, discount_id = uuid(discount["lead_id"]), uuid(discount["id"])
    alert = AlertSpec(
        alert_id=alert_id_for(key), kind="discount_approval", assignees=[approver],
        summary=f"Approve a {discount['percent']}% discount on lead '{discount['title']}' "
                f"(requested by {discount['requested_by']})",
    )
    return Action(
        policy="discount_approval", key=key, tenant_id=tenant,
        rule_id=f"discount-approval-above-{tier}", cause_event_id=uuid(discount["request_event_id"]),
        correlation_id=uuid(discount["correlation_id"]),
        issue=lambda service, ctx, idem: service.request_discount_approval(
            ctx, lead_id, discount_id, approver, alert, idempotency=idem),
        describe={"lead_id": str(lead_id), "discount_id": str(discount_id), "approver": approver},
    )
