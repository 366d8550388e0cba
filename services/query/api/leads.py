"""Lead routes of the query API: the list with filters, search, sorts and keyset pages, and one
lead's page — from the `leads` read model (the page's alerts from the `alerts` model), scoped
to the caller's book."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.openapi.models import Example

from services.common.auth.http import CallerDep
from services.common.web import ERROR_RESPONSES, ApiError, ErrorBody
from services.projections.alerts import reads as alerts_model
from services.projections.leads import reads as leads_model
from services.projections.leads.reads import PipelineTerms
from services.query.api.deps import (
    PRINTABLE,
    CodeParam,
    Duration,
    Moment,
    ReadModelsDep,
    RecordAccess,
    consistent,
    decode_cursor,
    encode_cursor,
)
from services.query.api.lead_models import LeadDetail, LeadPage
from services.query.read_models import ReadModels
from services.query.withholding import withheld

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{k: v for k, v in ERROR_RESPONSES.items() if k in (400, 404, 422)},
    403: {"model": ErrorBody, "description": "Your roles do not allow `leads.read`, or "
          "withhold lead amounts you filter or sort on"},
    504: {"model": ErrorBody, "description": "The read models did not reach `min_position` "
          "in time"},
}
router = APIRouter(prefix="/v1/leads", tags=["leads (read)"], responses=_RESPONSES)

ConsistentList = Annotated[int, Depends(consistent(leads_model.NAME))]
ConsistentLead = Annotated[int, Depends(consistent(leads_model.NAME, alerts_model.NAME))]
ACTION = "leads.read"
STAGE_PATTERN = r"^[a-z][a-z0-9_]*$"
AMOUNT = r"^[0-9]{1,13}(\.[0-9]{1,4})?$"
_MAX_SORT_VALUE = 2**63 - 1
MAX_PAGE = 200
PAGE_ALERTS = 50

StageParam = Annotated[str, Query(min_length=1, max_length=64, pattern=STAGE_PATTERN)]
AmountParam = Annotated[str | None, Query(pattern=AMOUNT, description="A decimal amount "
                                          "(`5000` or `4999.99`); amounts compare as numbers "
                                          "whatever their currency (add `currency`)")]


def pipeline_terms(request: Request, tenant_id: str) -> PipelineTerms:
    """The tenant's pipeline and follow-up windows in force (`app.state.pipeline_terms_of`,
    from its rules); the built-in rules' without it."""
    terms_of = getattr(request.app.state, "pipeline_terms_of", None)
    return PipelineTerms() if terms_of is None else terms_of(tenant_id)  # type: ignore[no-any-return]


@router.get("", response_model=LeadPage,
            summary="Leads: by owner, stage, pipeline, source, region, customer, amount, "
                    "creation, staleness and reach; search; sorts; keyset pages")
def list_leads(
    request: Request, read_models: ReadModelsDep, caller: CallerDep,
    _position: ConsistentList, record: RecordAccess,
    owner: Annotated[str | None, Query(
        min_length=1, max_length=64, pattern=PRINTABLE,
        description="The lead's owner now; `me` for yourself",
        openapi_examples={"mine": Example(summary="My leads", value="me"),
                          "someone": Example(summary="A rep's leads", value="rep-7")})] = None,
    stage: Annotated[list[StageParam] | None, Query(
        description="Any of these stages (repeat the parameter); 422 for a stage neither "
        "the pipeline nor any lead has",
        openapi_examples={"late": Example(summary="Late in the pipeline",
                                          value=["proposal", "negotiation"])})] = None,
    open: Annotated[bool | None, Query(  # noqa: A002 - the parameter's public name
        description="true: open leads; false: won or lost")] = None,
    pipeline: Annotated[str | None, Query(
        min_length=1, max_length=64, pattern=PRINTABLE,
        description="A tenant has one pipeline, `default` (its rules file's stages); any "
        "other name is 422 `unknown_pipeline`")] = None,
    source: CodeParam = None,
    region: CodeParam = None,
    customer_id: UUID | None = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    min_amount: AmountParam = None,
    max_amount: AmountParam = None,
    created_from: Annotated[Moment | None, Query(
        description="Created (business time) at or after")] = None,
    created_to: Annotated[Moment | None, Query(
        description="Created (business time) before")] = None,
    reached: Annotated[str | None, Query(
        min_length=1, max_length=64, pattern=STAGE_PATTERN,
        description="Leads that were ever in this stage, as the funnel counts `reached` (with "
        "`created_from`/`created_to`, `source`, `owner` and `region` a funnel figure's "
        "leads)")] = None,
    stale_for: Annotated[Duration | None, Query(
        description="No contact for at least this long (`7d`, `36h`: spelt as in the rules "
        "file); last contact is `last_contact_at`. Closed leads are not left out: add "
        "`open=true`",
        openapi_examples={"a week": Example(summary="Untouched for a week", value="7d")},
    )] = None,
    q: Annotated[str | None, Query(
        min_length=1, max_length=100, pattern=PRINTABLE,
        description="Text in the title, the company or an external reference (the lead's or "
        "its customer's); the customer's name, a word of it or its start; an e-mail address "
        "or its parts; a phone number or its last digits",
        openapi_examples={"reference": Example(summary="A source-system reference",
                                               value="ERP-0042"),
                          "name": Example(summary="A customer's name", value="ada")})] = None,
    sort: Annotated[leads_model.SortKey, Query(
        description="created_at, amount (leads without one last when descending), "
        "stage_entered_at or last_contact_at")] = "created_at",
    order: Annotated[Literal["asc", "desc"], Query(
        description="desc (the default): newest, largest, latest first; asc for the stalest "
        "first with last_contact_at")] = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    include_total: bool = False,
) -> dict[str, Any]:
    hidden = withheld(caller, ACTION)
    if "lead amounts" in hidden and (min_amount or max_amount or currency or sort == "amount"):
        raise ApiError(403, "forbidden", "your roles withhold lead amounts: they cannot be "
                       "filtered or sorted on", action=ACTION)
    if pipeline is not None and pipeline != leads_model.PIPELINE:
        raise ApiError(422, "unknown_pipeline", f"'{pipeline}' is not a pipeline of this "
                       "tenant", pipeline=pipeline, pipelines=[leads_model.PIPELINE])
    terms = pipeline_terms(request, caller.tenant_id)
    for name in [*(stage or ()), *([reached] if reached else [])]:
        known_stage(read_models, caller.tenant_id, terms, name)
    low = Decimal(min_amount) if min_amount is not None else None
    high = Decimal(max_amount) if max_amount is not None else None
    if low is not None and high is not None and high < low:
        raise ApiError(422, "invalid_range", "`max_amount` must not be below `min_amount`")
    if created_from is not None and created_to is not None and created_to <= created_from:
        raise ApiError(422, "invalid_range", "`created_to` must be after `created_from`")
    now = datetime.now(UTC)
    direction = order
    after = _page_after(cursor, sort, direction) if cursor is not None else None
    page = leads_model.list_leads(
        read_models.sql, leads_model.LeadFilter(
            tenant_id=caller.tenant_id,
            funnel=leads_model.FunnelSlice(
                reached=reached, source=source, region=region,
                owner=caller.actor if owner == "me" else owner,
                created_from=created_from, created_to=created_to),
            stages=stage, open=open, customer_id=str(customer_id) if customer_id else None,
            currency=currency, min_amount=low, max_amount=high,
            last_contact_before=_before(now, stale_for), q=q, book=caller.book.limited_to()),
        sort=sort, descending=direction == "desc", limit=limit, after=after,
        include_total=include_total, vault=read_models.vault,
        personal="personal" not in hidden, follow_up=terms.window, now=now)
    if q is not None:
        # Search hits: `q` is matched against customers' names, e-mail addresses and phones.
        record("search", list(dict.fromkeys(item["customer_id"] for item in page.items)))
    next_cursor = None
    if page.next_after is not None:
        next_cursor = encode_cursor([sort, direction, *page.next_after])
    return {"items": [_as_served(item, hidden) for item in page.items],
            "next_cursor": next_cursor, "total": page.total}


@router.get("/{lead_id}", response_model=LeadDetail,
            summary="A lead: its customer, stage history with time in each stage, discounts "
                    "and approvals, payments, next follow-up deadline, open alerts")
def lead(
    lead_id: UUID, request: Request, read_models: ReadModelsDep, caller: CallerDep,
    _position: ConsistentLead, record: RecordAccess,
) -> dict[str, Any]:
    hidden = withheld(caller, ACTION)
    found = leads_model.read_lead(
        read_models.sql, str(lead_id), caller.tenant_id, book=caller.book.limited_to(),
        vault=read_models.vault, personal="personal" not in hidden,
        follow_up=pipeline_terms(request, caller.tenant_id).window)
    if found is None:
        raise ApiError(404, "not_found", f"lead {lead_id} not found", kind="lead",
                       id=str(lead_id))
    alerts, _ = alerts_model.read_alerts(read_models.sql, caller.tenant_id, status="active",
                                         subject_id=str(lead_id), limit=PAGE_ALERTS)
    found["alerts"] = [{name: alert[name] for name in (
        "alert_id", "kind", "status", "summary", "assignees", "raised_at", "due_at")}
        for alert in alerts]
    if "personal" not in hidden:
        record("lead", [found["customer_id"]])
    return _as_served(found, hidden)


def known_stage(read_models: ReadModels, tenant_id: str, terms: PipelineTerms, stage: str
                ) -> None:
    """422 for a stage neither the tenant's pipeline has nor any of its leads is in."""
    if stage in terms.stages or leads_model.stage_in_use(read_models.sql, tenant_id, stage):
        return
    raise ApiError(422, "unknown_stage", f"'{stage}' is not a stage of this pipeline",
                   stage=stage, stages=list(terms.stages))


def _before(now: datetime, stale_for: timedelta | None) -> datetime | None:
    return None if stale_for is None else now - stale_for


def _as_served(lead: dict[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """The lead as a caller may read it, without the lead amounts or discounts its roles
    withhold (personal values are left out by the read itself)."""
    served = dict(lead)
    if "lead amounts" in hidden:
        served |= dict.fromkeys(("amount", "currency", "payments", "won"))
    if "discounts" in hidden and "discounts" in served:
        served["discounts"] = []
    return served


def _page_after(cursor: str, sort: str, direction: str) -> tuple[int, str]:
    """The (sort value, lead id) a cursor this route returned names, made under the same sort
    and order; 422 for anything else (a cursor of another sort would silently restart)."""
    refused = ApiError(422, "invalid_cursor", "the cursor is not one this API returned for "
                       f"sort={sort} and order={direction}", sort=sort, order=direction)
    made_sort, made_direction, value, last_id = decode_cursor(cursor, 4)
    if (made_sort, made_direction) != (sort, direction) or not isinstance(value, int) \
            or isinstance(value, bool) or abs(value) > _MAX_SORT_VALUE \
            or not isinstance(last_id, str):
        raise refused
    try:
        UUID(last_id)
    except ValueError:
        raise refused from None
    return value, last_id

