"""Routes on notes: write one on a customer, a lead or a ticket; edit or delete your own."""

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
from services.command.api.models import CommandAccepted, ConditionalBody, NoteEditIn, NoteIn
from services.common.events.note import NoteSubject
from services.common.web import ERROR_RESPONSES

router = APIRouter(tags=["notes"], responses=ERROR_RESPONSES)
NoteId = Annotated[UUID, Path(description="Note id")]

_ON = ("Free text up to 10,000 characters, sealed under the customer's key. The caller is its "
       "author: only they (or an admin) edit or delete it. `pinned` notes come first in the "
       "customer-360.")


async def _add(kind: NoteSubject, subject_id: UUID, body: NoteIn, service: Service, run: Run,
               ctx: Context, idempotency: IdempotencyHeader) -> JSONResponse:
    return accepted(await run(
        service.add_note, ctx.with_occurred_at(body.occurred_at), kind, subject_id,
        body=body.body, pinned=body.pinned, idempotency=idempotency))


@router.post("/v1/customers/{customer_id}/notes", status_code=201,
             response_model=CommandAccepted, summary="Write a note on a customer",
             description=_ON)
async def note_on_customer(customer_id: Annotated[UUID, Path(description="Customer id")],
                           body: NoteIn, service: Service, run: Run, ctx: Context,
                           idempotency: IdempotencyHeader) -> JSONResponse:
    return await _add("customer", customer_id, body, service, run, ctx, idempotency)


@router.post("/v1/leads/{lead_id}/notes", status_code=201, response_model=CommandAccepted,
             summary="Write a note on a lead", description=_ON)
async def note_on_lead(lead_id: Annotated[UUID, Path(description="Lead id")], body: NoteIn,
                       service: Service, run: Run, ctx: Context,
                       idempotency: IdempotencyHeader) -> JSONResponse:
    return await _add("lead", lead_id, body, service, run, ctx, idempotency)


@router.post("/v1/tickets/{ticket_id}/notes", status_code=201, response_model=CommandAccepted,
             summary="Write a note on a ticket", description=_ON)
async def note_on_ticket(ticket_id: Annotated[UUID, Path(description="Ticket id")],
                         body: NoteIn, service: Service, run: Run, ctx: Context,
                         idempotency: IdempotencyHeader) -> JSONResponse:
    return await _add("ticket", ticket_id, body, service, run, ctx, idempotency)


@router.post("/v1/notes/{note_id}/edit", response_model=CommandAccepted,
             summary="Edit your note: its body, whether it is pinned, or both",
             description="Recorded as an event: the audit history keeps every version and who "
             "wrote it. Only the note's author (or an admin) may edit it; another's note is "
             "404.")
async def edit_note(note_id: NoteId, body: NoteEditIn, service: Service, run: Run, ctx: Context,
                    idempotency: IdempotencyHeader, if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.edit_note, ctx.with_occurred_at(body.occurred_at), note_id, body=body.body,
        pinned=body.pinned, idempotency=idempotency,
        expected_version=expected_version(body.expected_version, if_match)))


@router.delete("/v1/notes/{note_id}", response_model=CommandAccepted,
               summary="Delete your note (the body is optional)",
               description="The note leaves the customer-360 and its timeline entries show it "
               "deleted; the audit history keeps it. Only its author (or an admin) may delete "
               "it.")
async def delete_note(note_id: NoteId, service: Service, run: Run, ctx: Context,
                      idempotency: IdempotencyHeader, if_match: IfMatch,
                      body: ConditionalBody | None = None) -> JSONResponse:
    body = body or ConditionalBody()
    return accepted(await run(
        service.delete_note, ctx.with_occurred_at(body.occurred_at), note_id, idempotency,
        expected_version(body.expected_version, if_match)))
