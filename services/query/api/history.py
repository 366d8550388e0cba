"""The audit history on the query side: read straight from the event store (the audit log),
with the same page and models as the command API's route (services/common/history.py)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, FastAPI, Path
from starlette.routing import NoMatchFound

from services.common.event_store import EventLog
from services.common.history import (
    HISTORY_ROUTE,
    HISTORY_SUMMARY,
    AfterPosition,
    History,
    HistoryLimit,
    history_page,
)
from services.common.web import ERROR_RESPONSES, ApiError
from services.query.api.deps import ReadModelsDep, Tenant

PATH = "/v1/customers/{customer_id}/history"
router = APIRouter(tags=["customers (read)"],
                   responses={k: v for k, v in ERROR_RESPONSES.items() if k in (400, 404, 422)})


@router.get(PATH, response_model=History, summary=HISTORY_SUMMARY, name=HISTORY_ROUTE)
def history(customer_id: Annotated[UUID, Path(description="Customer id")],
            read_models: ReadModelsDep, tenant: Tenant,
            after_position: AfterPosition = 0, limit: HistoryLimit = 1000) -> History:
    if read_models.event_store is None:
        raise ApiError(422, "unavailable", "the audit history needs the event store")
    events = EventLog(read_models.event_store).customer_history(customer_id, tenant)
    if events is None:
        raise ApiError(404, "not_found", f"customer {customer_id} not found", kind="customer",
                       id=str(customer_id))
    return history_page(customer_id, events, after_position, limit)


def include_history_route(app: FastAPI) -> None:
    """Serve the history unless the app already does (`crm serve` mounts the command API,
    which has the same route, on the same app)."""
    try:
        app.url_path_for(HISTORY_ROUTE, customer_id="00000000-0000-0000-0000-000000000000")
    except NoMatchFound:
        app.include_router(router)
