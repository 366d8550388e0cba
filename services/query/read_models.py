"""The query side's view of the read models: the stores, the projectors that feed them, and
how far those have got — so a reader can wait for its own write (read-your-writes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.common.event_store import ChronicleStore
from services.common.settings import Settings
from services.projections.host import ProjectorHost
from services.projections.runner import ProjectionRunner
from services.projections.stores.duck import DuckReadStore
from services.projections.stores.sql import SqlReadStore

PublishedThrough = Callable[[], tuple[int, dict[int, int]] | None]


@dataclass
class ReadModels:
    settings: Settings
    host: ProjectorHost
    event_store: ChronicleStore | None
    published_through: PublishedThrough = field(default=lambda: None)
    """The relay's (position, offsets) when projectors read the topic; None: the event store."""

    @property
    def sql(self) -> SqlReadStore:
        assert self.host.sql_store is not None
        return self.host.sql_store

    @property
    def analytics(self) -> DuckReadStore:
        assert self.host.analytics_store is not None
        return self.host.analytics_store

    def runners(self, names: Sequence[str]) -> list[ProjectionRunner]:
        return [self.host.runners[name] for name in names if name in self.host.runners]

    def position(self, names: Sequence[str]) -> int:
        """Every event up to this position is applied in all the named read models."""
        published = self.published_through()
        return min((r.reached_position(published) for r in self.runners(names)), default=0)

    def wait_for(self, names: Sequence[str], position: int, timeout_s: float) -> bool:
        """Block until every named read model has applied `position`, or the timeout."""
        deadline = time.monotonic() + timeout_s
        for runner in self.runners(names):
            remaining = deadline - time.monotonic()
            if not runner.wait_until(position, max(0.0, remaining), self.published_through):
                return False
        return True

    def last_position(self) -> int | None:
        """The last position in the event store (None when this process has no store)."""
        if self.event_store is None:
            return None
        return self.event_store.recorder.max_notification_id() or 0

    def statuses(self) -> list[dict[str, Any]]:
        return self.host.statuses()
