"""Request and response bodies of the command API. Strict: unknown fields are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    WithJsonSchema,
    model_validator,
)

from services.command.domain.rules.model import Duration
from services.common.events.customer import LegalBasis
from services.common.events.note import MAX_NOTE_CHARS
from services.common.events.task import MAX_REMIND_BEFORE_S
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

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"task_id": "0b8e5c0e-3f4a-4c1e-9d55-6f1c2a7b9e10",
         "customer_id": "6a2ec81c-b024-4755-9c07-4ce0dc537015", "version": 2,
         "position": 1042}]})

    version: int
    position: int


class AlertNoteIn(ConditionalBody):
    """Acknowledging or resolving an alert; the note is a short remark, not a message."""

    note: Name | None = None


class TicketPriorityIn(ConditionalBody):
    priority: Priority
    reason: Name | None = None


# -- tasks and notes ----------------------------------------------------------------------------

LATEST_DUE = timedelta(days=3650)


def _due_time(value: datetime) -> datetime:
    """In UTC, and within ten years from now (one in the past is the domain's to refuse)."""
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # year 1 at a positive offset has no UTC equivalent
        raise ValueError("due_at is before 1900") from None
    if value.year < 1900:
        raise ValueError("due_at is before 1900")
    if value > datetime.now(UTC) + LATEST_DUE:
        raise ValueError("due_at is more than ten years away")
    return value


def _not_a_number(value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError("due_at must be an ISO 8601 timestamp with an offset, not a number")
    return value


DueTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_due_time)]
"""When a task is due (ISO 8601 with an offset; stored in UTC)."""


def _reminder(value: timedelta) -> timedelta:
    if value.total_seconds() > MAX_REMIND_BEFORE_S:
        raise ValueError("a reminder is at most 365 days before the due time")
    return value


RemindBefore = Annotated[Duration, AfterValidator(_reminder), WithJsonSchema({
    "type": "string", "pattern": r"^(\d{1,5}d)?(\d{1,5}h)?(\d{1,5}m)?(\d{1,5}s)?$",
    "examples": ["15m", "1h30m", "1d"],
    "description": "How long before the due time to remind the assignee, as the rules file "
                   "writes durations: \"15m\", \"2h\", \"1d12h\" (at most 365 days)."})]


def _note_length(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if len(value) > MAX_NOTE_CHARS:
        raise ValueError(f"a note is at most {MAX_NOTE_CHARS} characters, not {len(value)}")
    return value


NoteText = Annotated[LongText, AfterValidator(_note_length),
                     Field(json_schema_extra={"maxLength": MAX_NOTE_CHARS, "minLength": 1})]
"""Free text about a person, up to 10,000 characters: sealed under the customer's key."""


class TaskIn(Body):
    customer_id: UUID
    title: Name = Field(description="What is to be done (free text: sealed under the "
                        "customer's key).")
    assignee: Code = Field(description="Who is to do it.")
    due_at: DueTime
    remind_before: RemindBefore | None = None
    note: NoteText | None = Field(default=None, description="More about it, if needed.")
    lead_id: UUID | None = Field(default=None, description="The customer's lead it is about.")
    ticket_id: UUID | None = Field(default=None, description="The customer's ticket it is about.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "customer_id": "0b8f6f44-3f55-4c1a-9a0e-8f4f6f0b2d11", "title": "Call Ada back",
            "assignee": "rep-7", "due_at": "2026-03-10T09:00:00+01:00", "remind_before": "15m",
            "lead_id": "d8a1d944-a7f8-4f0f-ae05-416b4ce82ee4",
        }]},
    )

    @model_validator(mode="after")
    def _one_subject(self) -> TaskIn:
        if self.lead_id is not None and self.ticket_id is not None:
            raise ValueError("give lead_id or ticket_id, not both")
        return self


class TaskCompleteIn(ConditionalBody):
    note: NoteText | None = Field(default=None, description="How it went (free text).")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"note": "Agreed to sign on Friday", "expected_version": 1}]})


class TaskRescheduleIn(ConditionalBody):
    due_at: DueTime
    remind_before: RemindBefore | None = Field(
        default=None, description="The reminder for the new time; left out: the task keeps "
        "its reminder; null: none.")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"due_at": "2026-03-12T14:00:00Z", "remind_before": "1h"}]})


class TaskReassignIn(ConditionalBody):
    assignee: Code

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"assignee": "rep-9", "expected_version": 2}]})


class TaskCancelIn(ConditionalBody):
    pass


class NoteIn(Body):
    body: NoteText
    pinned: StrictBool = False

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"body": "Prefers calls after 4pm; decision with the CFO in May.", "pinned": True}]})


class NoteEditIn(ConditionalBody):
    body: NoteText | None = None
    pinned: StrictBool | None = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"body": "Prefers calls after 4pm; decision with the CFO in June.",
         "expected_version": 1}, {"pinned": False}]})

    @model_validator(mode="after")
    def _something(self) -> NoteEditIn:
        if self.body is None and self.pinned is None:
            raise ValueError("give the new body, pinned, or both")
        return self
