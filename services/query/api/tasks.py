"""The task list of the query API: "my tasks due this week", a customer's or a lead's tasks,
soonest due first, with keyset pagination; scoped to the caller's book."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from services.common.auth.http import CallerDep
from services.common.web import ERROR_RESPONSES, ApiError, ErrorBody
from services.projections.tasks import reads as tasks
from services.projections.tasks.reads import Cursor, StatusFilter
from services.query.api.customers import MAX_PAGE
from services.query.api.deps import (
    CodeParam,
    Moment,
    ReadModelsDep,
    RecordAccess,
    consistent,
    decode_cursor,
    encode_cursor,
)
from services.query.api.models import TaskPage
from services.query.withholding import withheld

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{k: v for k, v in ERROR_RESPONSES.items() if k in (400, 422)},
    504: {"model": ErrorBody, "description": "The read models did not reach `min_position` "
          "in time"},
}
router = APIRouter(prefix="/v1/tasks", tags=["tasks (read)"], responses=_RESPONSES)

ConsistentTasks = Annotated[int, Depends(consistent(tasks.NAME))]
ME = "me"


@router.get("", response_model=TaskPage,
            summary="Tasks: by assignee (`me`), status, due time, customer, lead or ticket; "
            "soonest due first")
def list_tasks(
    read_models: ReadModelsDep, caller: CallerDep, _position: ConsistentTasks,
    record: RecordAccess,
    assignee: Annotated[CodeParam, Query(description="Whose tasks; `me`: the caller's")] = None,
    status: Annotated[StatusFilter, Query(description="`open` (the default), `completed`, "
                                          "`cancelled` or `any`")] = "open",
    due_before: Annotated[Moment | None, Query(
        description="Due before this moment (exclusive): `due_before=<now>` lists the "
        "overdue ones")] = None,
    customer_id: UUID | None = None,
    lead_id: UUID | None = None,
    ticket_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> dict[str, Any]:
    who = caller.actor if assignee == ME else assignee
    items, following = tasks.list_tasks(
        read_models.sql, tasks.TaskFilter(
            tenant_id=caller.tenant_id, status=status, assignee=who, due_before=due_before,
            customer_id=str(customer_id) if customer_id else None,
            lead_id=str(lead_id) if lead_id else None,
            ticket_id=str(ticket_id) if ticket_id else None, book=caller.book.limited_to()),
        limit=limit, after=_page_after(cursor) if cursor is not None else None,
        vault=read_models.vault)
    if "personal" in withheld(caller, "tasks.read"):
        items = [{**item, "title": None, "note": None, "outcome_note": None} for item in items]
    else:
        record("tasks", [item["customer_id"] for item in items])
    return {"items": items, "next_cursor": encode_cursor(following) if following else None}


def _page_after(cursor: str) -> Cursor:
    """The (due_at, task id) a cursor this route returned names; 422 for anything else."""
    due, last_id = decode_cursor(cursor, 2)
    refused = ApiError(422, "invalid_cursor", "the cursor is not one this API returned")
    if not isinstance(due, str) or not isinstance(last_id, str):
        raise refused
    try:
        UUID(last_id)
        moment = datetime.fromisoformat(due)
        utc = moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        raise refused from None
    if utc is None or not 1900 <= utc.year < 9000:
        raise refused
    return due, last_id
