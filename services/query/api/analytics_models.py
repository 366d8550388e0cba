"""Response documents of the analytics routes (kept apart from the read-model rows)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Money(BaseModel):
    """An amount in one currency."""

    currency: str | None = Field(description="ISO 4217 code; null for leads without one",
                                 examples=["EUR"])
    amount: str = Field(description="Decimal string", examples=["24000.00"])


class SalesFigures(BaseModel):
    """Sales figures of a set of leads."""

    leads: int = Field(description="Leads created in the range that match the filters")
    won: int = Field(description="Of those, won")
    lost: int = Field(description="Of those, lost")
    open: int = Field(description="Of those, still open")
    win_rate: float | None = Field(description="won / (won + lost); null when none closed")
    conversion_to_won: float | None = Field(description="won / leads; null for no leads")
    median_sales_cycle_s: float | None = Field(
        description="Median seconds from creation to winning, over the won leads")
    open_value: list[Money] | None = Field(
        description="The open leads' amounts summed per currency (open pipeline value); null "
        "when the caller's roles withhold lead amounts")
    won_amount: list[Money] | None = Field(
        description="The won leads' amounts summed per currency; null when the caller's roles "
        "withhold lead amounts")


class SalesGroup(SalesFigures):
    """The figures of one group."""

    key: str | None = Field(description="The group's source, owner, region or period; null: "
                            "leads without one")


class Sales(SalesFigures):
    """The figures of every matching lead, and per group with `group_by`."""

    groups: list[SalesGroup] = Field(description="Per group, sorted by key (null last); empty "
                                     "without `group_by`")


class FunnelStage(BaseModel):
    """One stage of the funnel."""

    stage: str
    reached: int = Field(description="Leads that were ever in the stage")
    reached_in_order: int = Field(description="Leads that reached it through every earlier "
                                  "stage in pipeline order")
    conversion_to_next: float | None
    median_time_in_stage_s: float | None
    p90_time_in_stage_s: float | None


class FunnelFigures(BaseModel):
    """Funnel figures of a set of leads."""

    stages: list[FunnelStage]
    win_rate: float | None = Field(description="won / (won + lost); null when none closed")
    median_sales_cycle_s: float | None


class FunnelGroup(FunnelFigures):
    key: str | None


class Funnel(FunnelFigures):
    """The funnel of every matching lead, and per group with `group_by`."""

    groups: list[FunnelGroup]


class Cohort(BaseModel):
    """One cohort's row of the retention matrix."""

    cohort: str = Field(examples=["2026-01"])
    size: int
    retained: list[int] = Field(description="Customers active k months after the cohort's "
                                "month, k = 0, 1, …")
    retained_pct: list[float] = Field(description="100 * retained[k] / size, 2 decimals")


class Retention(BaseModel):
    """Monthly cohort retention."""

    cohort: str = Field(examples=["month"])
    activity: str = Field(examples=["purchase"])
    cohorts: list[Cohort]


class Percentiles(BaseModel):
    p50: float | None
    p90: float | None
    p99: float | None


class ServiceFigures(BaseModel):
    """Service figures of a set of tickets; durations in seconds."""

    tickets: int
    responded: int
    resolved: int
    first_response_s: Percentiles
    resolution_s: Percentiles
    sla_breach_rate: float | None


class PriorityFigures(ServiceFigures):
    priority: str | None


class Service(BaseModel):
    """Service figures by priority (urgent first) and over all tickets."""

    by_priority: list[PriorityFigures]
    overall: ServiceFigures
