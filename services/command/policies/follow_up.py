"""Follow-up overdue: an open lead nobody touched within its stage's window gets
`FollowUpOverdue` naming its owner and the owner's manager, and an alert for both — once per
window, and again each further window it stays untouched."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.command.domain.alert import alert_id_for
from services.command.policies.actions import Action
from services.command.policies.state import PolicyState, ts, uuid, whole_days
from services.command.service import AlertSpec
from services.common.rules import RuleSet, format_duration

RULE_ID = "follow-up"


def decide(state: PolicyState, tenant: str, rules: RuleSet, now: datetime,
           limit: int) -> list[Action]:
    if not rules.follow_up.enabled:
        return []
    actions: list[Action] = []
    for stage in rules.pipeline.stages:
        window = rules.follow_up_window(stage)
        cut = now - window
        due_leads = state.rows(
            "SELECT l.*, c.contacted_at, c.contact_event_id FROM policy_leads l "
            "LEFT JOIN policy_customers c ON c.id = l.customer_id "
            "WHERE l.tenant_id = ? AND l.open = ? AND l.stage = ? AND l.touched_at <= ? "
            "AND (l.overdue_at IS NULL OR l.overdue_at <= ?) "
            "AND (c.contacted_at IS NULL OR c.contacted_at <= ?) "
            "ORDER BY l.touched_at LIMIT ?", [tenant, True, stage, cut, cut, cut, limit])
        for lead in due_leads:
            actions.append(_overdue(lead, tenant, rules, window, now))
    return actions


def _overdue(lead: dict[str, Any], tenant: str, rules: RuleSet, window: Any,
             now: datetime) -> Action:
    touched, contacted, overdue = ts(lead["touched_at"]), ts(lead["contacted_at"]), ts(lead["overdue_at"])
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
