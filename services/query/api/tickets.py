"""Ticket routes of the query API: the list with filters, SLA clocks, search, sorts and keyset
pages, and one ticket's page — from the `tickets` read model, scoped to the caller's book."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from services.common.auth.http import Caller, CallerDep
from services.common.events.ticket import Priority, TicketStatus
from services.common.web import ERROR_RESPONSES, ApiError, ErrorBody
from services.projections.customer_360 import reads as customer_360_model
from services.projections.tickets import reads as tickets_model
from services.projections.tickets.reads import NO_TARGETS, SlaTargets
from services.query.api.customers import MAX_PAGE
from services.query.api.deps import (
    PRINTABLE,
    Duration,
    Moment,
    ReadModelsDep,
    RecordAccess,
    consistent,
    decode_cursor,
    encode_cursor,
)
from services.query.api.models import TicketDetail, TicketPage
from services.query.withholding import withheld

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{k: v for k, v in ERROR_RESPONSES.items() if k in (400, 404, 422)},
    504: {"model": ErrorBody, "description": "The read models did not reach `min_position` "
          "in time"},
}
router = APIRouter(prefix="/v1/tickets", tags=["tickets (read)"], responses=_RESPONSES)

# customer-360 too: a scoped caller's book takes the tickets of the customers in it
ConsistentTickets = Annotated[int, Depends(consistent(tickets_model.NAME,
                                                      customer_360_model.NAME))]
AsOf = Annotated[Moment | None, Query(
    description="The moment the SLA clocks are read at (default: now)")]
_MAX_SORT_VALUE = 2**63 - 1


def sla_targets(request: Request, tenant_id: str) -> SlaTargets:
    """The tenant's SLA targets in force (`app.state.sla_targets_of`, from its rules)."""
    targets_of = getattr(request.app.state, "sla_targets_of", None)
    return NO_TARGETS if targets_of is None else targets_of(tenant_id)  # type: ignore[no-any-return]


@router.get("", response_model=TicketPage,
            summary="Tickets: by assignee, status, priority, customer, SLA breach and due time, "
                    "search; sorted; keyset pages")
def list_tickets(
    request: Request, read_models: ReadModelsDep, caller: CallerDep,
    _position: ConsistentTickets, record: RecordAccess,
    assignee: Annotated[str | None, Query(
        min_length=1, max_length=64, pattern=PRINTABLE,
        description="The person a ticket is assigned to; `me` for yourself")] = None,
    status: Annotated[list[TicketStatus] | None, Query(
        description="Any of these statuses (repeat the parameter)")] = None,
    priority: Annotated[list[Priority] | None, Query(
        description="Any of these priorities (repeat the parameter)")] = None,
    customer_id: UUID | None = None,
    breached: Annotated[bool | None, Query(
        description="true: a breach was recorded, or a clock is overdue or finished late, at "
        "`as_of`; false: none of that")] = None,
    due_within: Annotated[Duration | None, Query(
        description="Tickets whose next SLA deadline falls within this long after `as_of` "
        "(`2h`, `1d12h`: spelt as in the rules file); passed deadlines are `breached`")] = None,
    q: Annotated[str | None, Query(
        min_length=1, max_length=100, pattern=PRINTABLE,
        description="A word of the subject or the customer's name, or its start; text in the "
        "company, or in the ticket's or the customer's external reference")] = None,
    sort: Annotated[tickets_model.SortKey, Query(
        description="opened_at, priority (then opened_at), due_at (the next SLA deadline; "
        "tickets without one last) or updated_at")] = "opened_at",
    order: Annotated[Literal["asc", "desc"] | None, Query(
        description="Default: newest first for opened_at and updated_at, most urgent first "
        "for priority, soonest first for due_at")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    include_total: bool = False,
    as_of: AsOf = None,
) -> dict[str, Any]:
    descending = order == "desc" if order is not None else \
        tickets_model.DEFAULT_DESCENDING[sort]
    direction = "desc" if descending else "asc"
    after = _page_after(cursor, sort, direction) if cursor is not None else None
    page = tickets_model.list_tickets(
        read_models.sql, tickets_model.TicketFilter(
            tenant_id=caller.tenant_id, statuses=status, priorities=priority,
            assignee=caller.actor if assignee == "me" else assignee,
            customer_id=str(customer_id) if customer_id else None, breached=breached,
            due_within=due_within, q=q, book=caller.book.limited_to()),
        targets=sla_targets(request, caller.tenant_id), as_of=as_of or datetime.now(UTC),
        sort=sort, descending=descending, limit=limit, after=after,
        include_total=include_total, vault=read_models.vault)
    if q is not None:
        # Search hits: `q` is matched against subjects and names.
        record("search", list(dict.fromkeys(item["customer_id"] for item in page.items)))
    next_cursor = None
    if page.next_after is not None:
        next_cursor = encode_cursor([sort, direction, *page.next_after])
    return {"items": [_as_served(item, caller) for item in page.items],
            "next_cursor": next_cursor, "total": page.total}


@router.get("/{ticket_id}", response_model=TicketDetail,
            summary="A ticket: status history, comments, SLA clocks against the targets in "
                    "force, escalations and alerts")
def ticket(
    ticket_id: UUID, request: Request, read_models: ReadModelsDep, caller: CallerDep,
    _position: ConsistentTickets, record: RecordAccess, as_of: AsOf = None,
) -> dict[str, Any]:
    found = tickets_model.read_ticket(
        read_models.sql, str(ticket_id), tenant_id=caller.tenant_id,
        book=caller.book.limited_to(), targets=sla_targets(request, caller.tenant_id),
        as_of=as_of or datetime.now(UTC), vault=read_models.vault)
    if found is None:
        raise ApiError(404, "not_found", f"ticket {ticket_id} not found", kind="ticket",
                       id=str(ticket_id))
    if "personal" not in withheld(caller):
        record("ticket", [found["customer_id"]])
    return _as_served(found, caller)


def _as_served(ticket: dict[str, Any], caller: Caller) -> dict[str, Any]:
    """The ticket as this caller may read it: without its personal values (subject, the
    customer's name, comment bodies, reasons) when the caller's roles withhold them; the
    customer is then named by its external reference, if it has one."""
    if "personal" not in withheld(caller):
        return ticket
    reference = None if ticket["customer_erased"] else ticket["customer_external_ref"]
    served = {**ticket, "subject": None, "customer_name": reference}
    if "comments" in ticket:
        served["comments"] = [{**c, "body": None} for c in ticket["comments"]]
        for part in ("status_history", "priority_changes"):
            served[part] = [{**entry, "reason": None} for entry in ticket[part]]
    return served


def _page_after(cursor: str, sort: str, direction: str) -> list[Any]:
    """The sort values and ticket id a cursor this route returned names, made under the same
    sort and order; 422 for anything else (a cursor of another sort would silently restart)."""
    refused = ApiError(422, "invalid_cursor", "the cursor is not one this API returned for "
                       f"sort={sort} and order={direction}", sort=sort, order=direction)
    keys = 2 if sort == "priority" else 1
    made_sort, made_direction, *values = decode_cursor(cursor, 3 + keys)
    *numbers, last_id = values
    if (made_sort, made_direction) != (sort, direction) or not isinstance(last_id, str) \
            or not all(isinstance(n, int) and not isinstance(n, bool)
                       and abs(n) <= _MAX_SORT_VALUE for n in numbers):
        raise refused
    try:
        UUID(last_id)
    except ValueError:
        raise refused from None
    return [*numbers, last_id]
