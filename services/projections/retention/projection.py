"""Retention read model: every purchase, won lead and interaction as one small fact row, and
each customer's filter attributes.

`retention_activity` is insert-only (id = event id; no event reads a row): the customer, the
kind of activity, its business time and its calendar month as one integer (year * 12 +
month - 1, UTC), so cohorts are integer arithmetic at query time. `retention_customers` holds
the customer's current region and owner and the source it was registered with.
The cohort figures are defined and computed in reads.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from services.common.events.customer import (
    CustomerAlertLinked,
    CustomerBecameDormant,
    CustomerConsentChanged,
    CustomerErased,
    CustomerOwnerChanged,
    CustomerProfileChanged,
    CustomerRecordLinked,
    CustomerRegistered,
    CustomersMerged,
    CustomerTagged,
    CustomerUntagged,
)
from services.common.events.envelope import CrmEvent
from services.common.events.interaction import InteractionLogged
from services.common.events.lead import (
    DiscountApprovalRequested,
    DiscountApproved,
    DiscountRejected,
    DiscountRequested,
    FollowUpOverdue,
    LeadAmountChanged,
    LeadAssigned,
    LeadCreated,
    LeadLost,
    LeadStageChanged,
    LeadWon,
    PaymentReceived,
)
from services.common.events.purchase import PurchaseRecorded
from services.common.times import iso
from services.projections.model import Projection, Row, Rows, Table, events_outside, handler

PURCHASE, WON, INTERACTION = "purchase", "won", "interaction"

ACTIVITY = Table("retention_activity", {
    "id": "text",            # event id
    "customer_id": "text",
    "tenant_id": "text",
    "kind": "text",          # purchase | won | interaction
    "occurred_at": "ts",     # business time
    "month": "int",          # month_index(occurred_at)
})

CUSTOMERS = Table("retention_customers", {
    "id": "text",            # customer id
    "tenant_id": "text",
    "region": "text",        # current
    "source": "text",        # as registered
    "owner": "text",         # current
})
CUSTOMER = CUSTOMERS.row("customer_id")


def month_index(moment: datetime) -> int:
    """The UTC calendar month of a moment as one integer: year * 12 + month - 1."""
    utc = moment.astimezone(UTC)
    return utc.year * 12 + utc.month - 1


def month_label(index: int) -> str:
    """`2026-01` for month_index(January 2026)."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


class RetentionProjection(Projection):
    """Activity facts by business time, and customer attributes to filter cohorts by."""

    name: ClassVar[str] = "retention"
    store_kind = "analytics"
    tables: ClassVar[tuple[Table, ...]] = (ACTIVITY, CUSTOMERS)
    ignored = events_outside("crm.customer.", "crm.lead.", "crm.purchase.",
                             "crm.interaction.") | {
        # customer events that change no attribute a cohort is filtered by
        CustomerTagged, CustomerUntagged, CustomerConsentChanged, CustomersMerged,
        CustomerErased, CustomerRecordLinked, CustomerAlertLinked, CustomerBecameDormant,
        # LeadWon, not LeadStageChanged(to=won), is the win: the domain records both
        LeadCreated, LeadAssigned, LeadStageChanged, LeadAmountChanged, LeadLost,
        DiscountRequested, DiscountApprovalRequested, DiscountApproved, DiscountRejected,
        PaymentReceived, FollowUpOverdue}
    """Every event but activity (purchases, wins, interactions) and customer attributes."""

    @handler
    def purchase_recorded(self, rows: Rows, event: PurchaseRecorded, position: int) -> None:
        if event.is_buying:  # a zero-value purchase is no purchase activity
            _activity(rows, event, PURCHASE)

    @handler
    def lead_won(self, rows: Rows, event: LeadWon, position: int) -> None:
        _activity(rows, event, WON)

    @handler
    def interaction_logged(self, rows: Rows, event: InteractionLogged, position: int) -> None:
        _activity(rows, event, INTERACTION)

    @handler
    def registered(self, rows: Rows, event: CustomerRegistered, position: int) -> None:
        rows.put(CUSTOMERS, {"id": str(event.customer_id), "tenant_id": event.tenant_id,
                             "region": event.region, "source": event.source,
                             "owner": event.owner})

    @handler(reads=[CUSTOMER])
    def profile_changed(self, rows: Rows, event: CustomerProfileChanged, position: int) -> None:
        if event.region is not None:  # only changed fields are set
            rows.put(CUSTOMERS, {**_customer(rows, event), "region": event.region})

    @handler(reads=[CUSTOMER])
    def owner_changed(self, rows: Rows, event: CustomerOwnerChanged, position: int) -> None:
        rows.put(CUSTOMERS, {**_customer(rows, event), "owner": event.to_owner})


def _activity(rows: Rows, event: CrmEvent, kind: str) -> None:
    rows.put(ACTIVITY, {
        "id": str(event.event_id), "customer_id": str(event.customer_id),
        "tenant_id": event.tenant_id, "kind": kind, "occurred_at": iso(event.occurred_at),
        "month": month_index(event.occurred_at),
    })


def _customer(rows: Rows, event: CrmEvent) -> Row:
    customer = rows.get(CUSTOMERS, str(event.customer_id))
    if customer is None:  # registered before this projection's source began: attributes unknown
        return {"id": str(event.customer_id), "tenant_id": event.tenant_id, "region": None,
                "source": None, "owner": None}
    return customer
