"""Service read model: one row per ticket with the moments that service levels are made of.

Every ticket event after TicketOpened reads and rewrites only its ticket's row. Durations are
business-time seconds worked out once, at apply time: first response (from TicketFirstResponded,
which the domain records with the first public agent comment or the first move to pending or
resolved) and resolution (opened → the first move to `resolved`; a reopened ticket keeps its
first resolution). The figures are defined and computed in reads.py.

`priority` is the priority the ticket was opened with, and stays so: TicketPriorityChanged is
ignored on purpose. Service levels are reported by the priority a ticket came in with (the
commitment made when it arrived), so an escalation — by hand, or by the SLA rule after a breach
— does not move a slow ticket out of its group into a more urgent one, nor judge it by the
tighter target of a priority it did not have for most of its life. A breach the rule recorded
(TicketSlaBreached) counts whatever the priority was then.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from services.common.events.envelope import CrmEvent
from services.common.events.ticket import (
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

TICKETS = Table("service_tickets", {
    "id": "text",                  # ticket id
    "customer_id": "text",
    "tenant_id": "text",
    "priority": "text",            # low | normal | high | urgent, at opening (never changed)
    "channel": "text",
    "assignee": "text",            # current
    "status": "text",              # current
    "opened_at": "ts",             # business time
    "first_response_at": "ts",
    "first_response_s": "float",   # TicketFirstResponded.response_seconds
    "resolved_at": "ts",           # first resolution
    "resolution_s": "float",       # resolved_at - opened_at
    "closed_at": "ts",             # latest close
    "reopened": "int",             # times reopened
    "sla_breached": "bool",        # a TicketSlaBreached event was recorded
    "sla_breaches": "json",        # which SLAs were breached, e.g. ["first_response"]
})
TICKET = TICKETS.row("aggregate_id")


class ServiceProjection(Projection):
    """Tickets with first response, first resolution, reopenings and SLA breaches."""

    name: ClassVar[str] = "service"
    store_kind = "analytics"
    tables: ClassVar[tuple[Table, ...]] = (TICKETS,)
    ignored = events_outside("crm.ticket.") | {
        TicketPriorityChanged,  # reported by the priority at opening (module docstring)
        TicketCommentAdded,  # the first response comes as TicketFirstResponded
    }
    """Every non-ticket event, and the two above."""

    @handler
    def opened(self, rows: Rows, event: TicketOpened, position: int) -> None:
        rows.put(TICKETS, {
            "id": str(event.aggregate_id), "customer_id": str(event.customer_id),
            "tenant_id": event.tenant_id, "priority": event.priority, "channel": event.channel,
            "assignee": event.assignee, "status": "open", "opened_at": iso(event.occurred_at),
            "first_response_at": None, "first_response_s": None, "resolved_at": None,
            "resolution_s": None, "closed_at": None, "reopened": 0, "sla_breached": False,
            "sla_breaches": [],
        })

    @handler(reads=[TICKET])
    def first_responded(self, rows: Rows, event: TicketFirstResponded, position: int) -> None:
        ticket = _ticket(rows, event)
        if ticket["first_response_at"] is None:
            rows.put(TICKETS, {**ticket, "first_response_at": iso(event.occurred_at),
                               "first_response_s": event.response_seconds})

    @handler(reads=[TICKET])
    def status_changed(self, rows: Rows, event: TicketStatusChanged, position: int) -> None:
        ticket = _ticket(rows, event)
        at = event.occurred_at
        changed: Row = {**ticket, "status": event.to_status}
        if event.to_status == "resolved" and ticket["resolved_at"] is None:
            changed["resolved_at"] = iso(at)
            changed["resolution_s"] = (
                at - datetime.fromisoformat(ticket["opened_at"])).total_seconds()
        elif event.to_status == "closed":
            changed["closed_at"] = iso(at)
        elif event.to_status == "reopened":
            changed["reopened"] = ticket["reopened"] + 1
        rows.put(TICKETS, changed)

    @handler(reads=[TICKET])
    def assigned(self, rows: Rows, event: TicketAssigned, position: int) -> None:
        rows.put(TICKETS, {**_ticket(rows, event), "assignee": event.to_assignee})

    @handler(reads=[TICKET])
    def sla_breached(self, rows: Rows, event: TicketSlaBreached, position: int) -> None:
        ticket = _ticket(rows, event)
        breaches = ticket["sla_breaches"]
        rows.put(TICKETS, {
            **ticket, "sla_breached": True,
            "sla_breaches": breaches if event.sla in breaches else [*breaches, event.sla],
        })


def _ticket(rows: Rows, event: CrmEvent) -> Row:
    ticket = rows.get(TICKETS, str(event.aggregate_id))
    if ticket is None:
        raise LookupError(f"{type(event).__name__} for ticket {event.aggregate_id}, "
                          "which has no TicketOpened before it")
    return ticket
