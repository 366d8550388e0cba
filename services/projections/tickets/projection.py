"""The tickets read model: one row per ticket with what its list filters and sorts on and the
moments its SLA clocks run from; one row per change of it (status, assignment, priority,
comment, SLA breach); the alerts raised about it; a row per customer for its name and company.

No deadline is stored: the targets are the tenant's rules in force, and a deadline is
`anchor + target(priority)` worked out at query time (reads.py). The anchors are kept as epoch
microseconds too, so that both SQL dialects can add and compare them.

Personal values (the subject, comment bodies, reasons, the customer's name) are sealed under
the customer's key (services/projections/personal.py). The subject and the name are searchable
by blind tokens: the subject's in `ticket_search`, one row per ticket, which an erasure deletes
(the customer's row lists its tickets for that); the name's on the customer's row, cleared
with the sealed name by `CustomerErased`. What stays sealed elsewhere opens to nothing once
the key is destroyed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
from services.common.events.ticket import (
    PRIORITIES,
    TicketAssigned,
    TicketCommentAdded,
    TicketFirstResponded,
    TicketOpened,
    TicketPriorityChanged,
    TicketSlaBreached,
    TicketStatusChanged,
)
from services.common.times import iso
from services.projections.model import Projection, Row, Rows, Table, events_outside, handler
from services.projections.personal import seal_values, search_column

TICKETS = Table("tickets", {
    "id": "text", "tenant_id": "text", "customer_id": "text", "status": "text",
    "priority": "text", "priority_rank": "int", "channel": "text", "assignee": "text",
    "opened_by": "text", "lead_id": "text", "external_ref": "text", "subject": "json",
    "opened_at": "ts", "opened_us": "int", "updated_at": "ts", "updated_us": "int",
    "first_response_at": "ts", "first_responded_by": "text", "first_response_us": "int",
    "resolved_at": "ts", "first_resolution_us": "int",
    "resolution_since": "ts", "resolution_since_us": "int",
    "resolution_stopped_at": "ts", "resolution_us": "int", "slowest_resolution_us": "int",
    "closed_at": "ts", "reopened": "int",
    "first_response_breached": "bool", "resolution_breached": "bool", "breaches": "int",
    "version": "int", "last_position": "int",
}, indexes=(("tenant_id", "opened_us"), ("tenant_id", "updated_us"),
            ("tenant_id", "assignee", "opened_us"), ("tenant_id", "customer_id"),
            ("tenant_id", "status", "opened_us"), ("tenant_id", "priority_rank", "opened_us")))
"""`*_us`: epoch microseconds of the moment beside it. The first-response clock runs from
`opened_us` until `first_response_us` (its length) is set; the resolution clock from
`resolution_since_us` (the opening, or the latest reopening) until `resolution_us` (the length
of that run) is set. `slowest_resolution_us` is the longest run resolved so far, `breaches`
the TicketSlaBreached events recorded, `*_breached` those of the running clocks."""
ENTRIES = Table("ticket_entries", {
    "id": "text", "ticket_id": "text", "tenant_id": "text", "kind": "text", "position": "int",
    "occurred_at": "ts", "actor": "text", "data": "json", "sealed": "json",
}, indexes=(("ticket_id", "kind", "position"),))
"""One row per change (id = event id). `kind`: status, assignment, priority, comment or
sla_breach; `data` holds no personal value, `sealed` the reason or comment body."""
ALERTS = Table("ticket_alerts", {
    "id": "text", "ticket_id": "text", "tenant_id": "text", "kind": "text", "status": "text",
    "assignees": "json", "summary": "text", "raised_at": "ts", "raised_by": "text",
    "due_at": "ts", "acknowledged_at": "ts", "acknowledged_by": "text", "resolved_at": "ts",
    "resolved_by": "text", "position": "int",
}, indexes=(("ticket_id", "position"),))
"""Alerts about a ticket (id = alert id). Their summaries name the ticket by id, never by its
subject; the notes given on acknowledge and resolve are not kept."""
CUSTOMERS = Table("ticket_customers", {
    "id": "text", "tenant_id": "text", "name": "json", "company": "text",
    "external_ref": "text", "search": "text", "erased": "bool", "ticket_ids": "json",
}, indexes=(("tenant_id",),))
SEARCH = Table("ticket_search", {
    "id": "text", "tenant_id": "text", "customer_id": "text", "search": "text",
}, indexes=(("tenant_id",),))
"""The blind tokens of each ticket's subject (id = ticket id)."""

TICKET = TICKETS.row("aggregate_id")
CUSTOMER = CUSTOMERS.row("customer_id")
ALERT = ALERTS.row("aggregate_id")
NAME_CONTEXT = "tickets.customer"
"""The context the customer's name is sealed under here (a ticket's subject is sealed under
the ticket's id, a comment's body under the comment's id, a reason under its event's id)."""
PRIORITY_RANK: dict[str, int] = {priority: rank for rank, priority in enumerate(PRIORITIES)}
"""low 0 … urgent 3."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """Epoch microseconds of an aware moment, exactly."""
    return (moment - EPOCH) // timedelta(microseconds=1)


class TicketsProjection(Projection):
    """Tickets for `GET /v1/tickets` and `GET /v1/tickets/{id}`."""

    name: ClassVar[str] = "tickets"
    tables: ClassVar[tuple[Table, ...]] = (TICKETS, ENTRIES, ALERTS, CUSTOMERS, SEARCH)
    holds_personal: ClassVar[bool] = True
    ignored = events_outside("crm.ticket.", "crm.customer.", "crm.alert.") | frozenset({
        # nothing a ticket shows: the caller's book is read from customer-360
        CustomerTagged, CustomerUntagged, CustomerOwnerChanged, CustomerConsentChanged,
        CustomerBecameDormant,
        # bookkeeping links saved with a new record or alert, whose own events are handled
        CustomerRecordLinked, CustomerAlertLinked,
    })

    # -- the customer -------------------------------------------------------------------------

    def _named(self, event: CrmEvent, name: str | None) -> dict[str, Any]:
        customer_id = str(event.customer_id)
        return {"name": seal_values(self.vault, customer_id, NAME_CONTEXT, {"name": name}),
                "search": search_column(self.vault, event.tenant_id,
                                        {"name": name} if name else {})}

    @handler(reads=[CUSTOMER])
    def customer_registered(self, rows: Rows, event: CustomerRegistered, position: int) -> None:
        row = _customer(rows, event)
        name = event.personal.name if event.personal is not None else None
        rows.put(CUSTOMERS, {**row, "company": event.company, "external_ref": event.external_ref,
                             **self._named(event, name)})

    @handler(reads=[CUSTOMER])
    def customer_profile_changed(self, rows: Rows, event: CustomerProfileChanged,
                                 position: int) -> None:
        row = _customer(rows, event)
        changes: dict[str, Any] = {}
        if event.company is not None:
            changes["company"] = event.company
        name = event.personal.name if event.personal is not None else None
        if name is not None and not row["erased"]:
            changes |= self._named(event, name)
        if changes:
            rows.put(CUSTOMERS, {**row, **changes})

    @handler(reads=[CUSTOMER])
    def customer_erased(self, rows: Rows, event: CustomerErased, position: int) -> None:
        """The key is destroyed: drop the sealed name and every blind token of the customer's
        name and of its tickets' subjects."""
        row = _customer(rows, event)
        for ticket_id in row["ticket_ids"]:
            rows.delete(SEARCH, ticket_id)
        rows.put(CUSTOMERS, {**row, "name": None, "search": None, "erased": True})

    @handler(reads=[CUSTOMER, CUSTOMERS.row("merged_customer_id")])
    def customers_merged(self, rows: Rows, event: CustomersMerged, position: int) -> None:
        """Recorded on the survivor: erasing it erases the merged customer too, so it takes
        on the merged customer's tickets for that."""
        merged = rows.get(CUSTOMERS, str(event.merged_customer_id))
        if merged is None or not merged["ticket_ids"]:
            return
        row = _customer(rows, event)
        ticket_ids = list(dict.fromkeys([*row["ticket_ids"], *merged["ticket_ids"]]))
        rows.put(CUSTOMERS, {**row, "ticket_ids": ticket_ids})

    # -- tickets ------------------------------------------------------------------------------

    @handler(reads=[CUSTOMER])
    def ticket_opened(self, rows: Rows, event: TicketOpened, position: int) -> None:
        ticket_id, customer_id = str(event.aggregate_id), str(event.customer_id)
        customer = _customer(rows, event)
        if ticket_id not in customer["ticket_ids"]:
            rows.put(CUSTOMERS, {**customer, "ticket_ids": [*customer["ticket_ids"], ticket_id]})
        at, us = iso(event.occurred_at), micros(event.occurred_at)
        rows.put(TICKETS, {
            "id": ticket_id, "tenant_id": event.tenant_id, "customer_id": customer_id,
            "status": "open", "priority": event.priority,
            "priority_rank": PRIORITY_RANK[event.priority], "channel": event.channel,
            "assignee": event.assignee, "opened_by": event.actor,
            "lead_id": str(event.lead_id) if event.lead_id else None,
            "external_ref": event.external_ref,
            "subject": seal_values(self.vault, customer_id, ticket_id,
                                   {"subject": event.subject}),
            "opened_at": at, "opened_us": us, "updated_at": at, "updated_us": us,
            "first_response_at": None, "first_responded_by": None, "first_response_us": None,
            "resolved_at": None, "first_resolution_us": None,
            "resolution_since": at, "resolution_since_us": us, "resolution_stopped_at": None,
            "resolution_us": None, "slowest_resolution_us": None, "closed_at": None,
            "reopened": 0, "first_response_breached": False, "resolution_breached": False,
            "breaches": 0, "version": 1, "last_position": position,
        })
        # A subject is matched like a name: whole, by its words and by their starts.
        tokens = search_column(self.vault, event.tenant_id,
                               {"name": event.subject} if event.subject else {})
        if tokens is not None:
            rows.put(SEARCH, {"id": ticket_id, "tenant_id": event.tenant_id,
                              "customer_id": customer_id, "search": tokens})
        _entry(rows, event, position, "status", {"from_status": None, "to_status": "open"})

    @handler(reads=[TICKET])
    def ticket_status_changed(self, rows: Rows, event: TicketStatusChanged,
                              position: int) -> None:
        ticket = rows.get(TICKETS, str(event.aggregate_id))
        if ticket is None:
            return
        at, us = iso(event.occurred_at), micros(event.occurred_at)
        changes: dict[str, Any] = {"status": event.to_status}
        if event.to_status == "resolved" and ticket["resolution_us"] is None:
            took = max(0, us - ticket["resolution_since_us"])
            changes |= {"resolution_us": took, "resolution_stopped_at": at,
                        "slowest_resolution_us": max(ticket["slowest_resolution_us"] or 0, took)}
            if ticket["resolved_at"] is None:  # a ticket's resolution is its first one
                changes |= {"resolved_at": at, "first_resolution_us": took}
        elif event.to_status == "closed":
            changes["closed_at"] = at
        elif event.to_status == "reopened":  # the reopened work gets a clock of its own
            changes |= {"reopened": ticket["reopened"] + 1, "resolution_since": at,
                        "resolution_since_us": us, "resolution_us": None,
                        "resolution_stopped_at": None, "resolution_breached": False,
                        "closed_at": None}
        _change(rows, ticket, event, position, changes)
        _entry(rows, event, position, "status",
               {"from_status": event.from_status, "to_status": event.to_status},
               self._reason(event, event.reason))

    @handler(reads=[TICKET])
    def ticket_first_responded(self, rows: Rows, event: TicketFirstResponded,
                               position: int) -> None:
        ticket = rows.get(TICKETS, str(event.aggregate_id))
        if ticket is not None and ticket["first_response_us"] is None:
            _change(rows, ticket, event, position, {
                "first_response_at": iso(event.occurred_at),
                "first_responded_by": event.responded_by,
                "first_response_us": round(event.response_seconds * 1_000_000)})

    @handler(reads=[TICKET])
    def ticket_assigned(self, rows: Rows, event: TicketAssigned, position: int) -> None:
        ticket = rows.get(TICKETS, str(event.aggregate_id))
        if ticket is None:
            return
        _change(rows, ticket, event, position, {"assignee": event.to_assignee})
        _entry(rows, event, position, "assignment",
               {"from_assignee": event.from_assignee, "to_assignee": event.to_assignee})

    @handler(reads=[TICKET])
    def ticket_priority_changed(self, rows: Rows, event: TicketPriorityChanged,
                                position: int) -> None:
        ticket = rows.get(TICKETS, str(event.aggregate_id))
        if ticket is None:
            return
        _change(rows, ticket, event, position, {
            "priority": event.to_priority, "priority_rank": PRIORITY_RANK[event.to_priority]})
        _entry(rows, event, position, "priority",
               {"from_priority": event.from_priority, "to_priority": event.to_priority},
               self._reason(event, event.reason))

    @handler(reads=[TICKET])
    def ticket_comment_added(self, rows: Rows, event: TicketCommentAdded, position: int) -> None:
        ticket = rows.get(TICKETS, str(event.aggregate_id))
        if ticket is None:
            return
        _change(rows, ticket, event, position, {})
        body = event.personal.body if event.personal is not None else None
        _entry(rows, event, position, "comment", {
            "comment_id": str(event.comment_id), "author": event.author,
            "author_type": event.author_type, "public": event.public,
        }, seal_values(self.vault, str(event.customer_id), str(event.comment_id),
                       {"body": body}))

    @handler(reads=[TICKET])
    def ticket_sla_breached(self, rows: Rows, event: TicketSlaBreached, position: int) -> None:
        ticket = rows.get(TICKETS, str(event.aggregate_id))
        if ticket is None:
            return
        _change(rows, ticket, event, position, {f"{event.sla}_breached": True,
                                                "breaches": ticket["breaches"] + 1})
        _entry(rows, event, position, "sla_breach", {
            "sla": event.sla, "priority": event.priority,
            "target_seconds": event.target_seconds, "deadline": iso(event.deadline)})

    def _reason(self, event: CrmEvent, reason: str | None) -> Any:
        return seal_values(self.vault, str(event.customer_id), str(event.event_id),
                           {"reason": reason})

    # -- alerts about a ticket ----------------------------------------------------------------

    @handler
    def alert_raised(self, rows: Rows, event: AlertRaised, position: int) -> None:
        if event.subject_kind != "ticket":
            return
        rows.put(ALERTS, {
            "id": str(event.aggregate_id), "ticket_id": str(event.subject_id),
            "tenant_id": event.tenant_id, "kind": event.kind, "status": "open",
            "assignees": list(event.assignees), "summary": event.summary,
            "raised_at": iso(event.occurred_at), "raised_by": event.actor,
            "due_at": iso(event.due_at) if event.due_at is not None else None,
            "acknowledged_at": None, "acknowledged_by": None, "resolved_at": None,
            "resolved_by": None, "position": position,
        })

    @handler(reads=[ALERT])
    def alert_acknowledged(self, rows: Rows, event: AlertAcknowledged, position: int) -> None:
        alert = rows.get(ALERTS, str(event.aggregate_id))
        if alert is not None and alert["status"] == "open":
            rows.put(ALERTS, {**alert, "status": "acknowledged",
                              "acknowledged_at": iso(event.occurred_at),
                              "acknowledged_by": event.by})

    @handler(reads=[ALERT])
    def alert_resolved(self, rows: Rows, event: AlertResolved, position: int) -> None:
        alert = rows.get(ALERTS, str(event.aggregate_id))
        if alert is not None:
            rows.put(ALERTS, {**alert, "status": "resolved", "resolved_at": iso(event.occurred_at),
                              "resolved_by": event.by})


def _customer(rows: Rows, event: CrmEvent) -> Row:
    """The event's customer's row, or a new one."""
    customer_id = str(event.customer_id)
    return rows.get(CUSTOMERS, customer_id) or {
        "id": customer_id, "tenant_id": event.tenant_id, "name": None, "company": None,
        "external_ref": None, "search": None, "erased": False, "ticket_ids": []}


def _change(rows: Rows, ticket: Row, event: CrmEvent, position: int,
            changes: dict[str, Any]) -> None:
    """Write the ticket back changed, as of the event (its latest business time kept)."""
    us = micros(event.occurred_at)
    later = us > ticket["updated_us"]
    rows.put(TICKETS, {
        **ticket, **changes,
        "updated_at": iso(event.occurred_at) if later else ticket["updated_at"],
        "updated_us": us if later else ticket["updated_us"],
        "version": ticket["version"] + 1, "last_position": position})


def _entry(rows: Rows, event: CrmEvent, position: int, kind: str, data: dict[str, Any],
           sealed: Any = None) -> None:
    rows.put(ENTRIES, {
        "id": str(event.event_id), "ticket_id": str(event.aggregate_id),
        "tenant_id": event.tenant_id, "kind": kind, "position": position,
        "occurred_at": iso(event.occurred_at), "actor": event.actor, "data": data,
        "sealed": sealed})

