"""Customer routes of the query API: the customer-360 view (now or as of a moment), the list
with filters and keyset pagination, and the timeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from services.common.auth.http import Caller, CallerDep
from services.common.event_store import EventLog, PositionedEvent
from services.common.limited import ExpensiveWhenAsOf
from services.common.times import iso
from services.common.web import ERROR_RESPONSES, ApiError, ErrorBody
from services.projections.customer_360 import reads as customer_360_model
from services.projections.leads import reads as leads_model
from services.projections.lifecycle import reads as lifecycle_model
from services.projections.model import ConsumedEvent
from services.projections.notes import reads as notes_model
from services.projections.tasks import reads as tasks_model
from services.projections.timeline import reads as timeline_model
from services.query.api.deps import (
    PRINTABLE,
    CodeParam,
    Moment,
    ReadModelsDep,
    RecordAccess,
    consistent,
    decode_cursor,
    encode_cursor,
    moment_cursor,
)
from services.query.api.leads import STAGE_PATTERN, known_stage, pipeline_terms
from services.query.api.models import Customer360, CustomerPage, TimelinePage
from services.query.read_models import ReadModels
from services.query.withholding import (
    served,
    withheld,
    withheld_from_summary,
    withheld_from_timeline,
)

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{k: v for k, v in ERROR_RESPONSES.items() if k in (400, 404, 422)},
    504: {"model": ErrorBody, "description": "The read models did not reach `min_position` "
          "in time"},
}
router = APIRouter(prefix="/v1/customers", tags=["customers (read)"], responses=_RESPONSES)

RECENT_TIMELINE = 20
MAX_PAGE = 200
MAX_POSITION = 2**62

Consistent360 = Annotated[int, Depends(consistent(customer_360_model.NAME, timeline_model.NAME,
                                                  lifecycle_model.NAME, tasks_model.NAME,
                                                  notes_model.NAME))]
# The timeline route also asks customer_360 whether the customer exists.
ConsistentTimeline = Annotated[int, Depends(consistent(timeline_model.NAME, customer_360_model.NAME))]
# The leads model too: the `lead_*` filters read it.
ConsistentList = Annotated[int, Depends(consistent(customer_360_model.NAME, lifecycle_model.NAME,
                                                   leads_model.NAME))]


@router.get("/{customer_id}", response_model=Customer360, response_model_exclude_none=False,
            summary="Customer-360: profile, leads, purchases, interactions, tickets, timeline")
def customer_360(
    customer_id: UUID, read_models: ReadModelsDep, caller: CallerDep, _position: Consistent360,
    record: RecordAccess, _slot: ExpensiveWhenAsOf,
    as_of: Annotated[Moment | None, Query(
        description="Business time: the customer as it stood then, rebuilt from the event "
        "store with the projection's own logic")] = None,
    as_of_recorded: Annotated[Moment | None, Query(
        description="System time: the customer as the CRM knew it then")] = None,
) -> dict[str, Any]:
    if as_of is not None and as_of_recorded is not None:
        raise ApiError(422, "conflicting_parameters", "give as_of or as_of_recorded, not both")
    # The document does not carry its tenant (the row does): check it first, by primary key.
    _require_customer(read_models, customer_id, caller)
    hidden = "personal" in withheld(caller)
    if as_of is not None or as_of_recorded is not None:
        document = _as_of(read_models, customer_id, caller.tenant_id, as_of, as_of_recorded,
                          withhold_personal=hidden)
        what: Literal["customer_360", "customer_360_as_of"] = "customer_360_as_of"
    else:
        found = customer_360_model.read_customer_360(read_models.sql, str(customer_id),
                                                     vault=read_models.vault)
        if found is None:
            raise ApiError(404, "not_found", f"customer {customer_id} not found",
                           kind="customer", id=str(customer_id))
        document = found
        document["timeline"], _ = timeline_model.read_timeline(read_models.sql, str(customer_id),
                                                               limit=RECENT_TIMELINE,
                                                               vault=read_models.vault,
                                                               withhold_personal=hidden)
        document["tasks"] = tasks_model.customer_tasks(read_models.sql, str(customer_id),
                                                       vault=read_models.vault)
        document["notes"] = notes_model.customer_notes(read_models.sql, str(customer_id),
                                                       vault=read_models.vault)
        document["customer_id"] = str(customer_id)
        what = "customer_360"
    if "personal" not in withheld(caller):
        record(what, [str(customer_id)])
    return served(document, caller)


def _as_of(read_models: ReadModels, customer_id: UUID, tenant: str,
           as_of: datetime | None, as_of_recorded: datetime | None, *,
           withhold_personal: bool = False) -> dict[str, Any]:
    if read_models.event_store is None:
        raise ApiError(422, "unavailable", "point-in-time views need the event store")
    history = EventLog(read_models.event_store).customer_history(customer_id, tenant)
    if history is None:
        raise ApiError(404, "not_found", f"customer {customer_id} not found", kind="customer",
                       id=str(customer_id))

    def known(entry: PositionedEvent) -> bool:
        if as_of is not None:
            return entry.event.occurred_at <= as_of
        assert as_of_recorded is not None
        return entry.event.recorded_at <= as_of_recorded

    events = [ConsumedEvent(0, e.position, e.position, e.event) for e in history
              if not type(e.event).internal and known(e)]
    moment = iso(as_of or as_of_recorded or datetime.now(UTC))
    document = customer_360_model.customer_360_as_of(
        events, str(customer_id), as_of=moment,
        lifecycle_config=lifecycle_model.LifecycleConfig.from_settings(read_models.settings),
    ) if events else None
    if document is None:
        raise ApiError(404, "not_found", f"customer {customer_id} did not exist at {moment}",
                       kind="customer", id=str(customer_id))
    document["timeline"] = timeline_model.timeline_as_of(events, RECENT_TIMELINE,
                                                         withhold_personal)
    document["tasks"] = tasks_model.customer_tasks_as_of(events, str(customer_id),
                                                         as_of or as_of_recorded or datetime.now(UTC))
    document["notes"] = notes_model.customer_notes_as_of(events, str(customer_id))
    document["customer_id"] = str(customer_id)
    document["as_of"] = moment
    return document


# -- the timeline -------------------------------------------------------------------------------


@router.get("/{customer_id}/timeline", response_model=TimelinePage,
            summary="Every customer-facing fact, newest business time first, paginated")
def timeline(
    customer_id: UUID, read_models: ReadModelsDep, caller: CallerDep,
    _position: ConsistentTimeline,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    kind: Annotated[list[timeline_model.Kind] | None, Query(
        description="Only these kinds of fact")] = None,
) -> dict[str, Any]:
    _require_customer(read_models, customer_id, caller)
    before = None
    if cursor is not None:
        before = moment_cursor(cursor, MAX_POSITION)
    items, following = timeline_model.read_timeline(
        read_models.sql, str(customer_id), limit=limit, before=before, kinds=kind,
        vault=read_models.vault, withhold_personal="personal" in withheld(caller))
    return {"items": withheld_from_timeline(items, caller),
            "next_cursor": encode_cursor(following) if following else None}


def _require_customer(read_models: ReadModels, customer_id: UUID, caller: Caller) -> None:
    """404 unless the customer is in the caller's tenant and book."""
    if not customer_360_model.customer_visible(read_models.sql, str(customer_id),
                                               caller.tenant_id, caller.book.limited_to()):
        raise ApiError(404, "not_found", f"customer {customer_id} not found", kind="customer",
                       id=str(customer_id))


# -- the list -----------------------------------------------------------------------------------

@router.get("", response_model=CustomerPage,
            summary="Customers: filter, search, sort, keyset pagination")
def list_customers(
    request: Request, read_models: ReadModelsDep, caller: CallerDep, _position: ConsistentList,
    record: RecordAccess,
    lifecycle_stage: Annotated[lifecycle_model.Stage | None, Query()] = None,
    owner: CodeParam = None,
    tag: CodeParam = None,
    region: CodeParam = None,
    source: CodeParam = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, pattern=PRINTABLE,
                                   description="A name, a word of it or its start; an e-mail "
                                   "address or its parts; a phone number or its last digits; "
                                   "or text anywhere in the company or the external "
                                   "reference (`ERP-0042`)")] = None,
    lead_reached: Annotated[str | None, Query(
        min_length=1, max_length=64, pattern=STAGE_PATTERN,
        description="Customers with a lead that was ever in this stage. The `lead_*` filters "
        "apply to one and the same lead, as GET /v1/analytics/funnel selects leads: together "
        "they give the customers behind a funnel figure")] = None,
    lead_source: CodeParam = None,
    lead_owner: Annotated[str | None, Query(
        min_length=1, max_length=64, pattern=PRINTABLE,
        description="The lead's owner now; `me` for yourself")] = None,
    lead_region: CodeParam = None,
    lead_created_from: Annotated[Moment | None, Query(
        description="The lead created (business time) at or after")] = None,
    lead_created_to: Annotated[Moment | None, Query(
        description="The lead created (business time) before")] = None,
    sort: Annotated[customer_360_model.SortKey, Query()] = "created_at",
    order: Annotated[Literal["asc", "desc"] | None, Query(
        description="Default: newest first for created_at and updated_at, A to Z for "
        "company")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    include_total: bool = False,
) -> dict[str, Any]:
    direction = order or ("desc" if sort in ("created_at", "updated_at") else "asc")
    after = _customer_page_after(cursor, sort, direction) if cursor is not None else None
    if lead_reached is not None:
        known_stage(read_models, caller.tenant_id,
                    pipeline_terms(request, caller.tenant_id), lead_reached)
    if lead_created_from is not None and lead_created_to is not None \
            and lead_created_to <= lead_created_from:
        raise ApiError(422, "invalid_range", "`lead_created_to` must be after "
                       "`lead_created_from`")
    leads = leads_model.FunnelSlice(
        reached=lead_reached, source=lead_source, region=lead_region,
        owner=caller.actor if lead_owner == "me" else lead_owner,
        created_from=lead_created_from, created_to=lead_created_to)
    page = customer_360_model.list_customers(
        read_models.sql, customer_360_model.CustomerFilter(
            tenant_id=caller.tenant_id, lifecycle_stage=lifecycle_stage, owner=owner, tag=tag,
            region=region, source=source, q=q, book=caller.book.limited_to(), leads=leads),
        sort=sort, descending=direction == "desc", limit=limit, after=after,
        include_total=include_total, vault=read_models.vault)
    next_cursor = None
    if page.next_after is not None:
        next_cursor = encode_cursor([sort, direction, *page.next_after])
    if q is not None:
        # Search hits, whatever the caller's roles: `q` is matched against name and e-mail,
        # so even a list without them tells the searcher something about each person.
        record("search", [str(item["customer_id"]) for item in page.items])
    items = [withheld_from_summary(item, caller) for item in page.items]
    return {"items": items, "next_cursor": next_cursor, "total": page.total}


def _customer_page_after(cursor: str, sort: str, direction: str) -> tuple[str, str]:
    """The (sort value, customer id) a cursor this route returned names, made under the same
    sort and order; 422 for anything else (a cursor of another sort would silently restart)."""
    refused = ApiError(422, "invalid_cursor", "the cursor is not one this API returned for "
                       f"sort={sort} and order={direction}", sort=sort, order=direction)
    made_sort, made_direction, value, last_id = decode_cursor(cursor, 4)
    if (made_sort, made_direction) != (sort, direction) or not isinstance(value, str) \
            or "\x00" in value or not isinstance(last_id, str):
        raise refused
    try:
        UUID(last_id)
    except ValueError:
        raise refused from None
    return value, last_id
