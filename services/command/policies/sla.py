"""Ticket SLA: first-response and resolution deadlines per priority. A miss records
`TicketSlaBreached`, escalates as configured (one priority step up, hand-over) and alerts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.command.domain.alert import alert_id_for
from services.command.domain.rules import RuleSet, format_duration
from services.command.policies.actions import Action
from services.command.policies.state import uuid
from services.command.service import AlertSpec
from services.common.events.ticket import PRIORITIES
from services.common.times import as_utc
from services.projections.policy_state.reads import SLA_CLOCKS, PolicyStateReads, Sla

SLAS: tuple[Sla, ...] = ("first_response", "resolution")


def decide(state: PolicyStateReads, tenant: str, rules: RuleSet, now: datetime,
           limit: int) -> list[Action]:
    if not rules.sla.enabled:
        return []
    actions: list[Action] = []
    for sla in SLAS:
        for priority in PRIORITIES:
            target = rules.sla_target(sla, priority)
            if target is None:
                continue
            tickets = state.tickets_past_sla(tenant, sla, priority, now - target, limit=limit)
            actions += [_breach(t, tenant, rules, sla, target) for t in tickets]
    return actions


def _breach(ticket: dict[str, Any], tenant: str, rules: RuleSet, sla: Sla,
            target: timedelta) -> Action:
    anchor_col, cause_col = SLA_CLOCKS[sla]
    anchor = as_utc(ticket[anchor_col])
    assert anchor is not None
    deadline = anchor + target
    key = f"policy:sla:{ticket['id']}:{sla}:{anchor.isoformat()}"
    escalation = rules.sla.escalation
    assignee = escalation.reassign_to or ticket["assignee"]
    people = [p for p in (assignee, rules.manager_of(assignee), *escalation.notify) if p]
    label = sla.replace("_", " ")
    alert = AlertSpec(
        alert_id=alert_id_for(key), kind="sla_breached", assignees=people,
        # The subject is personal (sealed under the customer's key): the alert names the
        # ticket by id, and the reader opens the ticket for the rest.
        summary=f"Ticket {ticket['id'][:8]} missed its {label} SLA "
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
