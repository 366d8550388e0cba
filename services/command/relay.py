"""The outbox relay: publishes the event store's notification log to Kafka, at least once.

The event store is the source of truth and its notification log is the outbox: commands only
append events, and this relay follows the log after the last position it recorded, sends every
published event (key = customer id, value = a CloudEvent) and waits for the broker to
acknowledge the whole batch before recording the new position. A crash between the two steps
therefore re-publishes a batch, never skips one; subscribers dedupe by event id or position.

The position is "last notification id seen", not "next id expected": ids on PostgreSQL come
from a sequence and a failed insert leaves a permanent gap. Internal events are not published,
but the position moves past them.

Where the position lives: table `chronicle_relay_position` (one row per topic) in the event
store's own database. On PostgreSQL one relay is active per schema and topic: it holds a
session-level advisory lock on a dedicated connection and writes its position through that
same connection, so a relay that lost its connection (and with it the lock) cannot record
anything; the others poll `pg_try_advisory_lock` and take over. On SQLite the embedded server
runs a single relay.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
from eventsourcing.persistence import Notification, PersistenceError
from eventsourcing.utils import resolve_topic
from kafka import KafkaProducer
from kafka.errors import KafkaError

from services.command.relay_positions import RelayNotActive, position_table
from services.common.cloudevents import CONTENT_TYPE, message_of, published_document
from services.common.event_store import ChronicleStore
from services.common.events.envelope import CrmEvent
from services.common.kafka_clients import kafka_client_config
from services.common.kafka_topics import BrokerUnavailable, ensure_topic
from services.common.settings import Settings

log = logging.getLogger("chronicle.relay")

PRODUCER_DEFAULTS: dict[str, Any] = {
    "client_id": "chronicle-relay",
    # The guarantees: every in-sync replica has the batch, and retries neither duplicate nor
    # reorder within a producer session. (kafka-python's defaults; stated so nobody drops them.)
    "acks": "all",
    "enable_idempotence": True,
    # Throughput: a pass sends up to a whole batch asynchronously and flushes once; a short
    # linger merges those sends into few requests. No compression: a Python producer is
    # CPU-bound, not network-bound.
    "linger_ms": 5,
    "batch_size": 512 * 1024,
    "compression_type": None,
    # Bounded waits, so an unreachable broker surfaces as an error the loop backs off from.
    "request_timeout_ms": 15_000,
    "delivery_timeout_ms": 30_000,
    "max_block_ms": 15_000,
    "bootstrap_timeout_ms": 10_000,
}

_HEADERS = [("content-type", CONTENT_TYPE.encode())]
_STANDBY_LOG_EVERY_S = 60.0


class Relay:
    """Publishes the notification log of `store` to a Kafka topic, in order, at least once.

    `publish_pending()` does one pass (everything stored so far) and is what tests call;
    `run_until_stopped(stop)` is the long-running loop of `crm relay`: it waits for leadership,
    follows the log, and backs off exponentially (up to `max_backoff` seconds) while the broker
    or the database is unreachable, then resumes from the recorded position.
    """

    def __init__(
        self,
        store: ChronicleStore,
        settings: Settings,
        *,
        topic: str | None = None,
        partitions: int | None = None,
        batch_size: int = 1000,
        producer_config: Mapping[str, Any] | None = None,
        poll_interval: float = 0.2,
        lock_poll_interval: float = 1.0,
        max_backoff: float = 5.0,
    ) -> None:
        if not settings.kafka_bootstrap:
            raise ValueError("no Kafka bootstrap configured: set CRM_KAFKA_BOOTSTRAP")
        self.topic = topic or settings.kafka_topic
        self.partitions = partitions or settings.kafka_partitions
        self._store = store
        self._batch_size = batch_size
        self._connection = kafka_client_config(settings)
        self._producer_config = {**PRODUCER_DEFAULTS, **(producer_config or {}),
                                 **self._connection}
        self._flush_timeout = self._producer_config["delivery_timeout_ms"] / 1000 + 5
        self._poll_interval = poll_interval
        self._lock_poll_interval = lock_poll_interval
        self._max_backoff = max_backoff
        self._positions = position_table(store, settings, self.topic)
        self._producer: KafkaProducer | None = None
        self._position: int | None = None
        """The recorded position while this relay leads; None when it must (re)load it."""
        self._event_classes: dict[str, type[CrmEvent]] = {}
        self._state = "idle"
        self._published = 0
        self._published_through: tuple[int, dict[int, int]] = (0, {})
        self._last_publish_at: datetime | None = None
        self._last_error: str | None = None
        # Saves in this process wake the loop at once; other writers are found by polling.
        self._wakeup = threading.Event()
        self._listeners: list[Any] | None = getattr(store, "saved_listeners", None)
        if self._listeners is not None:
            self._listeners.append(self._on_saved)

    # -- public ----------------------------------------------------------------------------

    def publish_pending(self) -> int:
        """Publish everything stored so far, batch by batch; return how many events were sent.

        Raises RelayNotActive when another relay holds the lock, and any broker or database
        error as it is (nothing is recorded for a batch that failed).
        """
        if not self._lead():
            raise RelayNotActive(f"another relay is publishing to {self.topic}")
        total = 0
        while True:
            published, caught_up = self._publish_batch()
            total += published
            if caught_up:
                return total

    def run_until_stopped(self, stop: threading.Event) -> None:
        """Follow the log until `stop` is set; then give up the lock for another relay."""
        backoff = min(0.1, self._max_backoff)
        last_standby_log = float("-inf")
        try:
            while not stop.is_set():
                try:
                    if not self._lead():
                        if time.monotonic() - last_standby_log >= _STANDBY_LOG_EVERY_S:
                            log.info("another relay is publishing to %s; standing by and "
                                     "retrying the lock every %.1fs", self.topic,
                                     self._lock_poll_interval)
                            last_standby_log = time.monotonic()
                        stop.wait(self._lock_poll_interval)
                        continue
                    _, caught_up = self._publish_batch()
                except Exception as exc:
                    # Not "log and carry on": nothing is skipped. The batch is retried from the
                    # recorded position once the broker or database answers again.
                    self._recover(exc, backoff)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                backoff = min(0.1, self._max_backoff)
                if caught_up:
                    self._wakeup.wait(self._poll_interval)
                    self._wakeup.clear()
        finally:
            self._step_down()

    def published_through(self) -> tuple[int, dict[int, int]]:
        """(position, {partition: last offset}) this relay had acknowledged when it last
        recorded its position: every event up to that position is at or below those offsets.
        Partitions it has not published to since it started are absent."""
        return self._published_through

    def position(self) -> int:
        """The last notification id whose event (if published) the broker acknowledged."""
        if self._position is not None:
            return self._position
        return self._positions.load()

    def status(self) -> dict[str, Any]:
        """What an operator asks: how far the relay is, how far behind, and is it healthy.

        `lag_events` counts notification ids after the position, so it includes internal
        events and id gaps: an upper bound of the events still to publish.
        """
        head: int | None = None
        position: int | None = None
        try:
            head = self._store.recorder.max_notification_id() or 0
            position = self.position()
        except Exception as exc:  # the database is down: report it instead of failing
            self._last_error = f"{type(exc).__name__}: {exc}"
        return {
            "topic": self.topic,
            "state": self._state,
            "position": position,
            "head_position": head,
            "lag_events": None if position is None or head is None else max(0, head - position),
            "published_events": self._published,
            "last_publish_at": self._last_publish_at.isoformat() if self._last_publish_at
            else None,
            "last_error": self._last_error,
        }

    def close(self) -> None:
        """Give up the lock and close the producer and the relay's own connection."""
        self._step_down()
        if self._listeners is not None and self._on_saved in self._listeners:
            self._listeners.remove(self._on_saved)
        self._positions.close()
        self._state = "closed"

    # -- one pass ----------------------------------------------------------------------------

    def _lead(self) -> bool:
        """Whether this relay may publish now; (re)loads the recorded position when it starts."""
        if not self._positions.try_lead():
            self._position = None
            self._state = "standby"
            return False
        if self._position is None:
            self._position = self._positions.load()
            self._state = "active"
            log.info("publishing to %s from recorded position %d", self.topic, self._position)
        return True

    def _publish_batch(self) -> tuple[int, bool]:
        """Send the next batch, wait for every acknowledgement, then record the position.

        Returns (events published, whether the log was read to its end).
        """
        assert self._position is not None
        notifications = self._store.recorder.select_notifications(
            self._position, self._batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0, True
        producer = self._connected_producer()
        futures = []
        mapper = self._store.mapper
        for notification in notifications:
            cls = self._event_class(notification)
            if cls.internal:
                continue
            # Stored JSON goes to the wire without a round trip through the model when it can
            # (the live stream, services/query/stream.py, sends the same document).
            key, value = message_of(published_document(cls, notification, mapper,
                                                       self._store.vault))
            futures.append(producer.send(self.topic, value=value, key=key, headers=_HEADERS))
        offsets = dict(self._published_through[1])
        if futures:
            producer.flush(timeout=self._flush_timeout)
            for future in futures:
                sent = future.get(timeout=0)  # raises the delivery error of a failed send
                offsets[sent.partition] = max(offsets.get(sent.partition, -1), sent.offset)
        last_seen = notifications[-1].id
        self._record_position(last_seen)
        self._position = last_seen
        self._published_through = (last_seen, offsets)
        if futures:
            self._published += len(futures)
            self._last_publish_at = datetime.now(UTC)
        self._last_error = None
        self._state = "active"
        return len(futures), len(notifications) < self._batch_size

    def _record_position(self, position: int) -> None:
        self._positions.record(position)

    def _event_class(self, notification: Notification) -> type[CrmEvent]:
        cls = self._event_classes.get(notification.topic)
        if cls is None:
            cls = self._event_classes[notification.topic] = resolve_topic(notification.topic)
        return cls

    def _connected_producer(self) -> KafkaProducer:
        if self._producer is None:
            # Every new producer re-checks the topic: a broker that lost it (or a new cluster)
            # gets it back with the right partitions and retention, not auto-created defaults.
            ensure_topic(self._connection, self.topic, self.partitions,
                         timeout_ms=self._producer_config["bootstrap_timeout_ms"])
            self._producer = KafkaProducer(**self._producer_config)
        return self._producer

    # -- failure and shutdown ----------------------------------------------------------------

    def _recover(self, exc: Exception, retry_in: float) -> None:
        """Drop the producer (aborting whatever it still holds) and forget the position, so the
        next attempt starts from the recorded one with a fresh producer, in order."""
        self._last_error = f"{type(exc).__name__}: {exc}"
        self._state = "retrying"
        log.warning("relay to %s failed at position %s (%s); retrying in %.1fs", self.topic,
                    self._position, self._last_error, retry_in,
                    exc_info=not _expected_outage(exc))
        self._close_producer(timeout=0)
        self._position = None

    def _step_down(self) -> None:
        self._close_producer(timeout=5)
        if self._position is not None:
            log.info("relay stopping at position %d of %s", self._position, self.topic)
        self._position = None
        try:
            self._positions.step_down()
        except Exception as exc:  # closing anyway; the lock goes with the connection
            log.warning("could not release the relay lock cleanly: %s", exc)
        self._state = "stopped"

    def _close_producer(self, timeout: float) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=timeout)
            except Exception as exc:  # an already broken producer: nothing left to save
                log.debug("closing the producer failed: %s", exc)

    def _on_saved(self, position: int) -> None:
        self._wakeup.set()


def _expected_outage(exc: Exception) -> bool:
    """Broker or database unreachable: worth a one-line warning, not a traceback."""
    return isinstance(exc, (KafkaError, BrokerUnavailable, psycopg.OperationalError,
                            PersistenceError))
