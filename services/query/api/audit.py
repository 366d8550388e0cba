"""The access log for auditors: who read which customer's personal data, and when."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from services.common.auth.http import CallerDep
from services.common.web import ERROR_RESPONSES, ApiError
from services.query.access_log import What, read_access
from services.query.api.deps import (
    PRINTABLE,
    Moment,
    ReadModelsDep,
    encode_cursor,
    moment_cursor,
)

MAX_PAGE = 500
MAX_ID = 2**62

router = APIRouter(prefix="/v1/audit", tags=["audit"],
                   responses={k: v for k, v in ERROR_RESPONSES.items() if k in (400, 422)})

From = Annotated[Moment | None, Query(alias="from", description="Read at or after, inclusive")]
To = Annotated[Moment | None, Query(alias="to", description="Read before, exclusive")]

_EXAMPLE: dict[str, Any] = {
    "items": [{"customer_id": "6a2ec81c-b024-4755-9c07-4ce0dc537015", "subject": "mgr-n",
               "what": "customer_360", "at": "2026-03-02T09:30:00.120000+00:00",
               "route": "GET /v1/customers/{customer_id}"}],
    "next_cursor": None,
}


class AccessEntry(BaseModel):
    customer_id: str | None = Field(description="Null: every customer of the tenant (an "
                                    "export)")
    subject: str = Field(description="Who read: the principal's subject, or `cli:<user>`")
    what: What
    at: str = Field(description="When, UTC")
    route: str = Field(description="The route's template (never the query string)")


class AccessPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    items: list[AccessEntry]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on "
                                    "the last page.")


@router.get("/access", response_model=AccessPage,
            summary="The access log: who read which customer's personal data, newest first")
def access(
    read_models: ReadModelsDep, caller: CallerDep,
    customer_id: Annotated[UUID | None, Query(description="Only reads of this customer")] = None,
    subject: Annotated[str | None, Query(min_length=1, max_length=128, pattern=PRINTABLE,
                                         description="Only reads by this subject")] = None,
    start: From = None, end: To = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> dict[str, Any]:
    if start is not None and end is not None and end <= start:
        raise ApiError(422, "invalid_range", "`to` must be after `from`")
    store = read_models.access_log.store  # started here too: it creates the table
    items, following = read_access(
        store, caller.tenant_id,
        customer_id=str(customer_id) if customer_id is not None else None, subject=subject,
        start=start, end=end, limit=limit,
        before=moment_cursor(cursor, MAX_ID) if cursor is not None else None)
    return {"items": items, "next_cursor": encode_cursor(following) if following else None}


