"""Composition root of the projectors: stores, sources and runners from settings.

With a Kafka bootstrap configured, each projector reads the topic as member of its own consumer
group (`chronicle.projector.<topic>.<name>`), so several processes share its partitions.
Without one (the embedded default) it follows the event store's notification log in this
process.
Customer-360, timeline and lifecycle live in PostgreSQL when configured, else in a SQLite file;
funnel, retention and service analytics in a DuckDB file owned by this process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from services.common.event_store import ChronicleStore, open_event_store
from services.common.kafka_clients import KafkaConnection, client_config, kafka_client_config
from services.common.settings import Settings
from services.projections.model import Projection
from services.projections.registry import NAMES, build
from services.projections.runner import ProjectionRunner
from services.projections.sources import EventStoreSource, KafkaSource, Source
from services.projections.stores.base import DeadLetter, ReadStore
from services.projections.stores.duck import DuckReadStore
from services.projections.stores.sql import SqlReadStore

log = logging.getLogger("chronicle.projections")


def open_sql_store(settings: Settings) -> SqlReadStore:
    if settings.store == "postgres":
        assert settings.postgres_url is not None
        reader = settings.postgres_reader_url
        return SqlReadStore(postgres_url=settings.postgres_url.get_secret_value(),
                            schema=settings.postgres_schema,
                            reader_url=reader.get_secret_value() if reader else None)
    return SqlReadStore(sqlite_path=settings.readmodels_sqlite_path)


def open_analytics_store(settings: Settings) -> DuckReadStore:
    return DuckReadStore(settings.analytics_file)


def consumer_group(name: str, topic: str) -> str:
    """The projector's consumer group: one per read model and topic, so installations (or
    tenants of a shared cluster) with topics of their own never share a group. Offsets are
    kept with the read model, not in the group, so a group's name can change freely."""
    return f"chronicle.projector.{topic}.{name}"


def dead_letter_topic(settings: Settings) -> str:
    return f"{settings.kafka_topic}.dlq"


class KafkaDeadLetters:
    """Publishes dead letters to `<topic>.dlq`, keyed like the source, with the error."""

    def __init__(self, connection: KafkaConnection, topic: str, source_topic: str) -> None:
        from kafka import KafkaProducer

        from services.common.kafka_topics import ensure_topic

        ensure_topic(connection, topic, 1)  # low volume; one partition keeps arrival order
        self.topic = topic
        self.source_topic = source_topic
        self._producer: Any = KafkaProducer(**client_config(connection), linger_ms=5)

    def __call__(self, letters: Sequence[DeadLetter]) -> None:
        futures = []
        for letter in letters:
            headers = [
                ("error", letter.error.encode()[:16_000]),
                ("projection", letter.projection.encode()),
                ("source-topic", self.source_topic.encode()),
                ("source-partition", str(letter.partition).encode()),
                ("source-offset", str(letter.offset).encode()),
            ]
            value = (letter.payload or "").encode()
            futures.append(self._producer.send(self.topic, value=value, headers=headers))
        self._producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=30)  # raises: the batch is rolled back and retried

    def close(self) -> None:
        self._producer.close(timeout=5)


class ProjectorHost:
    """Runs the named projectors in threads of this process."""

    def __init__(
        self, settings: Settings, names: Sequence[str] = NAMES, *,
        event_store: ChronicleStore | None = None, sql_store: SqlReadStore | None = None,
        analytics_store: DuckReadStore | None = None,
    ) -> None:
        unknown = [n for n in names if n not in NAMES]
        if unknown:
            raise KeyError(f"unknown projection(s) {', '.join(unknown)}; known: {', '.join(NAMES)}")
        self.settings = settings
        self.event_store = event_store
        self.projections: dict[str, Projection] = {n: build(n, settings) for n in names}
        kinds = {p.store_kind for p in self.projections.values()}
        self._owned: list[ReadStore] = []
        self.sql_store = sql_store
        if self.sql_store is None and "sql" in kinds:
            self.sql_store = open_sql_store(settings)
            self._owned.append(self.sql_store)
        self.analytics_store = analytics_store
        if self.analytics_store is None and "analytics" in kinds:
            self.analytics_store = open_analytics_store(settings)
            self._owned.append(self.analytics_store)
        self._dead_letters: KafkaDeadLetters | None = None
        self._vault_store: ChronicleStore | None = None
        if settings.kafka_bootstrap:
            from services.common.kafka_topics import ensure_topic

            # The topic carries `personal` sealed: the keys are beside the events.
            if event_store is None:
                self._vault_store = open_event_store(settings)
            self.vault = (event_store or self._vault_store).vault  # type: ignore[union-attr]

            # A group that joins before the topic exists is handed no partitions, and its
            # client only notices the topic at its next metadata refresh.
            connection = kafka_client_config(settings)
            ensure_topic(connection, settings.kafka_topic, settings.kafka_partitions)
            self._dead_letters = KafkaDeadLetters(connection,
                                                  dead_letter_topic(settings), settings.kafka_topic)
        elif event_store is None:
            raise ValueError("without Kafka the projectors need the event store to follow")
        if not settings.kafka_bootstrap:
            assert event_store is not None
            self.vault = event_store.vault
        for projection in self.projections.values():
            projection.vault = self.vault
        self.runners: dict[str, ProjectionRunner] = {}
        for name, projection in self.projections.items():
            self.runners[name] = ProjectionRunner(
                projection, self.store_for(projection), self._source(name),
                dead_letter_sink=self._dead_letters,
            )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def store_for(self, projection: Projection) -> ReadStore:
        store = self.analytics_store if projection.store_kind == "analytics" else self.sql_store
        assert store is not None
        return store

    def _source(self, name: str) -> Source:
        settings = self.settings
        if settings.kafka_bootstrap:
            return KafkaSource(kafka_client_config(settings), settings.kafka_topic,
                               group_id=consumer_group(name, settings.kafka_topic),
                               session_timeout_ms=settings.projector_session_timeout_ms,
                               client_id=f"chronicle-{name}", vault=self.vault)
        assert self.event_store is not None
        source = EventStoreSource(self.event_store)
        self.event_store.saved_listeners.append(lambda _position: source.wake.set())
        return source

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        for name, runner in self.runners.items():
            thread = threading.Thread(target=self._run, args=(runner,), name=f"projector-{name}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, runner: ProjectionRunner) -> None:
        try:
            runner.run(self._stop)
        except Exception:
            log.exception("projector %s stopped", runner.name)

    def catch_up(self) -> int:
        """Apply everything available now, in this thread (tools and tests)."""
        return sum(runner.catch_up() for runner in self.runners.values())

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        for runner in self.runners.values():
            runner.source.close()
        if self._dead_letters is not None:
            self._dead_letters.close()
        for store in self._owned:
            store.close()
        if self._vault_store is not None:
            self._vault_store.close()

    def statuses(self) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for store in {id(s): s for s in (self.sql_store, self.analytics_store) if s}.values():
            counts.update(store.dead_letter_counts())
        out = []
        for name, runner in self.runners.items():
            status = runner.status()
            status["dead_letters"] = counts.get(name, 0)
            status["store"] = runner.store.kind
            out.append(status)
        return out
