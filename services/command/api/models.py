"""Request and response bodies of the command API. Strict: unknown fields are refused."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from services.common.events.customer import LegalBasis
from services.common.events.ticket import Priority
from services.common.events.types import (
    Amount,
    BusinessTime,
    Code,
    Currency,
    Email,
    LongText,
    Name,
    Percent,
    Phone,
    Tag,
)


class Body(BaseModel):
    """Every command body may say when the fact happened; `recorded_at` is never accepted."""

    model_config = ConfigDict(extra="forbid")

    occurred_at: BusinessTime | None = Field(
        default=None, description="Business time of the fact (ISO 8601 with offset). Default: now."
    )


class ConditionalBody(Body):
    expected_version: StrictInt | None = Field(
        default=None, ge=0, le=1_000_000_000,
        description="Apply only if the aggregate is at this version (or use If-Match); else 409.",
    )


class PersonalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None


class CustomerIn(Body):
    personal: PersonalIn
    company: Name | None = None
    region: Code | None = None
    industry: Code | None = None
    source: Code | None = None
    owner: Code | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=100)
    external_ref: Code | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "personal": {"name": "Ada Lovelace", "email": "ada@example.com",
                         "phone": "+44 20 7946 0000"},
            "company": "Analytical Engines Ltd", "region": "EMEA", "industry": "manufacturing",
            "tags": ["vip"],
        }]},
    )


    @model_validator(mode="after")
    def _identifiable(self) -> CustomerIn:
        if not (self.personal.name or self.personal.email):
            raise ValueError("a customer needs a personal name or e-mail address")
        return self


class ProfileIn(ConditionalBody):
    personal: PersonalIn | None = None
    company: Name | None = None
    region: Code | None = None
    industry: Code | None = None


class ErasureIn(BaseModel):
    """Why a customer's personal data is erased. Kept in the log for ever, readable by
    auditors: it describes the request, and must not itself hold personal data."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "legal_basis": "gdpr_art_17", "request_reference": "DSR-2026-0042",
        "reason": "Erasure request received through the privacy portal"}]})

    legal_basis: LegalBasis = Field(description="The law or agreement the erasure follows.")
    request_reference: Code = Field(description="The request's id in your ticketing system.")
    reason: Name


class TagIn(ConditionalBody):
    tag: Tag


class OwnerIn(ConditionalBody):
    owner: Code | None


class ConsentIn(ConditionalBody):
    channel: Literal["email", "phone", "sms", "marketing", "profiling"]
    granted: StrictBool


class LeadIn(Body):
    customer_id: UUID | None = None
    customer: CustomerIn | None = None
    title: Name
    source: Code | None = None
    channel: Code | None = None
    region: Code | None = None
    industry: Code | None = None
    amount: Amount | None = None
    currency: Currency | None = None
    owner: Code | None = None
    external_ref: Code | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "customer_id": "0b8f6f44-3f55-4c1a-9a0e-8f4f6f0b2d11",
            "title": "Difference engine upgrade", "source": "web", "amount": "12000.00",
            "currency": "EUR", "owner": "rep-7",
        }]},
    )

    @model_validator(mode="after")
    def _one_customer(self) -> LeadIn:
        if (self.customer_id is None) == (self.customer is None):
            raise ValueError("give exactly one of customer_id or customer")
        if (self.amount is None) != (self.currency is None):
            raise ValueError("amount and currency go together")
        return self


class StageIn(ConditionalBody):
    stage: Code
    reason: Name | None = None
    budget_confirmed: StrictBool | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"stage": "qualified", "budget_confirmed": True, "expected_version": 3},
            {"stage": "lost", "reason": "price"},
        ]},
    )


class LeadAssignIn(ConditionalBody):
    owner: Code


class LeadAmountIn(ConditionalBody):
    amount: Amount
    currency: Currency


class DiscountIn(ConditionalBody):
    percent: Percent = Field(description="Discount in percent, e.g. \"15\" or \"12.5\".")
    reason: Name | None = None


class DiscountApprovalIn(ConditionalBody):
    note: Name | None = None


class DiscountRejectionIn(ConditionalBody):
    reason: Name | None = None


class PaymentIn(ConditionalBody):
    amount: Amount
    currency: Currency
    reference: Code | None = None


class BodyPersonalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: LongText | None = None


class InteractionIn(Body):
    channel: Literal["call", "email", "meeting", "chat", "note", "visit"]
    direction: Literal["inbound", "outbound", "internal"] = "outbound"
    subject: Name | None = None
    duration_s: StrictInt | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    lead_id: UUID | None = None
    personal: BodyPersonalIn | None = None
    external_ref: Code | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "channel": "call", "direction": "outbound", "subject": "Discovery call",
            "duration_s": 900, "personal": {"body": "Talked about the upgrade"},
            "occurred_at": "2026-03-02T10:00:00Z",
        }]},
    )


class TicketIn(Body):
    subject: Name
    priority: Priority = "normal"
    channel: Code | None = None
    assignee: Code | None = None
    lead_id: UUID | None = None
    external_ref: Code | None = None


class TicketStatusIn(ConditionalBody):
    status: Literal["open", "pending", "resolved", "closed", "reopened"]
    reason: Name | None = None


class TicketAssignIn(ConditionalBody):
    assignee: Code


class CommentPersonalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: LongText = Field(min_length=1)


class TicketCommentIn(ConditionalBody):
    personal: CommentPersonalIn
    author_type: Literal["agent", "customer"] = "agent"
    public: StrictBool = True


class PurchaseItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Code | None = None
    name: Name
    quantity: StrictInt = Field(ge=1, le=1_000_000)
    unit_price: Amount


class PurchaseIn(Body):
    amount: Amount
    currency: Currency
    reference: Code | None = Field(default=None, description="ERP order or invoice number.")
    items: list[PurchaseItemIn] = Field(default_factory=list, max_length=500)
    lead_id: UUID | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "amount": "99.90", "currency": "EUR", "occurred_at": "2026-01-05T10:00:00Z",
            "reference": "INV-1",
        }]},
    )


class CommandAccepted(BaseModel):
    """Every 2xx: the ids concerned, the aggregate's new version and the global position of the
    last event written (pass it as `min_position` to read your own write)."""

    model_config = ConfigDict(extra="allow")

    version: int
    position: int


class AlertNoteIn(ConditionalBody):
    """Acknowledging or resolving an alert; the note is a short remark, not a message."""

    note: Name | None = None


class TicketPriorityIn(ConditionalBody):
    priority: Priority
    reason: Name | None = None
