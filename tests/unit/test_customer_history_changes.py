"""Field-level changes of the audit history (services/projections/customer_360/changes.py),
folded from hand-made events: records, consents, the lifecycle stage, and other customers'
events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from services.common.events.customer import (
    CustomerConsentChanged,
    CustomerOwnerChanged,
    CustomerPersonal,
    CustomerRegistered,
)
from services.common.events.envelope import CrmEvent
from services.common.events.purchase import PurchaseRecorded
from services.common.events.ticket import (
    TicketAssigned,
    TicketOpened,
    TicketPriorityChanged,
    TicketStatusChanged,
)
from services.projections.customer_360.changes import field_changes
from services.projections.model import ConsumedEvent

T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)


class Log:
    def __init__(self, customer_id: UUID) -> None:
        self.customer_id, self.events = customer_id, list[ConsumedEvent]()

    def add(self, kind: type[CrmEvent], aggregate_id: UUID, days: float = 0, *,
            customer_id: UUID | None = None, **fields: Any) -> int:
        at = T0 + timedelta(days=days)
        position = len(self.events) + 1
        self.events.append(ConsumedEvent(0, position, position, kind(
            event_id=uuid4(), aggregate_id=aggregate_id, aggregate_version=position,
            customer_id=customer_id or self.customer_id, tenant_id="default", actor="rep-1",
            occurred_at=at, recorded_at=at, correlation_id=uuid4(), **fields)))
        return position

    def changes(self) -> dict[int, dict[str, tuple[Any, Any]]]:
        found = field_changes(self.events, str(self.customer_id))
        return {position: {c["field"]: (c["before"], c["after"]) for c in changes}
                for position, changes in found.items()}


def test_each_event_names_the_fields_it_changed_with_before_and_after() -> None:
    customer, ticket = uuid4(), uuid4()
    log = Log(customer)
    registered = log.add(CustomerRegistered, customer, personal=CustomerPersonal(name="Ada"),
                         owner="rep-1", tags=["vip"])
    consent = log.add(CustomerConsentChanged, customer, 1, channel="email", granted=True)
    withdrawn = log.add(CustomerConsentChanged, customer, 2, channel="email", granted=False)
    owner = log.add(CustomerOwnerChanged, customer, 3, from_owner="rep-1", to_owner="rep-2")
    opened = log.add(TicketOpened, ticket, 4, subject="Gear jammed", priority="normal",
                     assignee="agent-1")
    assigned = log.add(TicketAssigned, ticket, 5, from_assignee="agent-1", to_assignee="agent-2")
    priority = log.add(TicketPriorityChanged, ticket, 6, from_priority="normal",
                       to_priority="urgent")
    status = log.add(TicketStatusChanged, ticket, 7, from_status="open", to_status="resolved")
    bought = log.add(PurchaseRecorded, uuid4(), 8, amount="10.00", currency="EUR")
    elsewhere = log.add(CustomerOwnerChanged, uuid4(), 9, customer_id=uuid4(),
                        from_owner=None, to_owner="rep-3")
    changes = log.changes()

    assert changes[registered] == {"name": (None, "Ada"), "owner": (None, "rep-1"),
                                   "tags": ([], ["vip"]), "lifecycle_stage": (None, "prospect")}
    assert changes[consent] == {"consent.email": (None, True)}
    assert changes[withdrawn] == {"consent.email": (True, False)}
    assert changes[owner] == {"owner": ("rep-1", "rep-2")}
    assert changes[opened] == {"ticket.status": (None, "open"),
                               "ticket.priority": (None, "normal"),
                               "ticket.assignee": (None, "agent-1")}
    assert changes[assigned] == {"ticket.assignee": ("agent-1", "agent-2")}
    assert changes[priority] == {"ticket.priority": ("normal", "urgent")}
    assert changes[status] == {"ticket.status": ("open", "resolved")}
    assert changes[bought]["lifecycle_stage"][1] != changes[bought]["lifecycle_stage"][0]
    assert changes[elsewhere] == {}
