"""Follow-up overdue: an open lead nobody touched within its stage's window gets
`FollowUpOverdue` naming its owner and the owner's manager, and an alert for both — once per
window, and again each further window it stays untouched."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.command.domain.alert import alert_id_for
from services.command.domain.rules import RuleSet, format_duration
from services.command.policies.actions import Action
from services.command.policies.state import uuid, whole_days
from services.command.service import AlertSpec
from services.common.times import as_utc
from services.projections.policy_state.reads import PolicyStateReads

RULE_ID = "follow-up"


def decide(state: PolicyStateReads, tenant: str, rules: RuleSet, now: datetime,
           limit: int) -> list[Action]:
    if not rules.follow_up.enabled:
        return []
    actions: list[Action] = []
    for stage in rules.pipeline.stages:
        window = rules.follow_up_window(stage)
        cut = now - window
        for lead in state.leads_without_contact(tenant, stage, cut, limit=limit):
            actions.append(_overdue(lead, tenant, rules, window, now))
    return actions


def _overdue(lead: dict[str, Any], tenant: str, rules: RuleSet, window: Any,
             now: datetime) -> Action:
    touched, contacted = as_utc(lead["touched_at"]), as_utc(lead["contacted_at"])
    overdue = as_utc(lead["overdue_at"])
    assert touched is not None
    last_contact, cause = touched, lead["touch_event_id"]
    if contacted is not None and contacted > last_contact:
        last_contact, cause = contacted, lead["contact_event_id"]
    repeat = overdue is not None and overdue >= last_contact
    anchor = overdue if repeat and overdue is not None else last_contact
    due = anchor + window
    key = f"policy:follow-up:{lead['id']}:{due.isoformat()}"
    owner, manager = lead["owner"], rules.manager_of(lead["owner"])
    days = whole_days(now - last_contact)
    people = [p for p in (owner, manager) if p]
    title = lead["title"] or "untitled"
    alert = AlertSpec(
        alert_id=alert_id_for(key), kind="follow_up_overdue", assignees=people,
        summary=f"Follow up on lead '{title}': no contact for {days} days in {lead['stage']} "
                f"(window {format_duration(window)})",
        due_at=due,
    ) if people else None
    lead_id = uuid(lead["id"])
    return Action(
        policy="follow_up", key=key, tenant_id=tenant, rule_id=RULE_ID,
        cause_event_id=uuid(cause), correlation_id=uuid(lead["correlation_id"]),
        issue=lambda service, ctx, idem: service.mark_follow_up_overdue(
            ctx, lead_id, manager=manager, days_without_contact=days, repeat=repeat,
            alert=alert, idempotency=idem),
        describe={"lead_id": str(lead_id), "owner": owner, "manager": manager,
                  "due_at": due.isoformat(), "repeat": repeat},
    )
