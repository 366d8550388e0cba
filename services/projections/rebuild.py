"""Rebuild a read model into a new generation, then swap it in.

The active generation keeps serving (and its live runner keeps applying) while the new one is
filled from the start of the topic — or from the event store, in the embedded mode or when the
topic no longer holds the whole history. When the new generation has caught up, the views are
repointed in one transaction; live runners notice and continue on it from its stored offsets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from services.common.event_store import ChronicleStore
from services.common.kafka_clients import kafka_client_config
from services.common.settings import Settings
from services.projections.model import Projection
from services.projections.runner import ProjectionRunner
from services.projections.sources import EventStoreSource, KafkaSource, Source
from services.projections.stores.base import Progress, ReadStore

RebuildSource = Literal["topic", "store", "export"]
"""`export`: an export directory (`crm export`), given to `rebuild_many` as a ready `feed`."""

REBUILD_BATCH = 5000
"""Records a rebuild applies per read-model transaction."""

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
    batch_size: int = REBUILD_BATCH, keep_previous: bool = False,
    on_progress: ProgressCallback | None = None,
) -> RebuildResult:
    """Fill a fresh generation from the beginning, activate it, drop the old one."""
    [result] = rebuild_many([(projection, store)], settings, source=source,
                            event_store=event_store, batch_size=batch_size,
                            keep_previous=keep_previous, on_progress=on_progress)
    return result


def rebuild_many(
    targets: Sequence[tuple[Projection, ReadStore]], settings: Settings, *,
    source: RebuildSource | None = None, event_store: ChronicleStore | None = None,
    batch_size: int = REBUILD_BATCH, keep_previous: bool = False,
    on_progress: ProgressCallback | None = None, feed: Source | None = None,
) -> list[RebuildResult]:
    """Rebuild several read models in one pass over the log: each record is read and decoded
    once and applied to every model's new generation; all are activated at the end.

    `feed` replaces the topic or the store as the source (e.g. an `ExportSource`); `source`
    then names it in the results.
    """
    chosen: RebuildSource = source or ("topic" if settings.kafka_bootstrap else "store")
    if feed is not None:
        pass
    elif chosen == "topic":
        if not settings.kafka_bootstrap:
            raise ValueError("rebuilding from the topic needs a Kafka bootstrap address")
        # The topic carries `personal` sealed: without the store's keys it reads as null.
        feed = KafkaSource(kafka_client_config(settings), settings.kafka_topic, group_id=None,
                           client_id="chronicle-rebuild",
                           vault=event_store.vault if event_store is not None else None)
    elif chosen == "store":
        if event_store is None:
            raise ValueError("rebuilding from the event store needs the event store")
        feed = EventStoreSource(event_store)
    else:
        raise ValueError(f"rebuilding from {chosen!r} needs a feed")
    started = time.perf_counter()
    plans: list[tuple[ProjectionRunner, int | None]] = []
    try:
        for projection, store in targets:
            if projection.vault is None and event_store is not None:
                projection.vault = event_store.vault
            previous, highest = store.generations(projection.name)
            runner = ProjectionRunner(projection, store, feed, generation=highest + 1,
                                      follow_active=False, batch_size=batch_size)
            plans.append((runner, previous))
        first = plans[0][0]
        idle_polls = 0
        while idle_polls < 2:
            records = feed.poll(batch_size, 0.5 if chosen == "topic" else 0.0)
            for runner, _ in plans:
                if records:
                    runner.apply(records)
            lag = feed.lag(first.applied_offsets())
            idle_polls = idle_polls + 1 if not records and not lag else 0
            if on_progress is not None:
                on_progress(first.stats.applied, lag)
        if chosen == "store" and settings.kafka_bootstrap:
            # Live runners read the topic: give the new generation topic progress. Offsets
            # start over; every event up to the rebuilt position is then recognised by its
            # position and skipped, and later ones are applied.
            partitions = _topic_partitions(settings)
            for runner, _ in plans:
                reached = runner.reached_position()
                with runner.store.transaction() as tx:
                    for partition in partitions:
                        tx.save_progress(runner.name, runner.generation,
                                         Progress(partition, -1, reached, None, None))
        for runner, _ in plans:
            runner.store.activate(runner.projection, runner.generation)
    finally:
        feed.close()
    seconds = time.perf_counter() - started
    results = []
    for runner, previous in plans:
        if previous is not None and not keep_previous:
            runner.store.drop_generation(runner.projection, previous)
        results.append(RebuildResult(runner.name, runner.generation, previous,
                                     runner.stats.applied, seconds, chosen))
    return results


def _topic_partitions(settings: Settings) -> list[int]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(**kafka_client_config(settings), group_id=None)
    try:
        found = consumer.partitions_for_topic(settings.kafka_topic)
    finally:
        consumer.close()
    if not found:
        raise RuntimeError(f"topic {settings.kafka_topic} not found: cannot hand the rebuilt "
                           "read models over to the live projectors")
    return sorted(found)
