"""The audit history: every stored event of a customer and of its records, read straight from
the event store (which is the audit log), a page at a time."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.common.auth.http import Caller, CallerDep
from services.common.event_store import EventLog, PositionedEvent
from services.common.limited import ExpensiveRead
from services.common.people import PeopleDirectory
from services.common.web import ERROR_RESPONSES, ApiError
from services.projections.customer_360 import reads as customer_360_model
from services.projections.lifecycle import reads as lifecycle_model
from services.projections.model import ConsumedEvent
from services.query.api.deps import ReadModelsDep, RecordAccess

MAX_HISTORY_PAGE = 10_000

AfterPosition = Annotated[int, Query(
    ge=0, le=2**62, description="Only events after this global position (the previous page's "
    "`next_after_position`).")]
HistoryLimit = Annotated[int, Query(ge=1, le=MAX_HISTORY_PAGE, description="Events per page.")]

_HISTORY_EXAMPLE: dict[str, Any] = {
    "customer_id": "6a2ec81c-b024-4755-9c07-4ce0dc537015",
    "events": [{
        "position": 1041, "type": "crm.customer.tagged", "version": 1,
        "event_id": "27731d44-33cc-497f-a9a1-6d540c91a409",
        "aggregate_id": "6a2ec81c-b024-4755-9c07-4ce0dc537015", "aggregate_version": 4,
        "actor": "manager-1", "occurred_at": "2026-03-02T09:30:00+00:00",
        "recorded_at": "2026-03-02T09:30:00.120000+00:00",
        "correlation_id": "0b8f6f44-3f55-4c1a-9a0e-8f4f6f0b2d11", "causation_id": None,
        "data": {"tag": "gold"},
        "changes": [{"field": "tags", "before": ["vip"], "after": ["vip", "gold"]}],
    }],
    "next_after_position": None,
}


class FieldChange(BaseModel):
    field: str
    before: Any = None
    after: Any = None


class HistoryItem(BaseModel):
    position: int
    type: str
    version: int = Field(description="Schema version of the event type.")
    event_id: UUID
    aggregate_id: UUID
    aggregate_version: int
    actor: str
    actor_name: str | None = Field(
        default=None, description="The actor's display name, as their identity provider or "
        "API key gave it when they last made a request (`actor` stays the id).")
    occurred_at: str
    recorded_at: str
    correlation_id: UUID
    causation_id: UUID | None
    data: dict[str, Any]
    changes: list[FieldChange] = Field(
        default_factory=list, description="What the event changed, field by field, before and "
        "after (folded from the customer's events in store order). Fields: `name`, `email`, "
        "`phone`, `company`, `region`, `industry`, `source`, `external_ref`, `owner`, `tags`, "
        "`consent.<channel>`, `lifecycle_stage`, `erased`; of the event's lead `lead.title`, "
        "`lead.stage`, `lead.status`, `lead.amount`, `lead.currency`, `lead.owner`; of its "
        "ticket `ticket.status`, `ticket.priority`, `ticket.assignee`. Personal values are "
        "shown as `data` shows them: none once the customer is erased.")


class History(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_HISTORY_EXAMPLE]})

    customer_id: UUID
    events: list[HistoryItem]
    next_after_position: int | None = Field(
        description="Pass as after_position for the next page; null on the last page."
    )




def history_page(customer_id: UUID, events: Sequence[PositionedEvent], after_position: int,
                 limit: int, names: Callable[[set[str]], Mapping[str, str]] = lambda _: {},
                 changes: Mapping[int, Sequence[Mapping[str, Any]]] | None = None) -> History:
    """One page of `events` (a customer's history in store order) after `after_position`."""
    following = [e for e in events if e.position > after_position]
    page = following[:limit]
    known = names({e.event.actor for e in page})
    items = [
        HistoryItem(
            position=e.position, type=e.event.event_type, version=e.event.schema_version,
            event_id=e.event.event_id, aggregate_id=e.event.aggregate_id,
            aggregate_version=e.event.aggregate_version, actor=e.event.actor,
            actor_name=known.get(e.event.actor),
            occurred_at=e.event.occurred_at.isoformat(),
            recorded_at=e.event.recorded_at.isoformat(),
            correlation_id=e.event.correlation_id, causation_id=e.event.causation_id,
            data=e.event.data(),
            changes=[FieldChange(**change) for change in (changes or {}).get(e.position, ())],
        )
        for e in page
    ]
    more = len(following) > limit
    return History(customer_id=customer_id, events=items,
                   next_after_position=page[-1].position if more and page else None)


router = APIRouter(tags=["customers (read)"],
                   responses={k: v for k, v in ERROR_RESPONSES.items() if k in (400, 404, 422)})


@router.get("/v1/customers/{customer_id}/history", response_model=History,
            summary="Audit history: every stored event of the customer and its records")
def history(customer_id: Annotated[UUID, Path(description="Customer id")], request: Request,
            read_models: ReadModelsDep, caller: CallerDep, record: RecordAccess,
            _slot: ExpensiveRead, after_position: AfterPosition = 0,
            limit: HistoryLimit = 1000) -> History:
    if read_models.event_store is None:
        raise ApiError(422, "unavailable", "the audit history needs the event store")
    events = EventLog(read_models.event_store).customer_history(customer_id, caller.tenant_id)
    if events is None or not _in_book(events, caller):
        raise ApiError(404, "not_found", f"customer {customer_id} not found", kind="customer",
                       id=str(customer_id))
    people: PeopleDirectory | None = getattr(request.app.state, "people", None)
    changes = customer_360_model.field_changes(
        [ConsumedEvent(0, e.position, e.position, e.event) for e in events], str(customer_id),
        lifecycle_model.LifecycleConfig.from_settings(read_models.settings))
    page = history_page(customer_id, events, after_position, limit,
                        lambda actors: people.names(caller.tenant_id, actors) if people else {},
                        changes)
    record("history", [str(customer_id)])
    return page


def _in_book(events: Sequence[PositionedEvent], caller: Caller) -> bool:
    """Whether the customer is in the caller's book, by its own events (the history is read
    from the store, which may be ahead of the read models): the customer-360 document folded
    from them names whose book it is in."""
    people = caller.book.people
    if people is None:
        return True
    folded = customer_360_model.customer_360_as_of(
        [ConsumedEvent(0, e.position, e.position, e.event) for e in events
         if not type(e.event).internal])
    return folded is not None and any(person in people for person in folded["book"])
