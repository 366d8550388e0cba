"""Routes on tickets: status, priority, assignment and comments."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from services.command.api.deps import (
    Context,
    IdempotencyHeader,
    IfMatch,
    Run,
    Service,
    accepted,
    expected_version,
)
from services.command.api.models import (
    CommandAccepted,
    TicketAssignIn,
    TicketCommentIn,
    TicketPriorityIn,
    TicketStatusIn,
)
from services.common.web import ERROR_RESPONSES

router = APIRouter(prefix="/v1/tickets", tags=["tickets"], responses=ERROR_RESPONSES)
TicketId = Annotated[UUID, Path(description="Ticket id")]


@router.post("/{ticket_id}/status", response_model=CommandAccepted,
             summary="Move the ticket (open → pending → resolved → closed; reopen)")
async def change_status(ticket_id: TicketId, body: TicketStatusIn, service: Service, run: Run,
                        ctx: Context, idempotency: IdempotencyHeader,
                        if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.change_ticket_status,
        ctx.with_occurred_at(body.occurred_at), ticket_id, body.status, body.reason, idempotency,
        expected_version(body.expected_version, if_match),
    ))


@router.post("/{ticket_id}/assign", response_model=CommandAccepted, summary="Assign the ticket")
async def assign(ticket_id: TicketId, body: TicketAssignIn, service: Service, run: Run,
                 ctx: Context, idempotency: IdempotencyHeader, if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.assign_ticket,
        ctx.with_occurred_at(body.occurred_at), ticket_id, body.assignee, idempotency,
        expected_version(body.expected_version, if_match),
    ))


@router.post("/{ticket_id}/comments", status_code=201, response_model=CommandAccepted,
             summary="Comment on the ticket (an agent's first public comment is the first response)")
async def comment(ticket_id: TicketId, body: TicketCommentIn, service: Service, run: Run,
                  ctx: Context, idempotency: IdempotencyHeader, if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.comment_on_ticket,
        ctx.with_occurred_at(body.occurred_at), ticket_id, body.personal.body, body.author_type,
        body.public, idempotency, expected_version(body.expected_version, if_match),
    ))


@router.post("/{ticket_id}/priority", response_model=CommandAccepted,
             summary="Change the ticket's priority (low, normal, high, urgent)")
async def change_priority(ticket_id: TicketId, body: TicketPriorityIn, service: Service, run: Run,
                          ctx: Context, idempotency: IdempotencyHeader,
                          if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.change_ticket_priority,
        ctx.with_occurred_at(body.occurred_at), ticket_id, body.priority, body.reason,
        idempotency, expected_version(body.expected_version, if_match),
    ))
