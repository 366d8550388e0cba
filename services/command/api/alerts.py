"""Routes on alerts: acknowledge (someone is on it) and resolve (done)."""

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
from services.command.api.models import AlertNoteIn, CommandAccepted
from services.common.web import ERROR_RESPONSES

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], responses=ERROR_RESPONSES)
AlertId = Annotated[UUID, Path(description="Alert id")]


@router.post("/{alert_id}/acknowledge", response_model=CommandAccepted,
             summary="Acknowledge an open alert (the body is optional)")
async def acknowledge(alert_id: AlertId, service: Service, run: Run, ctx: Context,
                      idempotency: IdempotencyHeader, if_match: IfMatch,
                      body: AlertNoteIn | None = None) -> JSONResponse:
    body = body or AlertNoteIn()
    return accepted(await run(
        service.acknowledge_alert,
        ctx.with_occurred_at(body.occurred_at), alert_id, body.note, idempotency,
        expected_version(body.expected_version, if_match),
    ))


@router.post("/{alert_id}/resolve", response_model=CommandAccepted,
             summary="Resolve an open or acknowledged alert (the body is optional)")
async def resolve(alert_id: AlertId, service: Service, run: Run, ctx: Context,
                  idempotency: IdempotencyHeader, if_match: IfMatch,
                  body: AlertNoteIn | None = None) -> JSONResponse:
    body = body or AlertNoteIn()
    return accepted(await run(
        service.resolve_alert,
        ctx.with_occurred_at(body.occurred_at), alert_id, body.note, idempotency,
        expected_version(body.expected_version, if_match),
    ))
