"""Customer: a person or company, with profile, tags, owner, consents and linked records."""

from __future__ import annotations

import hmac
import os
from datetime import datetime
from typing import Any
from uuid import UUID

from services.command.domain.aggregate import AggregateRoot, CommandContext
from services.command.domain.errors import RuleViolation
from services.common.events.customer import (
    CustomerAlertLinked,
    CustomerBecameDormant,
    CustomerConsentChanged,
    CustomerErased,
    CustomerOwnerChanged,
    CustomerPersonal,
    CustomerProfileChanged,
    CustomerRecordLinked,
    CustomerRegistered,
    CustomersMerged,
    CustomerTagged,
    CustomerUntagged,
    LinkedKind,
)

MAX_TAGS = 100
_FINGERPRINT_KEY = os.urandom(32)
"""Per process: fingerprints are compared within one process only, and mean nothing outside."""


def _fingerprint(value: Any) -> bytes:
    return hmac.digest(_FINGERPRINT_KEY, str(value).encode(), "sha256")


def _fingerprints(personal: CustomerPersonal | None) -> dict[str, bytes]:
    if personal is None:  # erased
        return {}
    return {k: _fingerprint(v) for k, v in personal.model_dump(exclude_none=True).items()}


class Customer(AggregateRoot):
    kind = "customer"
    created_by = CustomerRegistered

    personal: dict[str, bytes]
    """A fingerprint of each personal value (never the value: aggregates are cached), enough
    to tell whether a profile change changes anything."""
    tags: list[str]
    owner: str | None
    consents: dict[str, bool]
    lead_ids: tuple[UUID, ...] = ()
    merged_customer_ids: tuple[UUID, ...] = ()
    erased: bool = False

    @classmethod
    def register(
        cls, customer_id: UUID, ctx: CommandContext, *, personal: CustomerPersonal,
        company: str | None = None, region: str | None = None, industry: str | None = None,
        source: str | None = None, owner: str | None = None, tags: list[str] | None = None,
        external_ref: str | None = None,
    ) -> Customer:
        unique_tags = list(dict.fromkeys(tags or []))
        if len(unique_tags) > MAX_TAGS:
            raise RuleViolation("too_many_tags", f"a customer has at most {MAX_TAGS} tags")
        customer = cls(customer_id)
        customer._record(
            CustomerRegistered, ctx, customer_id=customer_id, personal=personal, company=company,
            region=region, industry=industry, source=source, owner=owner, tags=unique_tags,
            external_ref=external_ref,
        )
        return customer

    def change_profile(
        self, ctx: CommandContext, *, personal: CustomerPersonal | None,
        company: str | None, region: str | None, industry: str | None,
    ) -> None:
        changed_personal = None
        if personal is not None:
            diff = {k: v for k, v in personal.model_dump(exclude_none=True).items()
                    if self.personal.get(k) != _fingerprint(v)}
            changed_personal = CustomerPersonal(**diff) if diff else None
        changes = {
            key: value for key, value in
            (("company", company), ("region", region), ("industry", industry))
            if value is not None and getattr(self, key) != value
        }
        if changed_personal is None and not changes:
            raise RuleViolation("no_change", "the profile already has these values")
        self._record(CustomerProfileChanged, ctx, personal=changed_personal, **changes)

    def erase(self, ctx: CommandContext, *, reason: str, legal_basis: str,
              request_reference: str | None) -> None:
        """Record that the customer's personal data is destroyed (the caller destroys the keys
        of this customer and of every customer merged into it, which the event names)."""
        if self.erased:
            raise RuleViolation("customer_erased", "the customer's personal data was erased")
        self._record(CustomerErased, ctx, reason=reason, legal_basis=legal_basis,
                     request_reference=request_reference,
                     erased_customer_ids=list(self.merged_customer_ids))

    def tag(self, ctx: CommandContext, tag: str) -> None:
        if tag in self.tags:
            raise RuleViolation("tag_already_present", f"the customer is already tagged '{tag}'",
                                tag=tag)
        if len(self.tags) >= MAX_TAGS:
            raise RuleViolation("too_many_tags", f"a customer has at most {MAX_TAGS} tags")
        self._record(CustomerTagged, ctx, tag=tag)

    def untag(self, ctx: CommandContext, tag: str) -> None:
        if tag not in self.tags:
            raise RuleViolation("tag_not_present", f"the customer is not tagged '{tag}'", tag=tag)
        self._record(CustomerUntagged, ctx, tag=tag)

    def change_owner(self, ctx: CommandContext, owner: str | None) -> None:
        if owner == self.owner:
            raise RuleViolation("no_change", f"the customer is already owned by {owner!r}")
        self._record(CustomerOwnerChanged, ctx, from_owner=self.owner, to_owner=owner)

    def change_consent(self, ctx: CommandContext, channel: str, granted: bool) -> None:
        if self.consents.get(channel) is granted:
            raise RuleViolation("no_change", f"consent for {channel} is already {granted}")
        self._record(CustomerConsentChanged, ctx, channel=channel, granted=granted)

    def link(self, ctx: CommandContext, kind: LinkedKind, record_id: UUID) -> None:
        self._record(CustomerRecordLinked, ctx, kind=kind, record_id=record_id)

    def link_alert(self, ctx: CommandContext, alert_id: UUID, alert_kind: str) -> None:
        self._record(CustomerAlertLinked, ctx, record_id=alert_id, alert_kind=alert_kind)

    def become_dormant(self, ctx: CommandContext, last_activity_at: datetime,
                       dormant_after_days: int) -> None:
        """Once per quiet spell: the same last activity cannot make the customer dormant twice."""
        if self.dormant_since_activity == last_activity_at:
            raise RuleViolation("already_dormant", "the customer is already recorded as dormant "
                                "since this last activity")
        self._record(CustomerBecameDormant, ctx, last_activity_at=last_activity_at,
                     dormant_after_days=dormant_after_days)

    # -- state --------------------------------------------------------------------------------

    def _when_CustomerRegistered(self, event: CustomerRegistered) -> None:
        self._when_created(event)
        self.personal = _fingerprints(event.personal)
        self.company, self.region, self.industry = event.company, event.region, event.industry
        self.source, self.owner = event.source, event.owner
        self.tags = list(event.tags)
        self.consents = {}
        self.dormant_since_activity: datetime | None = None

    def _when_CustomerProfileChanged(self, event: CustomerProfileChanged) -> None:
        if event.personal is not None:
            self.personal.update(_fingerprints(event.personal))
        for key in ("company", "region", "industry"):
            value = getattr(event, key)
            if value is not None:
                setattr(self, key, value)

    def _when_CustomerErased(self, event: CustomerErased) -> None:
        self.erased = True
        self.personal = {}

    def _when_CustomersMerged(self, event: CustomersMerged) -> None:
        self.merged_customer_ids = (*self.merged_customer_ids, event.merged_customer_id)

    def _when_CustomerTagged(self, event: CustomerTagged) -> None:
        self.tags.append(event.tag)

    def _when_CustomerUntagged(self, event: CustomerUntagged) -> None:
        self.tags.remove(event.tag)

    def _when_CustomerOwnerChanged(self, event: CustomerOwnerChanged) -> None:
        self.owner = event.to_owner

    def _when_CustomerConsentChanged(self, event: CustomerConsentChanged) -> None:
        self.consents[event.channel] = event.granted

    def _when_CustomerAlertLinked(self, event: CustomerAlertLinked) -> None:
        pass

    def _when_CustomerBecameDormant(self, event: CustomerBecameDormant) -> None:
        self.dormant_since_activity = event.last_activity_at

    def _when_CustomerRecordLinked(self, event: CustomerRecordLinked) -> None:
        if event.kind == "lead":  # whose book the customer is in follows its leads too
            self.lead_ids = (*getattr(self, "lead_ids", ()), event.record_id)
