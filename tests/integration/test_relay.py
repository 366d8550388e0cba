"""The outbox relay against a real Kafka-protocol broker (and PostgreSQL for the election).

Every published event reaches the topic at least once, in order per customer, as a CloudEvent
whose `data` is valid against the JSON Schema its `dataschema` names; internal events never
do. A crash between the broker's acknowledgement and the recorded position re-publishes, never
skips. Commands go on while the broker is unreachable and the relay catches up. On PostgreSQL
one relay publishes at a time.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from functools import cache
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import psycopg
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.partitioner import murmur2
from pydantic import SecretStr
from referencing import Registry, Resource

from services.command.domain.aggregate import CommandContext
from services.command.relay import Relay
from services.command.relay_positions import POSITION_TABLE, RelayNotActive
from services.command.service import CommandService, Idempotency, NewCustomer
from services.common.cloudevents import CONTENT_TYPE, decode
from services.common.event_store import ChronicleStore, open_event_store
from services.common.events.customer import CustomerPersonal
from services.common.events.envelope import CrmEvent
from services.common.privacy.vault import PersonalDataVault
from services.common.settings import Settings
from tests.harness.services import start_local_kafka
from tests.waiting import eventually

PARTITIONS = 4
# A paused or missing broker fails a batch within about two seconds instead of minutes.
FAST = {"request_timeout_ms": 1000, "delivery_timeout_ms": 2000, "max_block_ms": 2000,
        "bootstrap_timeout_ms": 2000}
CTX = CommandContext(actor="relay-test", tenant_id="default")

pytestmark = pytest.mark.kafka


# -- helpers ----------------------------------------------------------------------------------


def new_topic() -> str:
    return f"relay-{uuid.uuid4().hex[:10]}"


def relay_for(store: ChronicleStore, settings: Settings, topic: str, **options: Any) -> Relay:
    options = {"producer_config": FAST, "max_backoff": 0.5, "poll_interval": 0.05,
               "lock_poll_interval": 0.1, **options}
    return Relay(store, settings, topic=topic, partitions=PARTITIONS, **options)


def register_customers(service: CommandService, count: int) -> list[UUID]:
    """Customers registered with an Idempotency-Key, so the log also holds internal events."""
    return [
        UUID(service.register_customer(
            CTX, NewCustomer(personal=CustomerPersonal(name=f"Customer {n}"), tags=["new"]),
            idempotency=Idempotency(key=f"register-{uuid.uuid4()}", fingerprint="f"),
        ).ids["customer_id"])
        for n in range(count)
    ]


def partition_of(customer_id: UUID) -> int:
    """The partition the relay's producer picks for a customer's events (murmur2 of the key)."""
    return (murmur2(str(customer_id).encode()) & 0x7FFFFFFF) % PARTITIONS


def register_customers_on_several_partitions(service: CommandService, count: int) -> list[UUID]:
    """At least `count` customers, more if needed until their events span two partitions."""
    customers = register_customers(service, count)
    while len({partition_of(customer) for customer in customers}) < 2:
        customers += register_customers(service, 1)
    return customers


def work_on(service: CommandService, customers: list[UUID], round_: int) -> None:
    """One round of everyday commands, interleaved across customers (and so partitions)."""
    for customer_id in customers:
        service.tag_customer(CTX, customer_id, f"round-{round_}")
        lead = service.create_lead(CTX, customer_id=customer_id, new_customer=None,
                                   title=f"Deal {round_}")
        service.change_lead_stage(CTX, UUID(lead.ids["lead_id"]), "contacted")


def stored_events(store: ChronicleStore) -> tuple[list[tuple[int, CrmEvent]], int]:
    """(position, event) of every published event in the store, and the number of internal ones."""
    head = store.recorder.max_notification_id() or 0
    published: list[tuple[int, CrmEvent]] = []
    internal = 0
    for notification in store.recorder.select_notifications(1, head + 1):
        event = cast(CrmEvent, store.mapper.to_domain_event(notification))
        if type(event).internal:
            internal += 1
        else:
            published.append((notification.id, event))
    return published, internal


def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    """Every record on the topic, partition by partition in offset order (no consumer group)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        end = consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []

        def read_to_the_end() -> bool:
            if all(consumer.position(tp) >= end[tp] for tp in partitions):
                return True
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
            return all(consumer.position(tp) >= end[tp] for tp in partitions)

        eventually(read_to_the_end, 30, lambda: f"the topic read to its end offsets {end} "
                   f"({len(records)} records read)", interval_s=0)
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def ids_by_customer(events: list[tuple[int, CrmEvent]]) -> dict[str, list[str]]:
    by_customer: dict[str, list[str]] = defaultdict(list)
    for _, event in events:
        by_customer[str(event.customer_id)].append(str(event.event_id))
    return dict(by_customer)


def first_occurrences(records: list[ConsumerRecord], vault: PersonalDataVault,
                      ) -> list[tuple[int, CrmEvent]]:
    """Decoded records with redeliveries dropped (by event id), as a subscriber dedupes."""
    seen: set[UUID] = set()
    unique = []
    for record in records:
        position, event = decode(record.value, vault)
        if event.event_id not in seen:
            seen.add(event.event_id)
            unique.append((position, event))
    return unique


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               *relays: Relay) -> None:
    """Wait until `condition()`; on failure say `what` did not happen, with the relays' status."""
    eventually(condition, timeout,
               lambda: f"{what} did not happen; relays: {[r.status() for r in relays]}")


def caught_up(relay: Relay) -> bool:
    status = relay.status()
    return status["state"] == "active" and status["lag_events"] == 0


class RelayThreads:
    """Runs relays in background threads, as `crm relay` processes would."""

    def __init__(self) -> None:
        self._started: list[tuple[Relay, threading.Event, threading.Thread]] = []

    def start(self, relay: Relay) -> threading.Event:
        """Start `relay`; setting the returned event stops it."""
        stop = threading.Event()
        thread = threading.Thread(target=relay.run_until_stopped, args=(stop,), name="relay",
                                  daemon=True)
        thread.start()
        self._started.append((relay, stop, thread))
        return stop

    def stop_all(self) -> None:
        """Stop and close every relay (before its store is closed)."""
        while self._started:
            relay, stop, thread = self._started.pop()
            stop.set()
            thread.join(timeout=15)
            relay.close()
            assert not thread.is_alive(), "a relay did not stop"


@pytest.fixture
def relay_threads(closing: ExitStack) -> Iterator[RelayThreads]:
    """Relays stopped when the test ends, before what `closing` closes (their stores)."""
    threads = RelayThreads()
    yield threads
    threads.stop_all()


# -- the contract of each message -------------------------------------------------------------

COMMITTED_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"


@cache
def _schema_registry() -> Registry[Any]:
    """Every committed schema under its `$id`, as an outside consumer builds it: `dataschema`
    is a URN, resolved here rather than fetched."""
    resources = []
    for path in COMMITTED_SCHEMAS.glob("*/*.schema.json"):
        resource = Resource.from_contents(json.loads(path.read_text()))
        resources.append((resource.contents["$id"], resource))
    return Registry().with_resources(resources)


@cache
def _validator(dataschema: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": dataschema}, registry=_schema_registry(),
                                format_checker=FormatChecker())


def assert_valid_against_its_schema(value: bytes) -> None:
    """`data` is valid against the schema its `dataschema` names, found by `$id` among the
    committed schema files and checked with jsonschema alone (no Chronicle code)."""
    cloud_event = json.loads(value)
    errors = [e.message for e in _validator(cloud_event["dataschema"]).iter_errors(cloud_event["data"])]
    assert errors == [], (cloud_event["type"], errors)


# -- (a) commands -> relay -> topic -----------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path, kafka_bootstrap: str) -> Settings:
    if request.param == "postgres":
        return Settings(postgres_url=SecretStr(request.getfixturevalue("postgres_url")),
                        postgres_schema=request.getfixturevalue("fresh_postgres_schema"),
                        postgres_pool_size=2, kafka_bootstrap=kafka_bootstrap)
    return Settings(data_dir=tmp_path, kafka_bootstrap=kafka_bootstrap)


def test_every_published_event_reaches_the_topic_once_in_customer_order(
    settings: Settings, kafka_bootstrap: str, open_commands: Callable[[Settings], CommandService]
) -> None:
    topic = new_topic()
    service = open_commands(settings)
    store = service.store
    customers = register_customers_on_several_partitions(service, 5)
    for round_ in range(2):
        work_on(service, customers, round_)
    published, internal = stored_events(store)
    assert internal == len(customers), "the idempotency records must be in the log for this test"

    relay = relay_for(store, settings, topic, batch_size=7)  # batches end mid-stream
    try:
        assert relay.publish_pending() == len(published)
        assert relay.publish_pending() == 0
        status = relay.status()
    finally:
        relay.close()
    restarted = relay_for(store, settings, topic)
    try:
        assert restarted.publish_pending() == 0, "the recorded position was not kept"
    finally:
        restarted.close()
    head = store.recorder.max_notification_id()
    records = read_topic(kafka_bootstrap, topic)

    assert status["position"] == status["head_position"] == head  # past the internal events
    assert status["lag_events"] == 0 and status["published_events"] == len(published)
    assert status["last_publish_at"] is not None and status["last_error"] is None

    decoded = [decode(record.value, store.vault) for record in records]
    assert sorted(decoded, key=lambda pe: pe[0]) == published  # each exactly once, unchanged
    assert not any(type(event).internal for _, event in decoded)
    assert ids_by_customer(decoded) == ids_by_customer(published)  # per-customer order
    assert len({record.partition for record in records}) > 1
    for record, (_, event) in zip(records, decoded, strict=True):
        assert record.key == str(event.customer_id).encode()
        assert record.partition == partition_of(event.customer_id)
        assert dict(record.headers) == {"content-type": CONTENT_TYPE.encode()}
        assert_valid_against_its_schema(record.value)


def test_the_position_is_a_row_per_topic_in_the_event_store_file(
    tmp_path: Path, kafka_bootstrap: str, open_commands: Callable[[Settings], CommandService]
) -> None:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=kafka_bootstrap)
    service = open_commands(settings)
    store = service.store
    topic = new_topic()
    register_customers(service, 2)
    relay = relay_for(store, settings, topic)
    try:
        relay.publish_pending()
    finally:
        relay.close()
    head = store.recorder.max_notification_id()
    with sqlite3.connect(settings.sqlite_path) as db:
        rows = db.execute(f"SELECT topic, position FROM {POSITION_TABLE}").fetchall()
    assert rows == [(topic, head)]


# -- (b) a crash between acknowledgement and record -------------------------------------------


class SimulatedCrash(Exception):
    pass


class CrashingBeforeRecord(Relay):
    """Dies once after the broker acknowledged a batch, before the position is recorded."""

    crashed = False

    def _record_position(self, position: int) -> None:
        if not self.crashed:
            self.crashed = True
            raise SimulatedCrash(position)
        super()._record_position(position)


def test_a_crash_after_the_acknowledgement_republishes_and_skips_nothing(
    tmp_path: Path, kafka_bootstrap: str, open_commands: Callable[[Settings], CommandService]
) -> None:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=kafka_bootstrap)
    topic = new_topic()
    service = open_commands(settings)
    store = service.store
    customers = register_customers(service, 3)
    first = relay_for(store, settings, topic)
    try:
        first.publish_pending()
        recorded_before_crash = first.position()
    finally:
        first.close()
    before, _ = stored_events(store)
    work_on(service, customers, 0)

    crashing = CrashingBeforeRecord(store, settings, topic=topic, partitions=PARTITIONS,
                                    producer_config=FAST)
    try:
        with pytest.raises(SimulatedCrash):
            crashing.publish_pending()
    finally:
        crashing.close()  # the process is gone; its position was never recorded
    restarted = relay_for(store, settings, topic)
    try:
        assert restarted.position() == recorded_before_crash
        republished = restarted.publish_pending()
        final_position = restarted.position()
    finally:
        restarted.close()
    everything, _ = stored_events(store)
    head = store.recorder.max_notification_id()
    records = read_topic(kafka_bootstrap, topic)

    after = everything[len(before):]
    assert republished == len(after) > 0
    assert final_position == head
    copies = Counter(decode(record.value, store.vault)[1].event_id for record in records)
    assert {event.event_id: copies[event.event_id] for _, event in before} == \
        {event.event_id: 1 for _, event in before}
    assert {event.event_id: copies[event.event_id] for _, event in after} == \
        {event.event_id: 2 for _, event in after}, "the crashed batch must come again, whole"
    values_by_id: dict[UUID, set[bytes]] = defaultdict(set)
    for record in records:
        values_by_id[decode(record.value, store.vault)[1].event_id].add(record.value)
    assert all(len(values) == 1 for values in values_by_id.values()), "a copy differs"
    assert ids_by_customer(first_occurrences(records, store.vault)) == ids_by_customer(everything)


# -- (c) the broker goes away and comes back --------------------------------------------------


def test_commands_succeed_while_the_broker_is_paused_and_the_relay_catches_up(
    tmp_path: Path, closing: ExitStack, open_commands: Callable[[Settings], CommandService],
    relay_threads: RelayThreads,
) -> None:
    # Our own broker: the test pauses it. Tansu keeps data in memory only, so it is paused
    # (SIGSTOP), never killed. It stops last, after the relays.
    broker = closing.enter_context(start_local_kafka())
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=broker.bootstrap)
    topic = new_topic()
    service = open_commands(settings)
    store = service.store
    relay = relay_for(store, settings, topic)
    relay_threads.start(relay)
    customers = register_customers(service, 4)
    wait_until(lambda: caught_up(relay), 30, "the relay published the first events", relay)

    broker.process.send_signal(signal.SIGSTOP)
    try:
        work_on(service, customers, 0)  # raises if any command fails
        # The state goes back to "active" at each new attempt; the error stays until one works.
        wait_until(lambda: relay.status()["last_error"] is not None, 30,
                   "the relay noticed the broker is gone", relay)
        work_on(service, customers, 1)
        assert relay.status()["lag_events"] > 0
    finally:
        broker.process.send_signal(signal.SIGCONT)

    wait_until(lambda: caught_up(relay), 60, "the relay caught up after the outage", relay)
    assert relay.status()["last_error"] is None
    everything, _ = stored_events(store)
    records = read_topic(broker.bootstrap, topic)

    delivered = first_occurrences(records, store.vault)
    assert sorted(delivered, key=lambda pe: pe[0]) == everything  # nothing lost
    assert ids_by_customer(delivered) == ids_by_customer(everything)  # order kept


# -- (d) one active relay per PostgreSQL schema -----------------------------------------------


@pytest.mark.postgres
def test_one_relay_publishes_and_a_standby_takes_over_when_it_stops(
    postgres_url: str, fresh_postgres_schema: str, kafka_bootstrap: str, closing: ExitStack,
    open_commands: Callable[[Settings], CommandService], relay_threads: RelayThreads,
) -> None:
    settings = Settings(postgres_url=SecretStr(postgres_url),
                        postgres_schema=fresh_postgres_schema, postgres_pool_size=2,
                        kafka_bootstrap=kafka_bootstrap)
    topic = new_topic()
    # Three processes' worth of stores: the command side and two relays.
    service = open_commands(settings)
    commands_store = service.store
    store_a, store_b = (open_event_store(settings) for _ in range(2))
    for store in (store_a, store_b):
        closing.callback(store.close)
    relay_a = relay_for(store_a, settings, topic)
    relay_b = relay_for(store_b, settings, topic)
    stop_a = relay_threads.start(relay_a)
    wait_until(lambda: relay_a.status()["state"] == "active", 30, "relay A took the lock",
               relay_a, relay_b)
    relay_threads.start(relay_b)
    wait_until(lambda: relay_b.status()["state"] == "standby", 30, "relay B stood by",
               relay_a, relay_b)
    third = relay_for(store_b, settings, topic)
    try:
        with pytest.raises(RelayNotActive):
            third.publish_pending()
    finally:
        third.close()

    customers = register_customers(service, 3)
    work_on(service, customers, 0)
    wait_until(lambda: caught_up(relay_a), 30, "relay A published everything", relay_a, relay_b)
    published_by_a = relay_a.status()["published_events"]
    assert relay_b.status()["state"] == "standby"
    assert relay_b.status()["published_events"] == 0

    stop_a.set()  # A goes away; closing its connection frees the lock
    wait_until(lambda: relay_a.status()["state"] == "stopped", 30, "relay A stopped",
               relay_a, relay_b)
    relay_a.close()
    work_on(service, customers, 1)
    wait_until(lambda: caught_up(relay_b), 30, "relay B took over and caught up", relay_a, relay_b)

    everything, _ = stored_events(commands_store)
    records = read_topic(kafka_bootstrap, topic)
    assert published_by_a > 0
    assert relay_b.status()["published_events"] == len(everything) - published_by_a

    decoded = [decode(record.value, commands_store.vault) for record in records]
    assert sorted(decoded, key=lambda pe: pe[0]) == everything  # each exactly once
    assert ids_by_customer(decoded) == ids_by_customer(everything)


@pytest.mark.postgres
def test_a_relay_that_loses_its_connection_loses_the_lock_and_nothing_is_lost(
    postgres_url: str, fresh_postgres_schema: str, kafka_bootstrap: str, closing: ExitStack,
    open_commands: Callable[[Settings], CommandService], relay_threads: RelayThreads,
) -> None:
    settings = Settings(postgres_url=SecretStr(postgres_url),
                        postgres_schema=fresh_postgres_schema, postgres_pool_size=2,
                        kafka_bootstrap=kafka_bootstrap)
    topic = new_topic()
    service = open_commands(settings)
    commands_store = service.store
    store_a, store_b = (open_event_store(settings) for _ in range(2))
    for store in (store_a, store_b):
        closing.callback(store.close)
    relay_a = relay_for(store_a, settings, topic)
    relay_b = relay_for(store_b, settings, topic)
    relay_threads.start(relay_a)
    wait_until(lambda: relay_a.status()["state"] == "active", 30, "relay A took the lock",
               relay_a, relay_b)
    relay_threads.start(relay_b)
    wait_until(lambda: relay_b.status()["state"] == "standby", 30, "relay B stood by",
               relay_a, relay_b)
    customers = register_customers(service, 3)
    wait_until(lambda: caught_up(relay_a), 30, "relay A published the first events",
               relay_a, relay_b)

    # The server ends the lock holder's session, as when its process or network dies.
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND a.application_name = %s", (f"chronicle-relay:{topic}",)).fetchall()
    assert ended == [(True,)]
    work_on(service, customers, 0)
    wait_until(lambda: any(caught_up(r) for r in (relay_a, relay_b)), 30,
               "a relay took the lock again and caught up", relay_a, relay_b)
    wait_until(lambda: {relay_a.status()["state"], relay_b.status()["state"]}
               == {"active", "standby"}, 30, "one relay leads and the other stands by",
               relay_a, relay_b)

    everything, _ = stored_events(commands_store)
    records = read_topic(kafka_bootstrap, topic)

    delivered = first_occurrences(records, commands_store.vault)
    assert sorted(delivered, key=lambda pe: pe[0]) == everything
    assert ids_by_customer(delivered) == ids_by_customer(everything)
