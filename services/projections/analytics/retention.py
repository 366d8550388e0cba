"""Retention read model: every purchase, won lead and interaction as one small fact row, and
each customer's filter attributes.

`retention_activity` is insert-only (id = event id; no event reads a row): the customer, the
kind of activity, its business time and its calendar month as one integer (year * 12 +
month - 1, UTC), so cohorts are integer arithmetic at query time. `retention_customers` holds
the customer's current region and owner and the source it was registered with.
The cohort figures are defined and computed in `queries.retention`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, cast

from services.common.events.customer import (
    CustomerOwnerChanged,
    CustomerProfileChanged,
    CustomerRegistered,
)
from services.common.events.envelope import CrmEvent
from services.projections.model import ConsumedEvent, Projection, Row, Rows, Table
from services.projections.stores.base import iso

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

    _READS_CUSTOMER: ClassVar[frozenset[type[CrmEvent]]] = frozenset(
        {CustomerProfileChanged, CustomerOwnerChanged})

    def keys(self, event: CrmEvent) -> tuple[tuple[str, str], ...]:
        if type(event) in self._READS_CUSTOMER:
            return ((CUSTOMERS.name, str(event.customer_id)),)
        return ()

    # -- activity -----------------------------------------------------------------------------

    def on_PurchaseRecorded(self, rows: Rows, consumed: ConsumedEvent) -> None:
        _activity(rows, consumed.event, PURCHASE)

    def on_LeadWon(self, rows: Rows, consumed: ConsumedEvent) -> None:
        # LeadWon, not LeadStageChanged(to=won): the domain records both for one win.
        _activity(rows, consumed.event, WON)

    def on_InteractionLogged(self, rows: Rows, consumed: ConsumedEvent) -> None:
        _activity(rows, consumed.event, INTERACTION)

    # -- customers ----------------------------------------------------------------------------

    def on_CustomerRegistered(self, rows: Rows, consumed: ConsumedEvent) -> None:
        event = cast(CustomerRegistered, consumed.event)
        rows.put(CUSTOMERS.name, {"id": str(event.customer_id), "tenant_id": event.tenant_id,
                                  "region": event.region, "source": event.source,
                                  "owner": event.owner})

    def on_CustomerProfileChanged(self, rows: Rows, consumed: ConsumedEvent) -> None:
        event = cast(CustomerProfileChanged, consumed.event)
        if event.region is not None:  # only changed fields are set
            rows.put(CUSTOMERS.name, {**_customer(rows, event), "region": event.region})

    def on_CustomerOwnerChanged(self, rows: Rows, consumed: ConsumedEvent) -> None:
        event = cast(CustomerOwnerChanged, consumed.event)
        rows.put(CUSTOMERS.name, {**_customer(rows, event), "owner": event.to_owner})


def _activity(rows: Rows, event: CrmEvent, kind: str) -> None:
    rows.put(ACTIVITY.name, {
        "id": str(event.event_id), "customer_id": str(event.customer_id),
        "tenant_id": event.tenant_id, "kind": kind, "occurred_at": iso(event.occurred_at),
        "month": month_index(event.occurred_at),
    })


def _customer(rows: Rows, event: CrmEvent) -> Row:
    customer = rows.get(CUSTOMERS.name, str(event.customer_id))
    if customer is None:  # registered before this projection's source began: attributes unknown
        return {"id": str(event.customer_id), "tenant_id": event.tenant_id, "region": None,
                "source": None, "owner": None}
    return customer
