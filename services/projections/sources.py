"""Where projectors read events from: the Kafka topic, or the event store's notification log.

Both yield `SourceRecord`s addressed by (partition, offset). On Kafka these are the topic's
partitions and offsets; the notification log is one partition whose offsets are the global
positions. A runner stores the last applied offset per partition with its rows and seeks back
to it after a restart, a rebalance or a failed batch.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from services.common.event_store import ChronicleStore
from services.common.events.envelope import CrmEvent
from services.common.kafka_clients import KafkaConnection, client_config
from services.common.privacy.vault import PersonalDataVault

log = logging.getLogger("chronicle.projections")


@dataclass(frozen=True)
class SourceRecord:
    partition: int
    offset: int
    position: int | None
    event: CrmEvent | None
    error: str | None = None
    """Why the record could not be decoded; it goes to the dead letters."""
    payload: bytes | None = None
    bookkeeping: bool = False
    """Not for projections (an internal event of the store): progress moves past it."""


class Source(ABC):
    @abstractmethod
    def poll(self, max_records: int, timeout_s: float) -> list[SourceRecord]:
        """The next records (possibly none after waiting up to `timeout_s`)."""

    @abstractmethod
    def seek(self, next_offsets: dict[int, int]) -> None:
        """Continue each named partition at this offset; others at their beginning."""

    @abstractmethod
    def lag(self, applied_offsets: dict[int, int]) -> int | None:
        """Events published but not yet applied, if known."""

    def bind(self, stored_offsets: Callable[[], dict[int, int]]) -> None:
        """Tell the source how to read the runner's stored next offsets (on assignment)."""
        return None

    @abstractmethod
    def reached(self, position: int, progress: Mapping[int, Any]) -> bool:
        """Whether applying up to `progress` (partition → Progress) covers `position`, given
        that the event at `position` has been published to this source."""

    def close(self) -> None:
        return None


class EventStoreSource(Source):
    """The notification log as a one-partition topic: offset = global position.

    Used by the embedded mode in place of Kafka (the log is durable, so nothing is relayed
    into memory), and to rebuild a read model from the store itself.
    """

    def __init__(self, store: ChronicleStore, wake: threading.Event | None = None) -> None:
        self._store = store
        self._next = 1
        self._wake = wake or threading.Event()

    @property
    def wake(self) -> threading.Event:
        """Set it after writing events to end a waiting poll early."""
        return self._wake

    def seek(self, next_offsets: dict[int, int]) -> None:
        self._next = max(1, next_offsets.get(0, 1))

    def poll(self, max_records: int, timeout_s: float) -> list[SourceRecord]:
        records = self._read(max_records)
        if not records and timeout_s > 0:
            self._wake.wait(timeout_s)
            self._wake.clear()
            records = self._read(max_records)
        return records

    def _read(self, max_records: int) -> list[SourceRecord]:
        recorder = self._store.recorder
        mapper = self._store.mapper
        out: list[SourceRecord] = []
        while not out:
            notifications = recorder.select_notifications(start=self._next, limit=max_records)
            if not notifications:
                return out
            for notification in notifications:
                event = cast(CrmEvent, mapper.to_domain_event(notification))
                # An internal event still counts as reached, so a command whose last event is
                # internal (an idempotency record) can be waited for by its position.
                out.append(SourceRecord(0, notification.id, notification.id, event,
                                        bookkeeping=type(event).internal))
            self._next = notifications[-1].id + 1
        return out

    def head(self) -> int:
        return self._store.recorder.max_notification_id() or 0

    def reached(self, position: int, progress: Mapping[int, Any]) -> bool:
        applied = progress.get(0)
        return applied is not None and applied.position >= position

    def lag(self, applied_offsets: dict[int, int]) -> int | None:
        # Positions have gaps (burnt ids on PostgreSQL), so this is an upper bound.
        return max(0, self.head() - applied_offsets.get(0, 0))


class KafkaSource(Source):
    """The topic, read by a consumer group (live) or by assignment of every partition (rebuild).

    The group never commits offsets to Kafka: the runner keeps them with its rows, and on every
    assignment `stored_offsets()` tells where to continue.
    """

    def __init__(
        self, connection: KafkaConnection, topic: str, *, group_id: str | None,
        session_timeout_ms: int = 10_000, client_id: str = "chronicle-projector",
        vault: PersonalDataVault | None = None,
    ) -> None:
        """`connection`: a bootstrap address or `kafka_client_config(settings)`. `vault` opens
        the sealed `personal` objects (without one they read as null)."""
        from kafka import KafkaConsumer

        self.topic = topic
        self._vault = vault
        self._group_id = group_id
        self._stored_offsets: Callable[[], dict[int, int]] = dict
        self._started = False
        self._consumer: Any = KafkaConsumer(
            **client_config(connection), group_id=group_id, client_id=client_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(500, session_timeout_ms // 5),
            max_poll_interval_ms=300_000, fetch_max_wait_ms=200,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            metadata_max_age_ms=30_000,  # new partitions are noticed within half a minute
        )

    def bind(self, stored_offsets: Callable[[], dict[int, int]]) -> None:
        self._stored_offsets = stored_offsets

    def _start(self) -> None:
        if self._group_id is None:
            self._assign_all()
        else:
            self._consumer.subscribe([self.topic], listener=_SeekOnAssign(self))
        self._started = True

    def _assign_all(self) -> None:
        from kafka import TopicPartition

        partitions = None
        for _ in range(100):
            partitions = self._consumer.partitions_for_topic(self.topic)
            if partitions:
                break
            threading.Event().wait(0.1)
        if not partitions:
            raise RuntimeError(f"topic {self.topic} not found")
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._consumer.assign(assigned)
        self._seek_to_stored(assigned)

    def _seek_to_stored(self, assigned: Any) -> None:
        stored = self._stored_offsets()
        for tp in assigned:
            if tp.partition in stored:
                self._consumer.seek(tp, stored[tp.partition])
            else:
                self._consumer.seek_to_beginning(tp)

    def assigned_partitions(self) -> list[int]:
        return sorted(tp.partition for tp in self._consumer.assignment())

    def seek(self, next_offsets: dict[int, int]) -> None:
        if self._started:
            self._seek_to_stored(list(self._consumer.assignment()))

    def poll(self, max_records: int, timeout_s: float) -> list[SourceRecord]:
        from services.common.cloudevents import InvalidCloudEvent, decode

        if not self._started:
            self._start()
        batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        records: list[SourceRecord] = []
        for tp, messages in batches.items():
            for message in messages:
                try:
                    position, event = decode(message.value, self._vault)
                except InvalidCloudEvent as exc:
                    records.append(SourceRecord(tp.partition, message.offset, None, None,
                                                error=f"undecodable: {exc}", payload=message.value))
                    continue
                records.append(SourceRecord(tp.partition, message.offset, position, event,
                                            payload=message.value))
        return records

    def reached(self, position: int, progress: Mapping[int, Any]) -> bool:
        assignment = list(self._consumer.assignment()) if self._started else []
        if not assignment:
            return False
        for tp in assignment:
            applied = progress.get(tp.partition)
            if applied is not None and applied.position >= position:
                continue
            high = self._consumer.highwater(tp)
            if high is None or high > (applied.offset + 1 if applied is not None else 0):
                return False
        return True

    def lag(self, applied_offsets: dict[int, int]) -> int | None:
        total = 0
        known = False
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            known = True
            total += max(0, high - (applied_offsets.get(tp.partition, -1) + 1))
        return total if known else None

    def close(self) -> None:
        self._consumer.close()


def _rebalance_listener_base() -> type:
    from kafka import ConsumerRebalanceListener

    return ConsumerRebalanceListener  # type: ignore[no-any-return]


class _SeekOnAssign(_rebalance_listener_base()):  # type: ignore[misc]
    """Runs on the consumer's IO loop: only a quick read of the stored offsets and seeks."""

    def __init__(self, source: KafkaSource) -> None:
        self._source = source

    def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("assigned partitions %s of %s", sorted(tp.partition for tp in assigned),
                 self._source.topic)
        self._source._seek_to_stored(list(assigned))
