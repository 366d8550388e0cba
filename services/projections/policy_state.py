"""What the automation policies need to know, folded from the event stream.

The policies (services/command/policies) decide from these rows and a clock; the rows hold no
decision, only facts: who owns each open lead and when it was last touched, each ticket's
clocks and breaches, each customer's last activity, pending discounts, and the alerts the rules
raised. Deadlines are these stored anchors plus the windows in the tenant's rules, so they
survive restarts (durable timers) and follow rule changes at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from services.common.events.alert import AlertAcknowledged, AlertRaised, AlertResolved
from services.common.events.customer import CustomerBecameDormant, CustomerRegistered
from services.common.events.envelope import CrmEvent
from services.common.events.interaction import InteractionLogged
from services.common.events.lead import (
    DiscountApprovalRequested,
    DiscountApproved,
    DiscountRejected,
    DiscountRequested,
    FollowUpOverdue,
    LeadAmountChanged,
    LeadAssigned,
    LeadCreated,
    LeadStageChanged,
    LeadWon,
)
from services.common.events.purchase import PurchaseRecorded
from services.common.events.ticket import (
    TicketAssigned,
    TicketFirstResponded,
    TicketOpened,
    TicketPriorityChanged,
    TicketSlaBreached,
    TicketStatusChanged,
)
from services.projections.model import ConsumedEvent, Projection, Row, Rows, Table
from services.projections.stores.base import iso

LEADS, DISCOUNTS, TICKETS, CUSTOMERS, ALERTS = (
    "policy_leads", "policy_discounts", "policy_tickets", "policy_customers", "policy_alerts")
RULE_ACTOR_PREFIX = "rule:"
OPEN_TICKET_STATUSES = ("open", "pending", "reopened")


class PolicyStateProjection(Projection):
    name: ClassVar[str] = "policy_state"
    tables: ClassVar[tuple[Table, ...]] = (
        Table(LEADS, {
            "id": "text", "tenant_id": "text", "customer_id": "text", "title": "text",
            "owner": "text", "stage": "text", "region": "text", "industry": "text",
            "source": "text", "amount": "text", "currency": "text", "open": "bool",
            "created_position": "int", "created_event_id": "text", "correlation_id": "text",
            "touched_at": "ts", "touch_event_id": "text", "overdue_at": "ts",
            "overdue_count": "int", "stage_event_id": "text", "rule_assigned_stage": "text",
            "rule_assigned_position": "int",
        }, indexes=(("tenant_id", "open", "owner"), ("tenant_id", "open", "stage", "touched_at"),
                    ("tenant_id", "owner", "rule_assigned_position"))),
        Table(DISCOUNTS, {
            "id": "text", "tenant_id": "text", "lead_id": "text", "customer_id": "text",
            "percent": "text", "requested_by": "text", "requires_approval": "bool",
            "status": "text", "approver": "text", "request_event_id": "text",
            "correlation_id": "text", "position": "int", "decided_event_id": "text",
        }, indexes=(("status", "approver"), ("lead_id",))),
        Table(TICKETS, {
            "id": "text", "tenant_id": "text", "customer_id": "text", "subject": "text",
            "priority": "text", "assignee": "text", "status": "text", "open": "bool",
            "opened_at": "ts", "open_event_id": "text", "correlation_id": "text",
            "responded": "bool", "resolution_since": "ts", "resolution_event_id": "text",
            "first_response_breached": "bool", "resolution_breached": "bool",
            "status_event_id": "text",
        }, indexes=(("tenant_id", "open", "priority", "opened_at"),)),
        Table(CUSTOMERS, {
            "id": "text", "tenant_id": "text", "correlation_id": "text",
            "contacted_at": "ts", "contact_event_id": "text", "active_at": "ts",
            "active_event_id": "text", "buyer": "bool", "dormant_for": "ts",
        }, indexes=(("tenant_id", "buyer", "active_at"),)),
        Table(ALERTS, {
            "id": "text", "tenant_id": "text", "customer_id": "text", "kind": "text",
            "subject_id": "text", "status": "text", "raised_at": "ts",
            "correlation_id": "text",
        }, indexes=(("status", "kind"),)),
    )

    def keys(self, event: CrmEvent) -> Iterable[tuple[str, str]]:
        customer = (CUSTOMERS, str(event.customer_id))
        match event:
            case LeadCreated() | LeadAssigned() | LeadAmountChanged() | FollowUpOverdue():
                return ((LEADS, str(event.aggregate_id)),)
            case LeadStageChanged():
                return ((LEADS, str(event.aggregate_id)),)
            case LeadWon():
                return ((LEADS, str(event.aggregate_id)), customer)
            case InteractionLogged():
                if event.lead_id is not None:
                    return (customer, (LEADS, str(event.lead_id)))
                return (customer,)
            case DiscountRequested() | DiscountApprovalRequested() | DiscountApproved() \
                    | DiscountRejected():
                return ((DISCOUNTS, str(event.discount_id)),)
            case TicketOpened() | TicketAssigned() | TicketPriorityChanged() \
                    | TicketFirstResponded() | TicketStatusChanged() | TicketSlaBreached():
                return ((TICKETS, str(event.aggregate_id)),)
            case CustomerRegistered() | PurchaseRecorded() | CustomerBecameDormant():
                return (customer,)
            case AlertRaised() | AlertAcknowledged() | AlertResolved():
                return ((ALERTS, str(event.aggregate_id)),)
        return ()

    # -- customers ----------------------------------------------------------------------------

    def on_CustomerRegistered(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, CustomerRegistered)
        if rows.get(CUSTOMERS, str(e.customer_id)) is None:
            rows.put(CUSTOMERS, _customer(e))

    def on_PurchaseRecorded(self, rows: Rows, consumed: ConsumedEvent) -> None:
        _active(rows, consumed.event, buyer=True)

    def on_CustomerBecameDormant(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, CustomerBecameDormant)
        row = rows.get(CUSTOMERS, str(e.customer_id)) or _customer(e)
        rows.put(CUSTOMERS, {**row, "dormant_for": iso(e.last_activity_at)})

    def on_InteractionLogged(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, InteractionLogged)
        row = _active(rows, e, buyer=False)
        if _later(e, row.get("contacted_at")):
            rows.put(CUSTOMERS, {**row, "contacted_at": iso(e.occurred_at),
                                 "contact_event_id": str(e.event_id)})
        if e.lead_id is not None:
            lead = rows.get(LEADS, str(e.lead_id))
            if lead is not None:
                rows.put(LEADS, _touched(lead, e))

    # -- leads --------------------------------------------------------------------------------

    def on_LeadCreated(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, LeadCreated)
        rows.put(LEADS, {
            "id": str(e.aggregate_id), "tenant_id": e.tenant_id, "customer_id": str(e.customer_id),
            "title": e.title, "owner": e.owner, "stage": e.stage, "region": e.region,
            "industry": e.industry, "source": e.source, "amount": e.amount,
            "currency": e.currency, "open": True, "created_position": consumed.position,
            "created_event_id": str(e.event_id), "correlation_id": str(e.correlation_id),
            "touched_at": iso(e.occurred_at), "touch_event_id": str(e.event_id),
            "overdue_at": None, "overdue_count": 0, "stage_event_id": str(e.event_id),
            "rule_assigned_stage": None, "rule_assigned_position": None,
        })

    def on_LeadAssigned(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, LeadAssigned)
        lead = rows.get(LEADS, str(e.aggregate_id))
        if lead is None:
            return
        changes: dict[str, Any] = {"owner": e.to_owner}
        if e.actor.startswith(RULE_ACTOR_PREFIX):
            changes |= {"rule_assigned_stage": lead["stage"],
                        "rule_assigned_position": consumed.position}
        rows.put(LEADS, {**lead, **changes})

    def on_LeadStageChanged(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, LeadStageChanged)
        lead = rows.get(LEADS, str(e.aggregate_id))
        if lead is None:
            return
        rows.put(LEADS, {**_touched(lead, e), "stage": e.to_stage,
                         "open": e.to_stage not in ("won", "lost"),
                         "stage_event_id": str(e.event_id)})

    def on_LeadAmountChanged(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, LeadAmountChanged)
        lead = rows.get(LEADS, str(e.aggregate_id))
        if lead is not None:
            rows.put(LEADS, {**lead, "amount": e.amount, "currency": e.currency})

    def on_LeadWon(self, rows: Rows, consumed: ConsumedEvent) -> None:
        _active(rows, consumed.event, buyer=True)

    def on_FollowUpOverdue(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        lead = rows.get(LEADS, str(e.aggregate_id))
        if lead is not None:
            rows.put(LEADS, {**lead, "overdue_at": iso(e.occurred_at),
                             "overdue_count": (lead["overdue_count"] or 0) + 1})

    # -- discounts ----------------------------------------------------------------------------

    def on_DiscountRequested(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, DiscountRequested)
        rows.put(DISCOUNTS, {
            "id": str(e.discount_id), "tenant_id": e.tenant_id, "lead_id": str(e.aggregate_id),
            "customer_id": str(e.customer_id), "percent": e.percent, "requested_by": e.actor,
            "requires_approval": e.requires_approval,
            "status": "pending" if e.requires_approval else "applied", "approver": None,
            "request_event_id": str(e.event_id), "correlation_id": str(e.correlation_id),
            "position": consumed.position, "decided_event_id": None,
        })

    def on_DiscountApprovalRequested(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, DiscountApprovalRequested)
        _update(rows, DISCOUNTS, str(e.discount_id), approver=e.approver)

    def on_DiscountApproved(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, DiscountApproved)
        _update(rows, DISCOUNTS, str(e.discount_id), status="approved",
                decided_event_id=str(e.event_id))

    def on_DiscountRejected(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, DiscountRejected)
        _update(rows, DISCOUNTS, str(e.discount_id), status="rejected",
                decided_event_id=str(e.event_id))

    # -- tickets ------------------------------------------------------------------------------

    def on_TicketOpened(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, TicketOpened)
        rows.put(TICKETS, {
            "id": str(e.aggregate_id), "tenant_id": e.tenant_id, "customer_id": str(e.customer_id),
            "subject": e.subject, "priority": e.priority, "assignee": e.assignee,
            "status": "open", "open": True, "opened_at": iso(e.occurred_at),
            "open_event_id": str(e.event_id), "correlation_id": str(e.correlation_id),
            "responded": False, "resolution_since": iso(e.occurred_at),
            "resolution_event_id": str(e.event_id), "first_response_breached": False,
            "resolution_breached": False, "status_event_id": str(e.event_id),
        })

    def on_TicketAssigned(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, TicketAssigned)
        _update(rows, TICKETS, str(e.aggregate_id), assignee=e.to_assignee)

    def on_TicketPriorityChanged(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, TicketPriorityChanged)
        _update(rows, TICKETS, str(e.aggregate_id), priority=e.to_priority)

    def on_TicketFirstResponded(self, rows: Rows, consumed: ConsumedEvent) -> None:
        _update(rows, TICKETS, str(consumed.event.aggregate_id), responded=True)

    def on_TicketStatusChanged(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, TicketStatusChanged)
        changes: dict[str, Any] = {"status": e.to_status,
                                   "open": e.to_status in OPEN_TICKET_STATUSES,
                                   "status_event_id": str(e.event_id)}
        if e.to_status == "reopened":
            changes |= {"resolution_since": iso(e.occurred_at),
                        "resolution_event_id": str(e.event_id), "resolution_breached": False}
        _update(rows, TICKETS, str(e.aggregate_id), **changes)

    def on_TicketSlaBreached(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, TicketSlaBreached)
        _update(rows, TICKETS, str(e.aggregate_id), **{f"{e.sla}_breached": True})

    # -- alerts -------------------------------------------------------------------------------

    def on_AlertRaised(self, rows: Rows, consumed: ConsumedEvent) -> None:
        e = consumed.event
        assert isinstance(e, AlertRaised)
        rows.put(ALERTS, {
            "id": str(e.aggregate_id), "tenant_id": e.tenant_id, "customer_id": str(e.customer_id),
            "kind": e.kind, "subject_id": str(e.subject_id), "status": "open",
            "raised_at": iso(e.occurred_at), "correlation_id": str(e.correlation_id),
        })

    def on_AlertAcknowledged(self, rows: Rows, consumed: ConsumedEvent) -> None:
        _update(rows, ALERTS, str(consumed.event.aggregate_id), status="acknowledged")

    def on_AlertResolved(self, rows: Rows, consumed: ConsumedEvent) -> None:
        _update(rows, ALERTS, str(consumed.event.aggregate_id), status="resolved")


def _customer(e: CrmEvent) -> Row:
    return {"id": str(e.customer_id), "tenant_id": e.tenant_id,
            "correlation_id": str(e.correlation_id), "contacted_at": None,
            "contact_event_id": None, "active_at": None, "active_event_id": None,
            "buyer": False, "dormant_for": None}


def _later(e: CrmEvent, current: str | None) -> bool:
    return current is None or iso(e.occurred_at) > current


def _active(rows: Rows, e: CrmEvent, *, buyer: bool) -> Row:
    """A purchase, a win or an interaction: the customer is active as of the event's time."""
    row = rows.get(CUSTOMERS, str(e.customer_id)) or _customer(e)
    changes: dict[str, Any] = {"buyer": row["buyer"] or buyer}
    if _later(e, row["active_at"]):
        changes |= {"active_at": iso(e.occurred_at), "active_event_id": str(e.event_id)}
    row = {**row, **changes}
    rows.put(CUSTOMERS, row)
    return row


def _touched(lead: Row, e: CrmEvent) -> Row:
    if not _later(e, lead["touched_at"]):
        return lead  # a back-dated interaction does not move the follow-up clock back
    return {**lead, "touched_at": iso(e.occurred_at), "touch_event_id": str(e.event_id)}


def _update(rows: Rows, table: str, row_id: str, **changes: Any) -> None:
    row = rows.get(table, row_id)
    if row is not None:
        rows.put(table, {**row, **changes})
