"""One validated row of each import file kind (docs/import.md), built from the shared field types
so an imported fact is held to the same limits as one sent to the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from services.common.events.interaction import Channel, Direction
from services.common.events.ticket import Priority
from services.common.events.types import (
    Amount,
    BusinessTime,
    Code,
    Currency,
    Email,
    LongText,
    Name,
    Phone,
    Tag,
)
from services.common.times import parse_moment


def _typed_moment(value: object) -> object:
    return parse_moment(value) if isinstance(value, str) else value


ImportTime = Annotated[BusinessTime, BeforeValidator(_typed_moment)]
"""Business time of an imported fact: ISO 8601 date or timestamp, not in the future."""


def _split(separator: str) -> Any:
    def split(value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(separator) if part.strip()]
        return value

    return BeforeValidator(split)


class StageStep(BaseModel):
    """One move of a lead's stage history: `stage@time`."""

    model_config = ConfigDict(extra="forbid")

    stage: Code
    at: ImportTime


def _stage_steps(value: object) -> object:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(";") if part.strip()]
    if isinstance(value, list):
        steps: list[object] = []
        for item in value:
            if isinstance(item, str):
                stage, separator, at = item.partition("@")
                if not separator:
                    raise ValueError(f"{item!r} is not stage@time")
                steps.append({"stage": stage.strip(), "at": at.strip()})
            else:
                steps.append(item)
        return steps
    return value


class ImportRow(BaseModel):
    """Columns every kind has. Blank CSV cells count as absent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_ref: Code

    def business_time(self) -> datetime:
        """When the row's first fact happened."""
        raise NotImplementedError


class CustomerRow(ImportRow):
    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    company: Name | None = None
    region: Code | None = None
    industry: Code | None = None
    source: Code | None = None
    owner: Code | None = None
    tags: Annotated[list[Tag], _split(";"), Field(max_length=100)] = Field(default_factory=list)
    occurred_at: ImportTime

    def business_time(self) -> datetime:
        return self.occurred_at


class LeadRow(ImportRow):
    lead_ref: Code
    title: Name
    source: Code | None = None
    channel: Code | None = None
    region: Code | None = None
    industry: Code | None = None
    amount: Amount | None = None
    currency: Currency | None = None
    owner: Code | None = None
    occurred_at: ImportTime
    stage_history: Annotated[list[StageStep], BeforeValidator(_stage_steps),
                             Field(max_length=200)] = Field(default_factory=list)
    lost_reason: Name | None = None

    def business_time(self) -> datetime:
        return self.occurred_at


class InteractionRow(ImportRow):
    channel: Channel
    direction: Direction
    subject: Name | None = None
    duration_s: Annotated[int, Field(ge=0, le=366 * 86400)] | None = None
    occurred_at: ImportTime
    ref: Code | None = None
    body: LongText | None = None

    def business_time(self) -> datetime:
        return self.occurred_at


class TicketRow(ImportRow):
    ticket_ref: Code
    subject: Name
    priority: Priority
    channel: Code | None = None
    assignee: Code | None = None
    opened_at: ImportTime
    first_response_at: ImportTime | None = None
    resolved_at: ImportTime | None = None
    closed_at: ImportTime | None = None

    def business_time(self) -> datetime:
        return self.opened_at


class PurchaseRow(ImportRow):
    occurred_at: ImportTime
    amount: Amount
    currency: Currency
    reference: Code | None = None

    def business_time(self) -> datetime:
        return self.occurred_at


def describe_errors(error: ValidationError) -> str:
    """A pydantic error as one line a person can act on: `column: problem; ...`."""
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        column = ".".join(str(part) for part in item["loc"]) or "row"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown column"
        parts.append(f"{column}: {message}")
    return "; ".join(parts)
