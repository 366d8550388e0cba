"""Customer events: a person or company the business deals with."""

from __future__ import annotations

from typing import Any, ClassVar, Literal
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
    schema_version: ClassVar[int] = 2
    """v2: `personal` is sealed under the customer's key in the store and on the topic."""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """v1 held `personal` in plain text; the values are the same."""

    personal: CustomerPersonal | None = Field(
        default=None, description="Sealed under the customer's key; null once erased.")
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
    schema_version: ClassVar[int] = 2
    """v2: `personal` is sealed under the customer's key in the store and on the topic."""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """v1 held `personal` in plain text; the values are the same."""

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


LegalBasis = Literal["gdpr_art_17", "ccpa_deletion", "contract_end", "retention_expired", "other"]


class CustomerErased(CrmEvent):
    """The customer's data key was destroyed (crypto-shredding): no personal value of it can
    be read again. Holds no personal data itself: `reason` and `request_reference` describe
    the request, never the person."""

    event_type: ClassVar[str] = "crm.customer.erased"
    schema_version: ClassVar[int] = 2

    reason: str
    legal_basis: LegalBasis = "other"
    request_reference: str | None = None
    erased_customer_ids: list[UUID] = Field(
        default_factory=list, description="Customers merged into this one, erased with it.")

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """v2 adds the legal basis, the request reference and the merged customers."""


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
