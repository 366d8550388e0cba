"""Rebuild a read model into a new generation, then swap it in.

The active generation keeps serving (and its live runner keeps applying) while the new one is
filled from the start of the topic — or from the event store, in the embedded mode or when the
topic no longer holds the whole history. When the new generation has caught up, the views are
repointed in one transaction; live runners notice and continue on it from its stored offsets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from services.common.event_store import ChronicleStore
from services.common.settings import Settings
from services.projections.model import Projection
from services.projections.runner import ProjectionRunner
from services.projections.sources import EventStoreSource, KafkaSource, Source
from services.projections.stores.base import ReadStore

RebuildSource = Literal["topic", "store"]

ProgressCallback = Callable[[int, int | None], None]
"""Called after every batch with (events applied so far, events still to apply if known)."""


@dataclass(frozen=True)
class RebuildResult:
    projection: str
    generation: int
    previous_generation: int | None
    events: int
    seconds: float
    source: RebuildSource

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def rebuild(
    projection: Projection, store: ReadStore, settings: Settings, *,
    source: RebuildSource | None = None, event_store: ChronicleStore | None = None,
    batch_size: int = 5000, keep_previous: bool = False,
    on_progress: ProgressCallback | None = None,
) -> RebuildResult:
    """Fill a fresh generation from the beginning, activate it, drop the old one."""
    chosen: RebuildSource = source or ("topic" if settings.kafka_bootstrap else "store")
    feed: Source
    if chosen == "topic":
        if not settings.kafka_bootstrap:
            raise ValueError("rebuilding from the topic needs a Kafka bootstrap address")
        feed = KafkaSource(settings.kafka_bootstrap, settings.kafka_topic, group_id=None,
                           client_id=f"chronicle-rebuild-{projection.name}")
    else:
        if event_store is None:
            raise ValueError("rebuilding from the event store needs the event store")
        feed = EventStoreSource(event_store)
    previous, highest = store.generations(projection.name)
    generation = highest + 1
    store.create_generation(projection, generation)
    started = time.perf_counter()
    try:
        runner = ProjectionRunner(projection, store, feed, generation=generation,
                                  follow_active=False, batch_size=batch_size)
        idle_polls = 0
        while idle_polls < 2:
            seen = runner.step(timeout_s=0.5 if chosen == "topic" else 0.0)
            lag = runner.source.lag(runner.applied_offsets())
            idle_polls = idle_polls + 1 if not seen and not lag else 0
            if on_progress is not None:
                on_progress(runner.stats.applied, lag)
        store.activate(projection, generation)
    finally:
        feed.close()
    seconds = time.perf_counter() - started
    if previous is not None and not keep_previous:
        store.drop_generation(projection, previous)
    return RebuildResult(projection.name, generation, previous, runner.stats.applied, seconds,
                         chosen)

