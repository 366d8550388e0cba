"""Lead events: one sales opportunity of a customer, moving through the pipeline."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from services.common.events.envelope import (
    CrmEvent,
    PersonalTextEvent,
    amount_field,
    currency_field,
)
from services.common.events.ticket import ReasonEvent

Stage = str
"""A pipeline stage name; the default pipeline is new, contacted, qualified, proposal,
negotiation, won, lost (tenants may configure others)."""


class LeadCreated(CrmEvent):
    event_type: ClassVar[str] = "crm.lead.created"

    title: str
    source: str | None = None
    channel: str | None = None
    region: str | None = None
    industry: str | None = None
    amount: str | None = amount_field()
    currency: str | None = currency_field()
    owner: str | None = None
    stage: Stage = "new"
    external_ref: str | None = None


class LeadAssigned(CrmEvent):
    event_type: ClassVar[str] = "crm.lead.assigned"

    from_owner: str | None
    to_owner: str


class LeadStageChanged(ReasonEvent):
    event_type: ClassVar[str] = "crm.lead.stage_changed"

    from_stage: Stage
    to_stage: Stage
    budget_confirmed: bool | None = None


class LeadAmountChanged(CrmEvent):
    event_type: ClassVar[str] = "crm.lead.amount_changed"

    amount: str = amount_field()
    currency: str = currency_field()
    previous_amount: str | None = amount_field()
    previous_currency: str | None = currency_field()


class DiscountRequested(ReasonEvent):
    event_type: ClassVar[str] = "crm.lead.discount_requested"

    discount_id: UUID
    percent: str
    requires_approval: bool
    threshold_percent: str


class NotePersonal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    note: str | None = None


class DiscountApproved(PersonalTextEvent):
    """v2: the approver's note is in `personal`, sealed under the customer's key."""

    event_type: ClassVar[str] = "crm.lead.discount_approved"
    schema_version: ClassVar[int] = 2
    personal_fields: ClassVar[tuple[str, ...]] = ("note",)

    discount_id: UUID
    approver: str
    personal: NotePersonal | None = None

    @property
    def note(self) -> str | None:
        return self.personal_value("note")


class DiscountRejected(ReasonEvent):
    event_type: ClassVar[str] = "crm.lead.discount_rejected"

    discount_id: UUID
    approver: str


class LeadWon(CrmEvent):
    event_type: ClassVar[str] = "crm.lead.won"

    amount: str | None = amount_field()
    currency: str | None = currency_field()
    discount_percent: str | None = None


class LeadLost(ReasonEvent):
    event_type: ClassVar[str] = "crm.lead.lost"

    from_stage: Stage


class PaymentReceived(CrmEvent):
    event_type: ClassVar[str] = "crm.lead.payment_received"

    payment_id: UUID
    amount: str = amount_field()
    currency: str = currency_field()
    reference: str | None = None


class FollowUpOverdue(CrmEvent):
    event_type: ClassVar[str] = "crm.lead.follow_up_overdue"

    owner: str | None
    manager: str | None = None
    stage: Stage
    days_without_contact: int
    window: Literal["first", "repeat"] = "first"


class DiscountApprovalRequested(CrmEvent):
    """A discount above the approval threshold was sent to the approver the rules name."""

    event_type: ClassVar[str] = "crm.lead.discount_approval_requested"

    discount_id: UUID
    approver: str
    percent: str
