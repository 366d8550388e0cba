"""Customer routes of the query API: the customer-360 view (now or as of a moment), the list
with filters and keyset pagination, and the timeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from services.common.event_store import EventLog, PositionedEvent
from services.common.web import ERROR_RESPONSES, ApiError, ErrorBody
from services.projections.customer_360 import customer_360_as_of, read_customer_360
from services.projections.lifecycle import LifecycleConfig
from services.projections.model import ConsumedEvent, fold
from services.projections.stores.base import iso
from services.projections.timeline import KINDS, TimelineProjection, read_timeline
from services.query.api.deps import (
    PRINTABLE,
    CodeParam,
    Moment,
    ReadModelsDep,
    Tenant,
    _sensible_moment,
    consistent,
    decode_cursor,
    encode_cursor,
)
from services.query.api.models import Customer360, CustomerPage, TimelinePage
from services.query.read_models import ReadModels

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{k: v for k, v in ERROR_RESPONSES.items() if k in (400, 404, 422)},
    504: {"model": ErrorBody, "description": "The read models did not reach `min_position` "
          "in time"},
}
router = APIRouter(prefix="/v1/customers", tags=["customers (read)"], responses=_RESPONSES)

RECENT_TIMELINE = 20
MAX_PAGE = 200
MAX_POSITION = 2**62

Consistent360 = Annotated[int, Depends(consistent("customer_360", "timeline", "lifecycle"))]
# The timeline route also asks customer_360 whether the customer exists.
ConsistentTimeline = Annotated[int, Depends(consistent("timeline", "customer_360"))]
ConsistentList = Annotated[int, Depends(consistent("customer_360", "lifecycle"))]


@router.get("/{customer_id}", response_model=Customer360, response_model_exclude_none=False,
            summary="Customer-360: profile, leads, purchases, interactions, tickets, timeline")
def customer_360(
    customer_id: UUID, read_models: ReadModelsDep, tenant: Tenant, _position: Consistent360,
    as_of: Annotated[Moment | None, Query(
        description="Business time: the customer as it stood then, rebuilt from the event "
        "store with the projection's own logic")] = None,
    as_of_recorded: Annotated[Moment | None, Query(
        description="System time: the customer as the CRM knew it then")] = None,
) -> dict[str, Any]:
    if as_of is not None and as_of_recorded is not None:
        raise ApiError(422, "conflicting_parameters", "give as_of or as_of_recorded, not both")
    if as_of is not None or as_of_recorded is not None:
        return _as_of(read_models, customer_id, tenant, as_of, as_of_recorded)
    # The document does not carry its tenant (the row does): check it first, by primary key.
    _require_customer(read_models, customer_id, tenant)
    document = read_customer_360(read_models.sql, str(customer_id))
    if document is None:
        raise ApiError(404, "not_found", f"customer {customer_id} not found", kind="customer",
                       id=str(customer_id))
    document["timeline"], _ = read_timeline(read_models.sql, str(customer_id),
                                            limit=RECENT_TIMELINE)
    document["customer_id"] = str(customer_id)
    return document


def _as_of(read_models: ReadModels, customer_id: UUID, tenant: str,
           as_of: datetime | None, as_of_recorded: datetime | None) -> dict[str, Any]:
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
    document = customer_360_as_of(events, str(customer_id), as_of=moment,
                                  lifecycle_config=LifecycleConfig.from_settings(
                                      read_models.settings)) if events else None
    if document is None:
        raise ApiError(404, "not_found", f"customer {customer_id} did not exist at {moment}",
                       kind="customer", id=str(customer_id))
    entries = fold(TimelineProjection(), events).all("timeline")
    entries.sort(key=lambda row: (row["occurred_at"], row["position"]), reverse=True)
    document["timeline"] = [{**row, "event_id": row.pop("id")} for row in
                            (dict(r) for r in entries[:RECENT_TIMELINE])]
    document["customer_id"] = str(customer_id)
    document["as_of"] = moment
    return document


# -- the timeline -------------------------------------------------------------------------------


@router.get("/{customer_id}/timeline", response_model=TimelinePage,
            summary="Every customer-facing fact, newest business time first, paginated")
def timeline(
    customer_id: UUID, read_models: ReadModelsDep, tenant: Tenant, _position: ConsistentTimeline,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    kind: Annotated[list[Literal[KINDS]] | None, Query(  # type: ignore[valid-type]
        description="Only these kinds of fact")] = None,
) -> dict[str, Any]:
    _require_customer(read_models, customer_id, tenant)
    before = None
    if cursor is not None:
        at, position = decode_cursor(cursor, 2)
        if not isinstance(at, str) or not isinstance(position, int) \
                or isinstance(position, bool) or not 0 <= position <= MAX_POSITION:
            raise ApiError(422, "invalid_cursor", "the cursor is not one this API returned")
        try:
            # Timeline cursors carry an aware UTC moment inside the calendar (year 1 at +14:00
            # has no UTC equivalent and used to overflow into a 500).
            moment = datetime.fromisoformat(at)
            if moment.tzinfo is None:
                raise ValueError("no time zone")
            _sensible_moment(moment)
        except ValueError:
            raise ApiError(422, "invalid_cursor", "the cursor is not one this API returned") \
                from None
        before = (at, position)
    items, following = read_timeline(read_models.sql, str(customer_id), limit=limit,
                                     before=before, kinds=kind)
    return {"items": items, "next_cursor": encode_cursor(following) if following else None}


def _require_customer(read_models: ReadModels, customer_id: UUID, tenant: str) -> None:
    found = read_models.sql.query("SELECT tenant_id FROM customer_360 WHERE id = ?",
                                  [str(customer_id)])
    if not found or found[0]["tenant_id"] != tenant:
        raise ApiError(404, "not_found", f"customer {customer_id} not found", kind="customer",
                       id=str(customer_id))


# -- the list -----------------------------------------------------------------------------------

SORTS = {"created_at": "created_at", "name": "name", "company": "company",
         "updated_at": "updated_at"}


@router.get("", response_model=CustomerPage,
            summary="Customers: filter, search, sort, keyset pagination")
def list_customers(
    read_models: ReadModelsDep, tenant: Tenant, _position: ConsistentList,
    lifecycle_stage: Annotated[Literal["prospect", "engaged", "customer", "loyal", "dormant"]
                               | None, Query()] = None,
    owner: CodeParam = None,
    tag: CodeParam = None,
    region: CodeParam = None,
    source: CodeParam = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, pattern=PRINTABLE,
                                   description="Text in name, e-mail or company")] = None,
    sort: Annotated[Literal["created_at", "name", "company", "updated_at"], Query()] = "created_at",
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    include_total: bool = False,
) -> dict[str, Any]:
    store = read_models.sql
    postgres = store.dialect == "postgres"
    where = ["c.tenant_id = ?"]
    params: list[Any] = [tenant]
    for column, value in (("owner", owner), ("region", region), ("source", source)):
        if value is not None:
            where.append(f"c.{column} = ?")
            params.append(value)
    if tag is not None:
        where.append("(c.doc -> 'tags') @> jsonb_build_array(?::text)" if postgres else
                     "EXISTS (SELECT 1 FROM json_each(c.doc, '$.tags') WHERE value = ?)")
        params.append(tag.strip().lower())
    if q is not None:
        pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(c.name LIKE ? ESCAPE '\\' OR c.email LIKE ? ESCAPE '\\' "
                     "OR lower(c.company) LIKE ? ESCAPE '\\')")
        params += [pattern, pattern, pattern]
    now = iso(datetime.now(UTC))
    stage_sql = ("(SELECT t.stage FROM lifecycle_transitions t WHERE t.customer_id = c.id "
                 "AND t.at <= ? ORDER BY t.at DESC, t.seq DESC LIMIT 1)")
    if lifecycle_stage is not None:
        where.append(f"{stage_sql} = ?")
        params += [now, lifecycle_stage]
    filters, filter_params = list(where), list(params)
    # Keyset on (sort key, id); the sort key is text on both dialects and nulls sort as ''.
    key = f"COALESCE(c.{SORTS[sort]}{'::text' if postgres else ''}, '')"
    comparison = "<" if order == "desc" else ">"
    if cursor is not None:
        value, last_id = decode_cursor(cursor, 2)
        if not isinstance(last_id, str) or not isinstance(value, str) \
                or "\x00" in value or "\x00" in last_id:
            raise ApiError(422, "invalid_cursor", "the cursor is not one this API returned")
        where.append(f"({key} {comparison} ? OR ({key} = ? AND c.id {comparison} ?))")
        params += [value, value, last_id]
    direction = "DESC" if order == "desc" else "ASC"
    # The page is chosen from the narrow columns first; documents and lifecycle stages are
    # read only for the rows returned.
    sql = (f"SELECT c.id, c.company, c.owner, c.region, c.source, c.created_at, c.doc, "
           f"page.sort_key, {stage_sql} AS lifecycle_stage "
           f"FROM (SELECT c.id, {key} AS sort_key FROM customer_360 c "
           f"WHERE {' AND '.join(where)} ORDER BY {key} {direction}, c.id {direction} LIMIT ?) "
           f"page JOIN customer_360 c ON c.id = page.id "
           f"ORDER BY page.sort_key {direction}, page.id {direction}")
    rows = store.query(sql, [now, *params, limit + 1])
    items = []
    for row in rows[:limit]:
        doc = store.from_db("json", row["doc"]) or {}
        items.append({
            "customer_id": row["id"], "name": (doc.get("personal") or {}).get("name"),
            "email": (doc.get("personal") or {}).get("email"), "company": row["company"],
            "owner": row["owner"], "region": row["region"], "source": row["source"],
            "lifecycle_stage": row["lifecycle_stage"], "tags": doc.get("tags", []),
            "created_at": _text_time(row["created_at"]),
        })
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor([last["sort_key"], last["id"]])
    total = None
    if include_total:
        counted = store.query(f"SELECT COUNT(*) AS n FROM customer_360 c WHERE "
                              f"{' AND '.join(filters)}", filter_params)
        total = int(counted[0]["n"])
    return {"items": items, "next_cursor": next_cursor, "total": total}


def _text_time(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return iso(value)
    return str(value)
