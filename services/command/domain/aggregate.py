"""Aggregate base: records catalog events, applies them to its state, and rebuilds from them.

Aggregates are saved and loaded by the `eventsourcing` library's application (it calls
`collect_events()` on save, and `project()` as the projector function on load).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Self
from uuid import UUID, uuid4

from services.common.events.envelope import CrmEvent

_decision_order = itertools.count()


@dataclass(frozen=True)
class CommandContext:
    """Who issues a command, for which tenant, in which workflow, and when it happened."""

    actor: str
    tenant_id: str
    correlation_id: UUID = field(default_factory=uuid4)
    causation_id: UUID | None = None
    occurred_at: datetime | None = None
    """Business time the client supplied (back-dated facts, imports); defaults to now."""
    acting_as_admin: bool = False
    """The actor holds the tenant's admin role: may stand in for a designated approver."""
    book: frozenset[str] | None = None
    """The people whose records the actor may change (services/common/auth/book.py); None:
    every record of the tenant."""

    def with_occurred_at(self, occurred_at: datetime | None) -> CommandContext:
        if occurred_at is None:
            return self
        return replace(self, occurred_at=occurred_at)


class AggregateRoot:
    """State rebuilt from events; new decisions become pending events."""

    kind: ClassVar[str] = "aggregate"
    created_by: ClassVar[type[CrmEvent]]

    id: UUID
    version: int
    customer_id: UUID
    tenant_id: str
    creator: str
    """The actor who created it."""

    def __init__(self, aggregate_id: UUID) -> None:
        self.id = aggregate_id
        self.version = 0
        self._pending: list[tuple[int, CrmEvent]] = []

    def _record(self, event_class: type[CrmEvent], ctx: CommandContext, **data: Any) -> CrmEvent:
        """Decide: make the next event, apply it, and keep it until the aggregate is saved."""
        now = datetime.now(UTC)
        customer_id = data.pop("customer_id", None) or self.customer_id
        event = event_class(
            event_id=uuid4(),
            aggregate_id=self.id,
            aggregate_version=self.version + 1,
            customer_id=customer_id,
            tenant_id=ctx.tenant_id,
            actor=ctx.actor,
            occurred_at=ctx.occurred_at or now,
            recorded_at=now,
            correlation_id=ctx.correlation_id,
            causation_id=ctx.causation_id,
            **data,
        )
        self._apply(event)
        self._pending.append((next(_decision_order), event))
        return event

    def _apply(self, event: CrmEvent) -> None:
        handler = getattr(self, f"_when_{type(event).__name__}", None)
        if handler is None:
            raise TypeError(f"{type(self).__name__} cannot apply {type(event).__name__}")
        handler(event)
        self.version = event.aggregate_version

    def _when_created(self, event: CrmEvent) -> None:
        self.customer_id = event.customer_id
        self.tenant_id = event.tenant_id
        self.created_at = event.occurred_at
        self.creator = event.actor

    def collect_events(self) -> list[CrmEvent]:
        return [event for _, event in self.collect_ordered_events()]

    def collect_ordered_events(self) -> list[tuple[int, CrmEvent]]:
        """Pending events with the order in which they were decided (across aggregates)."""
        pending, self._pending = self._pending, []
        return pending

    @classmethod
    def project(cls, aggregate: Self | None, events: Iterable[Any]) -> Self | None:
        """Rebuild from stored events; None when the stream is not one of this kind."""
        for event in events:
            if aggregate is None:
                if not isinstance(event, cls.created_by):
                    return None
                aggregate = cls(event.aggregate_id)
            aggregate._apply(event)
        return aggregate


def events_in_decision_order(*aggregates: AggregateRoot) -> list[CrmEvent]:
    """The pending events of several aggregates, in the order they were decided, so that a
    multi-aggregate write stores e.g. CustomerRegistered, LeadCreated, CustomerRecordLinked."""
    ordered = [item for aggregate in aggregates for item in aggregate.collect_ordered_events()]
    return [event for _, event in sorted(ordered, key=lambda item: item[0])]
