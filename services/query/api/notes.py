"""A customer's notes (on it, its leads and its tickets), pinned first, then newest first,
with keyset pagination: the customer-360 shows the first twenty, this route every one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from services.common.auth.http import CallerDep
from services.common.web import ERROR_RESPONSES, ApiError, ErrorBody
from services.projections.customer_360 import reads as customer_360_model
from services.projections.notes import reads as notes
from services.projections.notes.reads import Cursor
from services.query.api.customers import MAX_PAGE, MAX_POSITION
from services.query.api.deps import (
    ReadModelsDep,
    RecordAccess,
    consistent,
    decode_cursor,
    encode_cursor,
)
from services.query.api.models import NotePage
from services.query.withholding import withheld

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{k: v for k, v in ERROR_RESPONSES.items() if k in (400, 404, 422)},
    504: {"model": ErrorBody, "description": "The read models did not reach `min_position` "
          "in time"},
}
router = APIRouter(prefix="/v1/customers", tags=["customers (read)"], responses=_RESPONSES)

# The route also asks customer_360 whether the customer is in the caller's book.
ConsistentNotes = Annotated[int, Depends(consistent(notes.NAME, customer_360_model.NAME))]


@router.get("/{customer_id}/notes", response_model=NotePage,
            summary="The customer's notes (also those on its leads and tickets), pinned first, "
            "then newest first")
def list_notes(
    customer_id: UUID, read_models: ReadModelsDep, caller: CallerDep,
    _position: ConsistentNotes, record: RecordAccess,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> dict[str, Any]:
    if not customer_360_model.customer_visible(read_models.sql, str(customer_id),
                                               caller.tenant_id, caller.book.limited_to()):
        raise ApiError(404, "not_found", f"customer {customer_id} not found", kind="customer",
                       id=str(customer_id))
    items, following = notes.read_notes(
        read_models.sql, customer_id=str(customer_id), limit=limit,
        after=_page_after(cursor) if cursor is not None else None, vault=read_models.vault)
    if "personal" in withheld(caller):
        items = [{**item, "body": None} for item in items]
    elif items:
        record("notes", [str(customer_id)])
    return {"items": items, "next_cursor": encode_cursor(following) if following else None}


def _page_after(cursor: str) -> Cursor:
    """The (pinned, created_at, position) a cursor this route returned names; 422 else."""
    pinned, at, position = decode_cursor(cursor, 3)
    refused = ApiError(422, "invalid_cursor", "the cursor is not one this API returned")
    if not isinstance(pinned, bool) or not isinstance(at, str) or not isinstance(position, int) \
            or isinstance(position, bool) or not 0 <= position <= MAX_POSITION:
        raise refused
    try:
        moment = datetime.fromisoformat(at)
        utc = moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        raise refused from None
    if utc is None or not 1900 <= utc.year < 9000:
        raise refused
    return pinned, at, position
