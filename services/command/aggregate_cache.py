"""Recently written aggregates kept in memory, so a command need not replay a whole stream.

A cached aggregate is only a starting point: whoever takes one reads the events stored after
its version and applies them before deciding (`CommandService._load`), so a write by another
process on the same store is always seen. An aggregate is lent to one command at a time
(`take` removes it), returned only after that command's events were saved, and simply dropped
when the command fails — a half-decided or conflicting aggregate never goes back.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from uuid import UUID

from services.command.domain.aggregate import AggregateRoot

DEFAULT_CAPACITY = 4096


class AggregateCache:
    """A bounded, least-recently-used set of aggregates at the version they were saved at."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._aggregates: OrderedDict[UUID, AggregateRoot] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, aggregate_id: UUID) -> AggregateRoot | None:
        """Remove and return the aggregate, if cached; the caller owns it now."""
        with self._lock:
            return self._aggregates.pop(aggregate_id, None)

    def give_back(self, aggregate: AggregateRoot) -> None:
        """Keep an aggregate whose every event is stored (nothing pending)."""
        if self._capacity <= 0:
            return
        with self._lock:
            self._aggregates[aggregate.id] = aggregate
            self._aggregates.move_to_end(aggregate.id)
            while len(self._aggregates) > self._capacity:
                self._aggregates.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._aggregates.clear()

    def __len__(self) -> int:
        return len(self._aggregates)
