"""The lifecycle read model: each customer's stage over business time (DESIGN.md §5).

Business time drives everything and events may arrive back-dated, so the projection never
moves a stage forward event by event. It keeps, per customer, the few facts the stages depend
on (when they registered, when they first engaged, when they bought, when they were in touch)
and recomputes the customer's whole transition list from those facts with the pure function
`stages.transitions()` on every relevant event. A replay, a rebuild and an in-memory fold
therefore reach the same list whatever order the facts came in.

Time-based transitions (dormant) are stored when they are due *after* the last activity, even if
that moment lies in the future of every event seen: it simply has not happened yet for an
`as_of` earlier than it, and the next activity before it removes it again.

`CustomerBecameDormant` (recorded by the lifecycle rule when it notices a quiet customer) is
ignored on purpose: dormancy is derived here from the activity facts, at the exact moment it
became due, so the answer for any `as_of` does not depend on when, or whether, the rule ran
(it runs on its own clock and its tenant's dormancy period, and back-dated activity can make
its event stale). Taking the event as a stage transition would make a replay's answer depend
on the rule's schedule instead of on the facts.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable
from typing import Any, ClassVar

from services.common.events.alert import AlertAcknowledged, AlertRaised, AlertResolved
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
from services.common.events.note import NOTE_EVENTS
from services.common.events.purchase import PurchaseRecorded
from services.common.events.task import TASK_EVENTS
from services.common.events.ticket import (
    TicketAssigned,
    TicketCommentAdded,
    TicketFirstResponded,
    TicketOpened,
    TicketPriorityChanged,
    TicketSlaBreached,
    TicketStatusChanged,
)
from services.common.settings import Settings
from services.common.times import iso
from services.projections.lifecycle.stages import (
    LifecycleConfig,
    empty_facts,
    stage_as_of,
    transitions,
)
from services.projections.model import Projection, Rows, Table, handler

CUSTOMERS = Table("lifecycle_customers", {
    "id": "text", "tenant_id": "text", "stage": "text", "stage_at": "ts",
    "since": "ts", "facts": "json", "transitions": "json", "transition_count": "int",
    "last_position": "int",
}, indexes=(("tenant_id", "stage"),))
TRANSITIONS = Table("lifecycle_transitions", {
    "id": "text", "customer_id": "text", "tenant_id": "text", "seq": "int",
    "from_stage": "text", "stage": "text", "at": "ts",
}, indexes=(("customer_id", "seq"), ("at",), ("tenant_id", "at")))
CUSTOMER = CUSTOMERS.row("customer_id")

AddFact = Callable[[dict[str, Any], str], None]
"""Adds one fact, at the given business time, to a customer's facts."""


class LifecycleProjection(Projection):
    """Per customer: its facts and transition list, and one row per transition for counting.

    `lifecycle_transitions` rows are addressed `f"{customer_id}:{seq}"`; the customer row keeps
    the transition list, so a change rewrites only the rows that differ and deletes the surplus
    without reading them.
    """

    name: ClassVar[str] = "lifecycle"
    tables: ClassVar[tuple[Table, ...]] = (CUSTOMERS, TRANSITIONS)
    ignored = frozenset({
        # derived here from activity, never taken from the rule's event (module docstring)
        CustomerBecameDormant,
        # no fact a stage depends on: engagement is a qualified lead or an inbound interaction,
        # buying is a won lead or a purchase, activity is buying or a contact
        CustomerProfileChanged, CustomerTagged, CustomerUntagged, CustomerOwnerChanged,
        CustomerConsentChanged, CustomersMerged, CustomerErased, CustomerRecordLinked,
        CustomerAlertLinked, LeadCreated, LeadAssigned, LeadAmountChanged, DiscountRequested,
        DiscountApprovalRequested, DiscountApproved, DiscountRejected, LeadLost, PaymentReceived,
        FollowUpOverdue, TicketOpened, TicketAssigned, TicketStatusChanged, TicketCommentAdded,
        TicketFirstResponded, TicketSlaBreached, TicketPriorityChanged, AlertRaised,
        AlertAcknowledged, AlertResolved,
        # a task or a note is work about the customer, no contact with them
        *TASK_EVENTS, *NOTE_EVENTS,
    })

    def __init__(self, config: LifecycleConfig | None = None) -> None:
        self.config = config or LifecycleConfig()

    @classmethod
    def from_settings(cls, settings: Settings) -> LifecycleProjection:
        return cls(LifecycleConfig.from_settings(settings))

    # One handler per event type: each only adds its fact; `_record` recomputes.

    @handler(reads=[CUSTOMER])
    def registered(self, rows: Rows, event: CustomerRegistered, position: int) -> None:
        self._record(rows, event, position, _register)

    @handler(reads=[CUSTOMER])
    def lead_stage_changed(self, rows: Rows, event: LeadStageChanged, position: int) -> None:
        if event.to_stage in self.config.engaging_stages:
            self._record(rows, event, position, _engage)

    @handler(reads=[CUSTOMER])
    def bought(self, rows: Rows, event: LeadWon | PurchaseRecorded, position: int) -> None:
        if isinstance(event, PurchaseRecorded) and not event.is_buying:
            return  # a zero-value purchase is no buying (PurchaseRecorded.is_buying)
        self._record(rows, event, position, _buy)

    @handler(reads=[CUSTOMER])
    def interaction_logged(self, rows: Rows, event: InteractionLogged, position: int) -> None:
        if event.direction == "inbound":
            self._record(rows, event, position, _engage_and_touch)
        elif event.direction == "outbound":
            self._record(rows, event, position, _touch)
        # An internal note is no contact with the customer: no fact.

    # -- shared -------------------------------------------------------------------------------

    def _record(self, rows: Rows, event: CrmEvent, position: int, add: AddFact) -> None:
        customer_id = str(event.customer_id)
        row = rows.get(CUSTOMERS, customer_id)
        old_transitions: list[list[str]] = row["transitions"] if row else []
        facts = dict(row["facts"]) if row else empty_facts()
        at = iso(event.occurred_at)
        add(facts, at)
        if facts["latest_at"] is None or at > facts["latest_at"]:
            facts["latest_at"] = at
        new_transitions = [list(t) for t in transitions(facts, self.config)]
        _write_transitions(rows, customer_id, event.tenant_id, old_transitions, new_transitions)
        stage_at = facts["latest_at"]
        current = stage_as_of(new_transitions, stage_at)
        since = next((t[1] for t in reversed(new_transitions) if t[1] <= stage_at), None)
        rows.put(CUSTOMERS, {
            "id": customer_id, "tenant_id": event.tenant_id, "stage": current,
            "stage_at": stage_at, "since": since, "facts": facts,
            "transitions": new_transitions, "transition_count": len(new_transitions),
            "last_position": position,
        })


def _write_transitions(rows: Rows, customer_id: str, tenant_id: str,
                       old: list[list[str]], new: list[list[str]]) -> None:
    """Rewrite only the transition rows that differ; delete the ones past the new end."""
    for seq, (stage, at) in enumerate(new):
        from_stage = new[seq - 1][0] if seq else None
        old_from = old[seq - 1][0] if 0 < seq <= len(old) else None
        if seq < len(old) and old[seq] == [stage, at] and old_from == from_stage:
            continue
        rows.put(TRANSITIONS, {
            "id": f"{customer_id}:{seq}", "customer_id": customer_id,
            "tenant_id": tenant_id, "seq": seq, "from_stage": from_stage,
            "stage": stage, "at": at,
        })
    for seq in range(len(new), len(old)):
        rows.delete(TRANSITIONS, f"{customer_id}:{seq}")


def _register(facts: dict[str, Any], at: str) -> None:
    facts["registered_at"] = at


def _engage(facts: dict[str, Any], at: str) -> None:
    if facts["engaged_at"] is None or at < facts["engaged_at"]:
        facts["engaged_at"] = at


def _touch(facts: dict[str, Any], at: str) -> None:
    touches: list[str] = facts["touches"]
    index = bisect_left(touches, at)
    if index == len(touches) or touches[index] != at:
        facts["touches"] = touches[:index] + [at] + touches[index:]


def _engage_and_touch(facts: dict[str, Any], at: str) -> None:
    _engage(facts, at)
    _touch(facts, at)


def _buy(facts: dict[str, Any], at: str) -> None:
    buys = list(facts["buys"])  # never mutate the loaded row's list in place
    insort(buys, at)
    facts["buys"] = buys
