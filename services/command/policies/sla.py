"""Ticket SLA: first-response and resolution deadlines per priority. A miss records
`TicketSlaBreached`, escalates as configured (one priority step up, hand-over) and alerts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from services.command.domain.alert import alert_id_for
from services.command.policies.actions import Action
from services.command.policies.state import PolicyState, ts, uuid
from services.command.service import AlertSpec
from services.common.rules import RuleSet, format_duration
from services.common.rules.model import PRIORITIES

Sla = Literal["first_response", "resolution"]
_ANCHOR: dict[Sla, tuple[str, str]] = {
    # sla: (the column its clock starts from, the event that started it)
    "first_response": ("opened_at", "open_event_id"),
    "resolution": ("resolution_since", "resolution_event_id"),
}


def decide(state: PolicyState, tenant: str, rules: RuleSet, now: datetime,
           limit: int) -> list[Action]:
    if not rules.sla.enabled:
        return []
    actions: list[Action] = []
    for sla in ("first_response", "resolution"):
        anchor_col, _ = _ANCHOR[sla]  # type: ignore[index]
        for priority in PRIORITIES:
            target = rules.sla_target(sla, priority)  # type: ignore[arg-type]
            if target is None:
                continue
            condition = ("responded = ? AND first_response_breached = ?" if sla == "first_response"
                         else "resolution_breached = ?")
            flags: list[Any] = [False, False] if sla == "first_response" else [False]
            # Resolution time runs while the team works on the ticket, not while it waits on
            # the customer (`pending`).
            status = "" if sla == "first_response" else " AND status <> 'pending'"
            tickets = state.rows(
                f"SELECT * FROM policy_tickets WHERE tenant_id = ? AND open = ? AND priority = ? "
                f"AND {condition}{status} AND {anchor_col} <= ? ORDER BY {anchor_col} LIMIT ?",
                [tenant, True, priority, *flags, now - target, limit])
            actions += [_breach(t, tenant, rules, sla, target) for t in tickets]  # type: ignore[arg-type]
    return actions


def _breach(ticket: dict[str, Any], tenant: str, rules: RuleSet, sla: Sla,
            target: timedelta) -> Action:
    anchor_col, cause_col = _ANCHOR[sla]
    anchor = ts(ticket[anchor_col])
    assert anchor is not None
    deadline = anchor + target
    key = f"policy:sla:{ticket['id']}:{sla}:{anchor.isoformat()}"
    escalation = rules.sla.escalation
    assignee = escalation.reassign_to or ticket["assignee"]
    people = [p for p in (assignee, rules.manager_of(assignee), *escalation.notify) if p]
    label = sla.replace("_", " ")
    alert = AlertSpec(
        alert_id=alert_id_for(key), kind="sla_breached", assignees=people,
        summary=f"Ticket '{ticket['subject']}' missed its {label} SLA "
                f"({ticket['priority']}, target {format_duration(target)})",
        due_at=deadline,
    ) if people else None
    ticket_id = uuid(ticket["id"])
    return Action(
        policy="sla", key=key, tenant_id=tenant, rule_id=f"sla-{sla.replace('_', '-')}",
        cause_event_id=uuid(ticket[cause_col]), correlation_id=uuid(ticket["correlation_id"]),
        issue=lambda service, ctx, idem: service.record_sla_breach(
            ctx, ticket_id, sla=sla, target_seconds=int(target.total_seconds()),
            deadline=deadline, raise_priority=escalation.raise_priority,
            reassign_to=escalation.reassign_to, alert=alert, idempotency=idem),
        describe={"ticket_id": str(ticket_id), "sla": sla, "deadline": deadline.isoformat(),
                  "priority": ticket["priority"]},
    )
