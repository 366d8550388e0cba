"""Customer events: a person or company the business deals with."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.common.events.envelope import CrmEvent


class CustomerPersonal(BaseModel):
    """Personal data of a customer. Kept apart so it can be encrypted and erased per customer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    email: str | None = None
    phone: str | None = None


LinkedKind = Literal["lead", "interaction", "ticket", "purchase"]
ConsentChannel = Literal["email", "phone", "sms", "marketing", "profiling"]


class CustomerRegistered(CrmEvent):
    event_type: ClassVar[str] = "crm.customer.registered"

    personal: CustomerPersonal
    company: str | None = None
    region: str | None = None
    industry: str | None = None
    source: str | None = None
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    external_ref: str | None = Field(default=None, description="The customer's id in a source system.")


class CustomerProfileChanged(CrmEvent):
    """Only the fields that changed are set; `personal` holds only changed personal fields."""

    event_type: ClassVar[str] = "crm.customer.profile_changed"

    personal: CustomerPersonal | None = None
    company: str | None = None
    region: str | None = None
    industry: str | None = None


class CustomerTagged(CrmEvent):
    event_type: ClassVar[str] = "crm.customer.tagged"

    tag: str


class CustomerUntagged(CrmEvent):
    event_type: ClassVar[str] = "crm.customer.untagged"

    tag: str


class CustomerOwnerChanged(CrmEvent):
    event_type: ClassVar[str] = "crm.customer.owner_changed"

    from_owner: str | None
    to_owner: str | None


class CustomerConsentChanged(CrmEvent):
    event_type: ClassVar[str] = "crm.customer.consent_changed"

    channel: ConsentChannel
    granted: bool


class CustomersMerged(CrmEvent):
    """Recorded on the surviving customer; the merged one's history stays readable."""

    event_type: ClassVar[str] = "crm.customer.merged"

    merged_customer_id: UUID


class CustomerErased(CrmEvent):
    """Personal data of this customer was destroyed (crypto-shredded)."""

    event_type: ClassVar[str] = "crm.customer.erased"

    reason: str


class CustomerRecordLinked(CrmEvent):
    """A lead, interaction, ticket or purchase was created for this customer.

    Saved atomically with the new record, so the store alone answers
    "every event of customer X".
    """

    event_type: ClassVar[str] = "crm.customer.record_linked"

    kind: LinkedKind
    record_id: UUID


class CustomerBecameDormant(CrmEvent):
    """No purchase or interaction for the tenant's dormancy period (lifecycle rules)."""

    event_type: ClassVar[str] = "crm.customer.became_dormant"

    last_activity_at: AwareDatetime
    dormant_after_days: int = Field(ge=1)


class CustomerAlertLinked(CrmEvent):
    """An alert about this customer was raised (so the audit history includes its events)."""

    event_type: ClassVar[str] = "crm.customer.alert_linked"

    record_id: UUID
    alert_kind: str
