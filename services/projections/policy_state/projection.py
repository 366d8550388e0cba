"""What the automation policies need to know, folded from the event stream.

The policies (services/command/policies) decide from these rows and a clock; the rows hold no
decision, only facts: who owns each open lead and when it was last touched, each ticket's
clocks and breaches, each customer's last activity, pending discounts, open tasks and their
due and reminder times, and the alerts the rules raised. Deadlines are these stored anchors
plus the windows in the tenant's rules (or, for tasks, their own times), so they survive
restarts (durable timers) and follow rule changes at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from services.common.events.alert import AlertAcknowledged, AlertRaised, AlertResolved
from services.common.events.customer import (
    CustomerAlertLinked,
    CustomerBecameDormant,
    CustomerConsentChanged,
    CustomerErased,
    CustomerOwnerChanged,
    CustomerProfileChanged,
    CustomerRecordLinked,
    CustomerRegistered,
    CustomersMerged,
    CustomerTagged,
    CustomerUntagged,
)
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
    LeadLost,
    LeadStageChanged,
    LeadWon,
    PaymentReceived,
)
from services.common.events.note import NOTE_EVENTS
from services.common.events.purchase import PurchaseRecorded
from services.common.events.task import (
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskOverdue,
    TaskReassigned,
    TaskReminded,
    TaskRescheduled,
)
from services.common.events.ticket import (
    OPEN_TICKET_STATUSES,
    TicketAssigned,
    TicketCommentAdded,
    TicketFirstResponded,
    TicketOpened,
    TicketPriorityChanged,
    TicketSlaBreached,
    TicketStatusChanged,
)
from services.common.times import iso
from services.projections.model import Projection, Row, Rows, Table, handler

RULE_ACTOR_PREFIX = "rule:"

LEADS = Table("policy_leads", {
    "id": "text", "tenant_id": "text", "customer_id": "text", "title": "text",
    "owner": "text", "stage": "text", "region": "text", "industry": "text",
    "source": "text", "amount": "text", "currency": "text", "open": "bool",
    "created_position": "int", "created_event_id": "text", "correlation_id": "text",
    "touched_at": "ts", "touch_event_id": "text", "overdue_at": "ts",
    "overdue_count": "int", "stage_event_id": "text", "rule_assigned_stage": "text",
    "rule_assigned_position": "int",
}, indexes=(("tenant_id", "open", "owner"), ("tenant_id", "open", "stage", "touched_at"),
            ("tenant_id", "owner", "rule_assigned_position")))
DISCOUNTS = Table("policy_discounts", {
    "id": "text", "tenant_id": "text", "lead_id": "text", "customer_id": "text",
    "percent": "text", "requested_by": "text", "requires_approval": "bool",
    "status": "text", "approver": "text", "request_event_id": "text",
    "correlation_id": "text", "position": "int", "decided_event_id": "text",
}, indexes=(("status", "approver"), ("lead_id",)))
TICKETS = Table("policy_tickets", {
    "id": "text", "tenant_id": "text", "customer_id": "text", "subject": "text",
    "priority": "text", "assignee": "text", "status": "text", "open": "bool",
    "opened_at": "ts", "open_event_id": "text", "correlation_id": "text",
    "responded": "bool", "resolution_since": "ts", "resolution_event_id": "text",
    "first_response_breached": "bool", "resolution_breached": "bool",
    "status_event_id": "text",
}, indexes=(("tenant_id", "open", "priority", "opened_at"),))
CUSTOMERS = Table("policy_customers", {
    "id": "text", "tenant_id": "text", "correlation_id": "text",
    "contacted_at": "ts", "contact_event_id": "text", "active_at": "ts",
    "active_event_id": "text", "buyer": "bool", "dormant_for": "ts",
}, indexes=(("tenant_id", "buyer", "active_at"),))
ALERTS = Table("policy_alerts", {
    "id": "text", "tenant_id": "text", "customer_id": "text", "kind": "text",
    "subject_id": "text", "status": "text", "raised_at": "ts",
    "correlation_id": "text", "due_at": "ts",
}, indexes=(("status", "kind"),))
TASKS = Table("policy_tasks", {
    "id": "text", "tenant_id": "text", "customer_id": "text", "assignee": "text",
    "created_by": "text", "open": "bool", "due_at": "ts", "remind_before_s": "int",
    "remind_at": "ts", "reminded_for": "ts", "overdue_for": "ts",
    "schedule_event_id": "text", "remind_event_id": "text", "overdue_event_id": "text",
    "close_event_id": "text", "correlation_id": "text",
}, indexes=(("tenant_id", "open", "remind_at"), ("tenant_id", "open", "due_at")))
"""Open tasks and their deadlines: `remind_at` (due time less the reminder) and `due_at`;
`reminded_for` and `overdue_for` name the due time each alert was raised for, so a task moved
to a new time is reminded again, once."""
ERASED = Table("policy_erased_customers", {"id": "text", "tenant_id": "text"})
"""Customers whose data was erased: their records accept no command, so no rule chases them."""

LEAD = LEADS.row("aggregate_id")
TICKET = TICKETS.row("aggregate_id")
DISCOUNT = DISCOUNTS.row("discount_id")
CUSTOMER = CUSTOMERS.row("customer_id")
ALERT = ALERTS.row("aggregate_id")
TASK = TASKS.row("aggregate_id")


class PolicyStateProjection(Projection):
    name: ClassVar[str] = "policy_state"
    tables: ClassVar[tuple[Table, ...]] = (LEADS, DISCOUNTS, TICKETS, CUSTOMERS, ALERTS, TASKS,
                                           ERASED)
    ignored = frozenset({
        # nothing a policy decides from
        CustomerProfileChanged, CustomerTagged, CustomerUntagged, CustomerOwnerChanged,
        CustomerConsentChanged, CustomersMerged, CustomerRecordLinked,
        CustomerAlertLinked, TicketCommentAdded, PaymentReceived, *NOTE_EVENTS,
        # a lost lead is closed by its LeadStageChanged(to=lost)
        LeadLost,
    })

    # -- customers ----------------------------------------------------------------------------

    @handler(reads=[CUSTOMER])
    def registered(self, rows: Rows, event: CustomerRegistered, position: int) -> None:
        if rows.get(CUSTOMERS, str(event.customer_id)) is None:
            rows.put(CUSTOMERS, _customer(event))

    @handler
    def erased(self, rows: Rows, event: CustomerErased, position: int) -> None:
        for customer_id in (event.customer_id, *event.erased_customer_ids):
            rows.put(ERASED, {"id": str(customer_id), "tenant_id": event.tenant_id})

    @handler(reads=[CUSTOMER])
    def bought(self, rows: Rows, event: PurchaseRecorded | LeadWon, position: int) -> None:
        if isinstance(event, PurchaseRecorded) and not event.is_buying:
            return  # a zero-value purchase is no buying, nor activity for dormancy
        _active(rows, event, buyer=True)

    @handler(reads=[CUSTOMER])
    def became_dormant(self, rows: Rows, event: CustomerBecameDormant, position: int) -> None:
        row = rows.get(CUSTOMERS, str(event.customer_id)) or _customer(event)
        rows.put(CUSTOMERS, {**row, "dormant_for": iso(event.last_activity_at)})

    @handler(reads=[CUSTOMER, LEADS.row("lead_id")])
    def interaction_logged(self, rows: Rows, event: InteractionLogged, position: int) -> None:
        row = _active(rows, event, buyer=False)
        if _later(event, row.get("contacted_at")):
            rows.put(CUSTOMERS, {**row, "contacted_at": iso(event.occurred_at),
                                 "contact_event_id": str(event.event_id)})
        if event.lead_id is not None:
            lead = rows.get(LEADS, str(event.lead_id))
            if lead is not None:
                rows.put(LEADS, _touched(lead, event))

    # -- leads --------------------------------------------------------------------------------

    @handler
    def lead_created(self, rows: Rows, event: LeadCreated, position: int) -> None:
        rows.put(LEADS, {
            "id": str(event.aggregate_id), "tenant_id": event.tenant_id,
            "customer_id": str(event.customer_id), "title": event.title, "owner": event.owner,
            "stage": event.stage, "region": event.region, "industry": event.industry,
            "source": event.source, "amount": event.amount, "currency": event.currency,
            "open": True, "created_position": position, "created_event_id": str(event.event_id),
            "correlation_id": str(event.correlation_id), "touched_at": iso(event.occurred_at),
            "touch_event_id": str(event.event_id), "overdue_at": None, "overdue_count": 0,
            "stage_event_id": str(event.event_id), "rule_assigned_stage": None,
            "rule_assigned_position": None,
        })

    @handler(reads=[LEAD])
    def lead_assigned(self, rows: Rows, event: LeadAssigned, position: int) -> None:
        lead = rows.get(LEADS, str(event.aggregate_id))
        if lead is None:
            return
        changes: dict[str, Any] = {"owner": event.to_owner}
        if event.actor.startswith(RULE_ACTOR_PREFIX):
            changes |= {"rule_assigned_stage": lead["stage"], "rule_assigned_position": position}
        rows.put(LEADS, {**lead, **changes})

    @handler(reads=[LEAD])
    def lead_stage_changed(self, rows: Rows, event: LeadStageChanged, position: int) -> None:
        lead = rows.get(LEADS, str(event.aggregate_id))
        if lead is not None:
            rows.put(LEADS, {**_touched(lead, event), "stage": event.to_stage,
                             "open": event.to_stage not in ("won", "lost"),
                             "stage_event_id": str(event.event_id)})

    @handler(reads=[LEAD])
    def lead_amount_changed(self, rows: Rows, event: LeadAmountChanged, position: int) -> None:
        _update(rows, LEADS, str(event.aggregate_id), amount=event.amount,
                currency=event.currency)

    @handler(reads=[LEAD])
    def follow_up_overdue(self, rows: Rows, event: FollowUpOverdue, position: int) -> None:
        lead = rows.get(LEADS, str(event.aggregate_id))
        if lead is not None:
            rows.put(LEADS, {**lead, "overdue_at": iso(event.occurred_at),
                             "overdue_count": (lead["overdue_count"] or 0) + 1})

    # -- discounts ----------------------------------------------------------------------------

    @handler
    def discount_requested(self, rows: Rows, event: DiscountRequested, position: int) -> None:
        rows.put(DISCOUNTS, {
            "id": str(event.discount_id), "tenant_id": event.tenant_id,
            "lead_id": str(event.aggregate_id), "customer_id": str(event.customer_id),
            "percent": event.percent, "requested_by": event.actor,
            "requires_approval": event.requires_approval,
            "status": "pending" if event.requires_approval else "applied", "approver": None,
            "request_event_id": str(event.event_id), "correlation_id": str(event.correlation_id),
            "position": position, "decided_event_id": None,
        })

    @handler(reads=[DISCOUNT])
    def discount_approval_requested(self, rows: Rows, event: DiscountApprovalRequested,
                                    position: int) -> None:
        _update(rows, DISCOUNTS, str(event.discount_id), approver=event.approver)

    @handler(reads=[DISCOUNT])
    def discount_decided(self, rows: Rows, event: DiscountApproved | DiscountRejected,
                         position: int) -> None:
        status = "approved" if isinstance(event, DiscountApproved) else "rejected"
        _update(rows, DISCOUNTS, str(event.discount_id), status=status,
                decided_event_id=str(event.event_id))

    # -- tickets ------------------------------------------------------------------------------

    @handler
    def ticket_opened(self, rows: Rows, event: TicketOpened, position: int) -> None:
        rows.put(TICKETS, {
            "id": str(event.aggregate_id), "tenant_id": event.tenant_id,
            # The subject is personal (the SLA alert names the ticket by id): never kept here.
            "customer_id": str(event.customer_id), "subject": None,
            "priority": event.priority, "assignee": event.assignee, "status": "open",
            "open": True, "opened_at": iso(event.occurred_at),
            "open_event_id": str(event.event_id), "correlation_id": str(event.correlation_id),
            "responded": False, "resolution_since": iso(event.occurred_at),
            "resolution_event_id": str(event.event_id), "first_response_breached": False,
            "resolution_breached": False, "status_event_id": str(event.event_id),
        })

    @handler(reads=[TICKET])
    def ticket_assigned(self, rows: Rows, event: TicketAssigned, position: int) -> None:
        _update(rows, TICKETS, str(event.aggregate_id), assignee=event.to_assignee)

    @handler(reads=[TICKET])
    def ticket_priority_changed(self, rows: Rows, event: TicketPriorityChanged,
                                position: int) -> None:
        _update(rows, TICKETS, str(event.aggregate_id), priority=event.to_priority)

    @handler(reads=[TICKET])
    def ticket_first_responded(self, rows: Rows, event: TicketFirstResponded,
                               position: int) -> None:
        _update(rows, TICKETS, str(event.aggregate_id), responded=True)

    @handler(reads=[TICKET])
    def ticket_status_changed(self, rows: Rows, event: TicketStatusChanged,
                              position: int) -> None:
        changes: dict[str, Any] = {"status": event.to_status,
                                   "open": event.to_status in OPEN_TICKET_STATUSES,
                                   "status_event_id": str(event.event_id)}
        if event.to_status == "reopened":
            changes |= {"resolution_since": iso(event.occurred_at),
                        "resolution_event_id": str(event.event_id), "resolution_breached": False}
        _update(rows, TICKETS, str(event.aggregate_id), **changes)

    @handler(reads=[TICKET])
    def ticket_sla_breached(self, rows: Rows, event: TicketSlaBreached, position: int) -> None:
        _update(rows, TICKETS, str(event.aggregate_id), **{f"{event.sla}_breached": True})

    # -- alerts -------------------------------------------------------------------------------

    @handler
    def alert_raised(self, rows: Rows, event: AlertRaised, position: int) -> None:
        rows.put(ALERTS, {
            "id": str(event.aggregate_id), "tenant_id": event.tenant_id,
            "customer_id": str(event.customer_id), "kind": event.kind,
            "subject_id": str(event.subject_id), "status": "open",
            "raised_at": iso(event.occurred_at), "correlation_id": str(event.correlation_id),
            "due_at": iso(event.due_at) if event.due_at is not None else None,
        })

    @handler(reads=[ALERT])
    def alert_acknowledged(self, rows: Rows, event: AlertAcknowledged, position: int) -> None:
        _update(rows, ALERTS, str(event.aggregate_id), status="acknowledged")

    @handler(reads=[ALERT])
    def alert_resolved(self, rows: Rows, event: AlertResolved, position: int) -> None:
        _update(rows, ALERTS, str(event.aggregate_id), status="resolved")

    # -- tasks --------------------------------------------------------------------------------

    @handler
    def task_created(self, rows: Rows, event: TaskCreated, position: int) -> None:
        rows.put(TASKS, {
            "id": str(event.aggregate_id), "tenant_id": event.tenant_id,
            "customer_id": str(event.customer_id), "assignee": event.assignee,
            "created_by": event.actor, "open": True,
            **_schedule(event.due_at, event.remind_before_s, event),
            "reminded_for": None, "overdue_for": None, "remind_event_id": None,
            "overdue_event_id": None, "close_event_id": None,
            "correlation_id": str(event.correlation_id),
        })

    @handler(reads=[TASK])
    def task_rescheduled(self, rows: Rows, event: TaskRescheduled, position: int) -> None:
        _update(rows, TASKS, str(event.aggregate_id),
                **_schedule(event.due_at, event.remind_before_s, event))

    @handler(reads=[TASK])
    def task_reassigned(self, rows: Rows, event: TaskReassigned, position: int) -> None:
        _update(rows, TASKS, str(event.aggregate_id), assignee=event.to_assignee)

    @handler(reads=[TASK])
    def task_closed(self, rows: Rows, event: TaskCompleted | TaskCancelled, position: int) -> None:
        _update(rows, TASKS, str(event.aggregate_id), open=False,
                close_event_id=str(event.event_id))

    @handler(reads=[TASK])
    def task_reminded(self, rows: Rows, event: TaskReminded, position: int) -> None:
        _update(rows, TASKS, str(event.aggregate_id), reminded_for=iso(event.due_at),
                remind_event_id=str(event.event_id))

    @handler(reads=[TASK])
    def task_overdue(self, rows: Rows, event: TaskOverdue, position: int) -> None:
        _update(rows, TASKS, str(event.aggregate_id), overdue_for=iso(event.due_at),
                overdue_event_id=str(event.event_id))


def _schedule(due_at: datetime, remind_before_s: int | None, e: CrmEvent) -> Row:
    """A task's deadlines as the event that set them says."""
    remind_at = due_at - timedelta(seconds=remind_before_s) if remind_before_s else None
    return {"due_at": iso(due_at), "remind_before_s": remind_before_s,
            "remind_at": iso(remind_at) if remind_at is not None else None,
            "schedule_event_id": str(e.event_id)}


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


def _update(rows: Rows, table: Table, row_id: str, **changes: Any) -> None:
    row = rows.get(table, row_id)
    if row is not None:
        rows.put(table, {**row, **changes})
