"""The alerts inbox of the query API: alerts raised by the rules, filtered by assignee, status,
kind, customer or subject, newest first, with keyset pagination."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from services.common.auth.http import CallerDep
from services.common.events.alert import AlertKind
from services.common.times import iso
from services.common.web import ERROR_RESPONSES, ApiError, ErrorBody
from services.projections.alerts import reads as alerts
from services.projections.alerts.reads import Cursor, StatusFilter
from services.query.api.customers import MAX_PAGE, MAX_POSITION
from services.query.api.deps import (
    CodeParam,
    ReadModelsDep,
    consistent,
    decode_cursor,
    encode_cursor,
)
from services.query.api.models import AlertPage

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{k: v for k, v in ERROR_RESPONSES.items() if k in (400, 422)},
    504: {"model": ErrorBody, "description": "The read models did not reach `min_position` "
          "in time"},
}
router = APIRouter(prefix="/v1/alerts", tags=["alerts (read)"], responses=_RESPONSES)

ConsistentAlerts = Annotated[int, Depends(consistent(alerts.NAME))]


@router.get("", response_model=AlertPage,
            summary="Alerts: by assignee, status, kind, customer or subject; newest first")
def list_alerts(
    read_models: ReadModelsDep, caller: CallerDep, _position: ConsistentAlerts,
    assignee: CodeParam = None,
    status: Annotated[StatusFilter, Query(
        description="`active` (the default) is open or acknowledged")] = "active",
    kind: Annotated[AlertKind | None, Query()] = None,
    customer_id: UUID | None = None,
    subject_id: Annotated[UUID | None, Query(description="The lead, ticket, task or customer "
                                             "the alert is about")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> dict[str, Any]:
    items, following = alerts.read_alerts(
        read_models.sql, caller.tenant_id, status=status, assignee=assignee, kind=kind,
        assigned_to_any_of=caller.book.limited_to(),
        customer_id=str(customer_id) if customer_id else None,
        subject_id=str(subject_id) if subject_id else None, limit=limit,
        before=_page_after(cursor) if cursor is not None else None)
    return {"items": items, "next_cursor": encode_cursor(following) if following else None}


def _page_after(cursor: str) -> Cursor:
    """The (raised_at, position) a cursor this route returned names; 422 for anything else."""
    at, position = decode_cursor(cursor, 2)
    refused = ApiError(422, "invalid_cursor", "the cursor is not one this API returned")
    if not isinstance(at, str) or not isinstance(position, int) or isinstance(position, bool) \
            or not 0 <= position <= MAX_POSITION:
        raise refused
    try:
        moment = datetime.fromisoformat(at)
        # Only aware moments with a UTC equivalent (a year-1 time at +14:00 has none).
        utc = moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        raise refused from None
    if utc is None:
        raise refused
    return iso(utc), position
