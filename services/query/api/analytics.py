"""Analytics routes: funnel, lifecycle, retention and service figures from the read models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from services.common.auth.http import CallerDep
from services.common.limited import ExpensiveRead
from services.common.web import ERROR_RESPONSES, ApiError, ErrorBody
from services.projections.customer_360 import reads as customer_360_model
from services.projections.funnel import reads as funnel_model
from services.projections.lifecycle import reads as lifecycle_model
from services.projections.retention import reads as retention_model
from services.projections.service import reads as service_model
from services.query.api.analytics_models import Funnel, Retention, Sales, Service
from services.query.api.deps import CodeParam, Moment, ReadModelsDep, consistent
from services.query.withholding import withheld

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{k: v for k, v in ERROR_RESPONSES.items() if k in (400, 422)},
    504: {"model": ErrorBody, "description": "The read models did not reach `min_position` "
          "in time"},
}
router = APIRouter(prefix="/v1/analytics", tags=["analytics"], responses=_RESPONSES)

From = Annotated[Moment | None, Query(alias="from", description="Business time, inclusive")]
To = Annotated[Moment | None, Query(alias="to", description="Business time, exclusive")]

FUNNEL_EXAMPLE = {
    "stages": [{"stage": "new", "reached": 120, "reached_in_order": 120, "conversion_to_next": 0.8,
                "median_time_in_stage_s": 86400.0, "p90_time_in_stage_s": 432000.0}],
    "win_rate": 0.42, "median_sales_cycle_s": 2592000.0, "groups": [],
}


def _range(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise ApiError(422, "invalid_range", "`to` must be after `from`")


@router.get("/funnel", response_model=Funnel, summary="Stage reach (at all and in order), "
            "conversion, time in stage, win rate, sales cycle",
            responses={200: {"content": {"application/json": {"example": FUNNEL_EXAMPLE}}}})
def funnel(
    read_models: ReadModelsDep, caller: CallerDep,
    _position: Annotated[int, Depends(consistent(funnel_model.NAME))],
    _slot: ExpensiveRead,
    start: From = None, end: To = None, source: CodeParam = None, owner: CodeParam = None,
    region: CodeParam = None,
    group_by: Annotated[Literal["source", "owner", "region", "period"] | None, Query()] = None,
    period: Annotated[Literal["day", "week", "month", "quarter", "year"], Query()] = "month",
) -> dict[str, Any]:
    _range(start, end)
    return funnel_model.read_funnel(
        read_models.analytics, start=start, end=end, tenant_id=caller.tenant_id, source=source,
        owner=owner, region=region, group_by=group_by, period=period,
        owners=caller.book.limited_to())


SALES_EXAMPLE = {
    "leads": 40, "won": 12, "lost": 8, "open": 20, "win_rate": 0.6, "conversion_to_won": 0.3,
    "median_sales_cycle_s": 2592000.0,
    "open_value": [{"currency": "EUR", "amount": "180000.00"}],
    "won_amount": [{"currency": "EUR", "amount": "96000.00"},
                   {"currency": "USD", "amount": "12000.00"}],
    "groups": [],
}


@router.get("/sales", response_model=Sales, summary="Leads, won, lost and open, win rate, "
            "conversion to won, sales cycle, open pipeline value and won amount per currency — "
            "by source, owner, region or period", responses={200: {"content": {
                "application/json": {"example": SALES_EXAMPLE}}}})
def sales(
    read_models: ReadModelsDep, caller: CallerDep,
    _position: Annotated[int, Depends(consistent(funnel_model.NAME))],
    _slot: ExpensiveRead,
    start: From = None, end: To = None, source: CodeParam = None, owner: CodeParam = None,
    region: CodeParam = None,
    group_by: Annotated[Literal["source", "owner", "region", "period"] | None, Query()] = None,
    period: Annotated[Literal["day", "week", "month", "quarter", "year"], Query()] = "month",
) -> dict[str, Any]:
    """The leads are selected as the funnel selects them (created in the range, by source,
    owner now and region; a scoped caller's book); money is summed per currency."""
    _range(start, end)
    result = funnel_model.read_sales(
        read_models.analytics, start=start, end=end, tenant_id=caller.tenant_id, source=source,
        owner=owner, region=region, group_by=group_by, period=period,
        owners=caller.book.limited_to())
    if "lead amounts" in withheld(caller, "analytics.read"):
        for figures in (result, *result["groups"]):
            figures["open_value"] = figures["won_amount"] = None
    return result


@router.get("/lifecycle", summary="Customers per lifecycle stage as of a moment, and the "
            "transitions between two dates", responses={200: {"content": {"application/json": {
                "example": {"as_of": "2026-06-30T00:00:00.000000+00:00",
                            "counts": {"prospect": 10, "engaged": 4, "customer": 7, "loyal": 2,
                                       "dormant": 3},
                            "transitions": {"start": "2026-06-01T00:00:00.000000+00:00",
                                            "end": "2026-06-30T00:00:00.000000+00:00",
                                            "transitions": [{"from": "customer",
                                                             "to": "dormant", "count": 2}]}}}}}})
def lifecycle(
    read_models: ReadModelsDep, caller: CallerDep,
    # customer-360 too: a scoped caller's book is read from it
    _position: Annotated[int, Depends(consistent(lifecycle_model.NAME, customer_360_model.NAME))],
    _slot: ExpensiveRead,
    as_of: Annotated[Moment | None, Query(description="Default: now")] = None,
    start: From = None, end: To = None,
) -> dict[str, Any]:
    _range(start, end)
    moment = as_of or datetime.now(UTC)
    tenant, book = caller.tenant_id, caller.book.limited_to()
    only = None if book is None else customer_360_model.customers_in_book(
        tenant, book, read_models.sql.dialect == "postgres")
    result = lifecycle_model.read_lifecycle_counts(read_models.sql, moment, tenant_id=tenant,
                                                   only_customers=only)
    low = start or moment - timedelta(days=30)
    high = end or moment
    if high > low:
        result["transitions"] = lifecycle_model.read_lifecycle_transitions(
            read_models.sql, low, high, tenant_id=tenant, only_customers=only)
    return result


@router.get("/retention", response_model=Retention,
            summary="Monthly cohort retention matrix by business time",
            responses={200: {"content": {"application/json": {"example": {
                "cohort": "month", "activity": "purchase", "cohorts": [
                    {"cohort": "2026-01", "size": 40, "retained": [40, 12, 9],
                     "retained_pct": [100.0, 30.0, 22.5]}]}}}}})
def retention(
    read_models: ReadModelsDep, caller: CallerDep,
    _position: Annotated[int, Depends(consistent(retention_model.NAME))],
    _slot: ExpensiveRead,
    activity: Annotated[Literal["purchase", "interaction", "any"], Query()] = "purchase",
    cohort: Annotated[Literal["month"], Query()] = "month",
    start: From = None, end: To = None, source: CodeParam = None, owner: CodeParam = None,
    region: CodeParam = None,
) -> dict[str, Any]:
    _range(start, end)
    return retention_model.read_retention(
        read_models.analytics, activity=activity, start=start, end=end,
        tenant_id=caller.tenant_id, source=source, owner=owner, region=region,
        owners=caller.book.limited_to())


_SERVICE_FIGURES = {"tickets": 12, "responded": 11, "resolved": 9,
                    "first_response_s": {"p50": 1800.0, "p90": 7200.0, "p99": 14400.0},
                    "resolution_s": {"p50": 36000.0, "p90": 172800.0, "p99": 259200.0},
                    "sla_breach_rate": 0.25}
SERVICE_EXAMPLE = {"by_priority": [{"priority": "urgent", **_SERVICE_FIGURES}],
                   "overall": _SERVICE_FIGURES}


@router.get("/service", response_model=Service, summary="First-response and resolution "
            "percentiles by priority, SLA breach rate",
            responses={200: {"content": {"application/json": {"example": SERVICE_EXAMPLE}}}})
def service(
    read_models: ReadModelsDep, caller: CallerDep,
    # retention too: a scoped caller's book is its customers' owners there
    _position: Annotated[int, Depends(consistent(service_model.NAME, retention_model.NAME))],
    _slot: ExpensiveRead,
    start: From = None, end: To = None, channel: CodeParam = None, assignee: CodeParam = None,
) -> dict[str, Any]:
    _range(start, end)
    return service_model.read_service(
        read_models.analytics, start=start, end=end, tenant_id=caller.tenant_id,
        channel=channel, assignee=assignee, customer_owners=caller.book.limited_to())
