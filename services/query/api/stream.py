"""The live event stream as HTTP: `GET /v1/stream` (Server-Sent Events, services/query/stream.py)
and `POST /v1/stream/tickets`, with which a browser opens one (EventSource sends no
Authorization header; services/common/auth/stream_tickets.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from services.common.auth.http import Caller, CallerDep
from services.common.auth.keys import KeyRing
from services.common.auth.sessions import SESSION_COOKIE, Sessions
from services.common.auth.stream_tickets import TICKET_TTL_S, StreamTickets
from services.common.events.catalog import BY_TYPE
from services.common.limited import TooManyRequests
from services.common.tenancy import READING_TENANT
from services.common.web import ERROR_RESPONSES, ApiError, ErrorBody
from services.projections.customer_360 import reads as customer_360_model
from services.query.api.deps import PRINTABLE, ReadModelsDep, consistent
from services.query.read_models import ReadModels
from services.query.stream import (
    StreamFilter,
    StreamRefused,
    Subscription,
    parse_types,
)

log = logging.getLogger("chronicle.stream")

MAX_TYPES = 20
MAX_CUSTOMERS = 100
MAX_POSITION = 2**62
PUBLISHED_TYPES = frozenset(name for name, cls in BY_TYPE.items() if not cls.internal)

_EXAMPLE = (
    ": chronicle event stream\nretry: 3000\nid: 1041\n\n"
    "id: 1042\nevent: crm.lead.stage_changed\n"
    'data: {"specversion":"1.0","id":"27731d44-33cc-497f-a9a1-6d540c91a409",'
    '"source":"/chronicle-crm/default","type":"crm.lead.stage_changed",'
    '"dataschema":"urn:chronicle-crm:event:crm.lead.stage_changed:v2",'
    '"subject":"d8a1d944-a7f8-4f0f-ae05-416b4ce82ee4","time":"2026-03-02T09:30:00+00:00",'
    '"datacontenttype":"application/json","customerid":"6a2ec81c-b024-4755-9c07-4ce0dc537015",'
    '"tenantid":"default","actor":"rep-7","position":1042,'
    '"correlationid":"ed9c369d-145d-4cb9-84f8-ba9ec6e5792d",'
    '"aggregateid":"d8a1d944-a7f8-4f0f-ae05-416b4ce82ee4","aggregateversion":3,'
    '"recordedat":"2026-03-02T09:30:00.412000+00:00","data":{"from_stage":"contacted",'
    '"to_stage":"qualified","budget_confirmed":true,"personal":null}}\n\n'
    ": heartbeat\n\n"
)

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "An endless `text/event-stream`: per event `id:` (its global "
          "position), `event:` (its type) and `data:` (its CloudEvents JSON, exactly as on the "
          "Kafka topic: personal values sealed); a `: heartbeat` comment when quiet, which may "
          "carry an `id:` past events the filters left out. It ends when the server stops or "
          "after `stream_max_age_s`; reconnect with `Last-Event-ID`.",
          "content": {"text/event-stream": {"schema": {"type": "string"},
                                            "example": _EXAMPLE}}},
    **{k: v for k, v in ERROR_RESPONSES.items() if k in (400, 422)},
    429: {"model": ErrorBody, "description": "Too many open streams of this caller "
          "(`too_many_streams`), or the rate limit"},
    503: {"model": ErrorBody, "description": "This server holds as many streams as it serves "
          "(`streams_at_capacity`), or it is stopping (`server_stopping`)"},
    504: {"model": ErrorBody, "description": "The book's read model did not reach "
          "`min_position` in time"},
}

router = APIRouter(tags=["events (live)"])

ConsistentBook = Annotated[int, Depends(consistent(customer_360_model.NAME))]
"""A scoped caller's book comes from customer-360: `min_position` waits for it."""


class EventStreamResponse(StreamingResponse):
    """A `text/event-stream` that ends as soon as the client goes away (not only at the next
    write), ends quietly when reading the store fails (the client reconnects and resumes),
    and calls `on_close` exactly once, however it ends."""

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[bytes], on_close: Callable[[], None],
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(content, headers={"Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no", **(headers or {})})
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def respond() -> None:
                    try:
                        await self.stream_response(send)
                    except OSError:
                        pass  # the client went away while we wrote
                    except Exception as exc:  # the stream ends; the client resumes from its id
                        log.warning("an event stream ended early: %s", type(exc).__name__)
                    group.cancel_scope.cancel()

                group.start_soon(respond)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
            self._on_close()


class StreamTicket(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "ticket": "crm_st_3q2-7wEXAMPLEonlyK1yvE8mRzH2c1p8QyQ0c3l9Ugw4",
        "expires_at": "2026-03-02T09:30:30+00:00", "expires_in_s": 30,
        "url": "/v1/stream?ticket=crm_st_3q2-7wEXAMPLEonlyK1yvE8mRzH2c1p8QyQ0c3l9Ugw4"}]})

    ticket: str = Field(description="Opens one stream, once, within `expires_in_s`.")
    expires_at: datetime
    expires_in_s: int
    url: str = Field(description="The stream's address with the ticket; add filters, and "
                     "`after_position` to resume.")


def _resume_position(last_event_id: str | None, after_position: int | None) -> int | None:
    """`Last-Event-ID` (what an EventSource sends when it reconnects) wins over
    `after_position` (what the first request of a page may name); None: from the head."""
    if last_event_id is not None:
        value = last_event_id.strip()
        if not value.isdigit() or len(value) > 18:
            raise ApiError(400, "invalid_header", "Last-Event-ID must be a position (the id: "
                           "of an event this stream sent)", header="Last-Event-ID")
        return int(value)
    return after_position


def _types(values: list[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    if len(values) > MAX_TYPES:
        raise ApiError(422, "invalid_filter", f"at most {MAX_TYPES} type filters",
                       parameter="type")
    if any(len(value) > 100 for value in values):
        raise ApiError(422, "invalid_filter", "an event type has at most 100 characters",
                       parameter="type")
    try:
        return parse_types(values, PUBLISHED_TYPES)
    except ValueError as exc:
        raise ApiError(422, "unknown_event_type", str(exc), parameter="type") from None


def _book_checks(read_models: ReadModels, caller: Caller
                 ) -> tuple[Callable[[int], bool] | None,
                            Callable[[Collection[str]], set[str]] | None]:
    """For a caller with an `own` or `team` scope: whether customer-360 has applied a position,
    and which customers of a set are in the caller's book."""
    book = caller.book.limited_to()
    if book is None:
        return None, None
    tenant = caller.tenant_id

    def applied(position: int) -> bool:
        return read_models.has_applied([customer_360_model.NAME], position)

    def in_book(customer_ids: Collection[str]) -> set[str]:
        READING_TENANT.set(tenant)  # this worker thread's copy of the request's context
        return customer_360_model.visible_customers(read_models.sql, tenant, customer_ids, book)

    return applied, in_book


def _still_valid(request: Request, caller: Caller) -> Callable[[], bool] | None:
    """For an API key: whether it is still neither revoked nor expired; for a browser
    session: whether it has not ended (services/common/auth/sessions.py)."""
    sessions: Sessions | None = getattr(request.app.state, "sessions", None)
    cookie = request.cookies.get(SESSION_COOKIE)
    if caller.principal.credential == "session" and sessions is not None and cookie:
        return lambda: sessions.alive(cookie)
    ring: KeyRing | None = getattr(request.app.state, "key_ring", None)
    key_id = caller.principal.key_id
    if ring is None or key_id is None:
        return None
    return lambda: ring.still_valid(key_id)


def _refusal(refused: StreamRefused) -> ApiError:
    if refused.reason == "principal":
        return TooManyRequests(429, "too_many_streams", f"you have {refused.limit} event "
                               "streams open on this server, as many as one caller may: close "
                               "one first", 5, limit=refused.limit)
    if refused.reason == "process":
        return TooManyRequests(503, "streams_at_capacity", f"this server serves "
                               f"{refused.limit} event streams already; retry shortly, or "
                               "on another replica", 5, limit=refused.limit)
    return TooManyRequests(503, "server_stopping", "this server is stopping; reconnect in a "
                           "moment", 3)


@router.get("/v1/stream", response_class=EventStreamResponse, status_code=200,
            responses=_RESPONSES,
            summary="Live events of the tenant as they are stored (Server-Sent Events)")
async def event_stream(
    request: Request, caller: CallerDep, read_models: ReadModelsDep, position: ConsistentBook,
    event_type: Annotated[list[str] | None, Query(
        alias="type", description="Only these event types (repeat the parameter); a value "
        "ending in `.` is a prefix, e.g. `crm.lead.`")] = None,
    customer_id: Annotated[list[UUID] | None, Query(
        description="Only events of these customers (repeat the parameter, at most 100)")] = None,
    after_position: Annotated[int | None, Query(
        ge=0, le=MAX_POSITION, description="Start after this global position (an `id:` this "
        "stream sent, or a command's `position`); without it or `Last-Event-ID`, the stream "
        "starts at the head: only events stored from now on.")] = None,
    last_event_id: Annotated[str | None, Header(
        description="What an EventSource sends when it reconnects: the last `id:` it "
        "received. Wins over `after_position`.")] = None,
    ticket: Annotated[str | None, Query(
        max_length=64, pattern=PRINTABLE, description="A stream ticket "
        "(`POST /v1/stream/tickets`) in place of the Authorization header, for a browser's "
        "EventSource")] = None,
) -> EventStreamResponse:
    types, prefixes = _types(event_type or [])
    customers = customer_id or []
    if len(customers) > MAX_CUSTOMERS:
        raise ApiError(422, "invalid_filter", f"at most {MAX_CUSTOMERS} customer_id filters",
                       parameter="customer_id")
    start = _resume_position(last_event_id, after_position)
    try:
        live = read_models.live_events
    except RuntimeError:
        raise ApiError(422, "unavailable", "the event stream needs the event store") from None
    try:
        slot = live.open(caller.tenant_id, caller.actor)
    except StreamRefused as refused:
        raise _refusal(refused) from None
    try:
        head = await run_in_threadpool(live.head)
        if start is None:
            start = head
        elif start > head:
            raise ApiError(422, "position_beyond_log", f"position {start} is beyond the last "
                           f"position in the event store ({head}); resume from an id this "
                           "stream sent", position=start, last_position=head)
        applied, in_book = _book_checks(read_models, caller)
        subscription = Subscription(
            start=start, filter=StreamFilter(caller.tenant_id, types, prefixes,
                                             frozenset(str(c) for c in customers)),
            book_applied=applied, in_book=in_book, still_valid=_still_valid(request, caller))
    except BaseException:
        slot.release()
        raise
    return EventStreamResponse(live.events(subscription), slot.release,
                               {"X-Projection-Position": str(position)})


@router.post("/v1/stream/tickets", status_code=201, response_model=StreamTicket,
             responses={k: v for k, v in ERROR_RESPONSES.items() if k in (400, 422)},
             summary="A single-use ticket that opens one event stream (for a browser)")
async def stream_ticket(request: Request, response: Response, caller: CallerDep
                        ) -> StreamTicket:
    tickets: StreamTickets | None = getattr(request.app.state, "stream_tickets", None)
    if tickets is None:
        raise ApiError(422, "unavailable", "this server issues no stream tickets")
    issued = await run_in_threadpool(tickets.issue, caller.principal, caller.tenant_id)
    response.headers["Cache-Control"] = "no-store"
    return StreamTicket(ticket=issued.ticket, expires_at=issued.expires_at,
                        expires_in_s=TICKET_TTL_S, url=f"/v1/stream?ticket={issued.ticket}")
