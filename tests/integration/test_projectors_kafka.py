"""Projectors on a real Kafka-protocol broker and a real PostgreSQL: offsets kept with the rows,
redelivery and re-published duplicates ignored, dead letters, consumer groups and rebuilds."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any
from uuid import UUID, uuid4

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services.common.cloudevents import encode, partition_key
from services.common.kafka_topics import ensure_topic
from services.common.settings import Settings
from services.projections.host import KafkaDeadLetters
from services.projections.rebuild import rebuild
from services.projections.runner import ProjectionRunner
from services.projections.sources import KafkaSource
from services.projections.stores.sql import SqlReadStore
from tests.contract.projection_runner import TagCounts, tagged
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

PARTITIONS = 4
SESSION_TIMEOUT_MS = 6000  # Tansu completes a group join after about half of it


@pytest.fixture
def topic(kafka_bootstrap: str) -> str:
    name = f"crm.events.test-{uuid4().hex[:10]}"
    ensure_topic(kafka_bootstrap, name, PARTITIONS)
    return name


@pytest.fixture
def producer(kafka_bootstrap: str) -> Iterator[Any]:
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=2)
    yield producer
    producer.close(timeout=5)


@pytest.fixture
def store(postgres_url: str, fresh_postgres_schema: str) -> Iterator[SqlReadStore]:
    store = SqlReadStore(postgres_url=postgres_url, schema=fresh_postgres_schema)
    yield store
    store.close()


class Log:
    """Publishes test events as the relay would: CloudEvents keyed by customer, positions rising."""

    def __init__(self, producer: Any, topic: str) -> None:
        self.producer, self.topic = producer, topic
        self.position = 0
        self.versions: dict[UUID, int] = {}
        self.sent: list[tuple[int, Any]] = []

    def tag(self, customer: UUID, tag: str) -> None:
        self.position += 1
        version = self.versions[customer] = self.versions.get(customer, 0) + 1
        event = tagged(customer, tag, version)
        self.sent.append((self.position, event))
        self.producer.send(self.topic, key=partition_key(event), value=encode(event, self.position))

    def republish(self, first: int, last: int) -> None:
        for position, event in self.sent[first - 1 : last]:
            self.producer.send(self.topic, key=partition_key(event), value=encode(event, position))

    def raw(self, key: bytes, value: bytes) -> None:
        self.producer.send(self.topic, key=key, value=value)

    def flush(self) -> None:
        self.producer.flush(timeout=30)


GroupRunner = Callable[..., ProjectionRunner]
"""(bootstrap, topic, store, group, **runner options) -> a runner in that consumer group."""


@pytest.fixture
def group_runner() -> Iterator[GroupRunner]:
    """Makes runners of TagCounts in a consumer group; their consumers leave the group when
    the test ends, however it ends."""
    made: list[ProjectionRunner] = []

    def make(bootstrap: str, topic: str, store: SqlReadStore, group: str,
             **kwargs: Any) -> ProjectionRunner:
        source = KafkaSource(bootstrap, topic, group_id=group,
                             session_timeout_ms=SESSION_TIMEOUT_MS)
        made.append(ProjectionRunner(TagCounts(), store, source, **kwargs))
        return made[-1]

    yield make
    for runner in made:
        runner.source.close()


def drive(runners: list[ProjectionRunner], done: Callable[[], bool], what: str,
          timeout: float = 60) -> None:
    """Run the runners in turn (each poll waits up to 0.2 s) until `done()`."""

    def driven() -> bool:
        if done():
            return True
        for runner in runners:
            runner.run_once(timeout_s=0.2)
        return done()

    eventually(driven, timeout, lambda: f"{what}: {[r.status() for r in runners]}",
               interval_s=0)


def counts(store: SqlReadStore) -> dict[str, int]:
    return {row["id"]: int(row["tags"]) for row in store.query("SELECT id, tags FROM tag_counts")}


def total(store: SqlReadStore) -> int:
    return sum(counts(store).values())


def test_group_projector_applies_every_event_once_and_resumes_where_it_stopped(
    kafka_bootstrap: str, topic: str, producer: Any, store: SqlReadStore,
    group_runner: GroupRunner,
) -> None:
    log = Log(producer, topic)
    customers = [uuid4() for _ in range(8)]
    for n in range(40):
        log.tag(customers[n % 8], f"t{n}")
    log.flush()
    group = f"g-{uuid4().hex[:8]}"
    first = group_runner(kafka_bootstrap, topic, store, group)
    drive([first], lambda: total(store) == 40, "the first runner applied the first 40 events")
    first.source.close()  # the process stops; the next one resumes from the stored offsets
    for n in range(40, 50):
        log.tag(customers[n % 8], f"t{n}")
    log.flush()
    second = group_runner(kafka_bootstrap, topic, store, group)
    drive([second], lambda: total(store) == 50, "the second runner applied the 10 new events")
    assert second.catch_up(max_idle_polls=3) == 0  # the topic is drained: nothing more comes
    assert second.stats.applied == 10  # nothing before the stored offsets again
    assert counts(store) == {str(c): 50 // 8 + (1 if i < 50 % 8 else 0)
                             for i, c in enumerate(customers)}
    assert sum(second.status()["partitions"][p]["offset"] + 1
               for p in second.status()["partitions"]) == 50


def test_events_published_twice_by_the_relay_are_applied_once(
    kafka_bootstrap: str, topic: str, producer: Any, store: SqlReadStore,
    group_runner: GroupRunner,
) -> None:
    log = Log(producer, topic)
    customer = uuid4()
    for n in range(1, 6):
        log.tag(customer, f"t{n}")
    log.republish(3, 5)  # a relay that died after publishing 3..5 and before recording it
    log.tag(customer, "t6")
    log.flush()
    runner = group_runner(kafka_bootstrap, topic, store, f"g-{uuid4().hex[:8]}")
    drive([runner], lambda: runner.stats.applied + runner.stats.skipped == 9,
          "the runner consumed all 9 records")
    assert counts(store) == {str(customer): 6}
    assert runner.stats.skipped == 3


def test_a_crash_between_applying_and_committing_applies_the_batch_once_on_resume(
    kafka_bootstrap: str, topic: str, producer: Any, store: SqlReadStore,
    group_runner: GroupRunner,
) -> None:
    log = Log(producer, topic)
    customer = uuid4()
    for n in range(1, 5):
        log.tag(customer, f"t{n}")
    log.tag(customer, "poison")
    log.flush()
    crashed: list[int] = []

    def crash_once(letters: Any) -> None:  # inside the transaction, after the row writes
        if not crashed:
            crashed.append(1)
            raise ConnectionError("killed before commit")

    runner = group_runner(kafka_bootstrap, topic, store, f"g-{uuid4().hex[:8]}",
                          dead_letter_sink=crash_once)

    def crashed_in_a_batch() -> bool:
        try:
            runner.run_once(timeout_s=0.2)
        except ConnectionError:
            pass
        return bool(crashed)

    eventually(crashed_in_a_batch, 60, lambda: f"no batch reached the crash: {runner.status()}",
               interval_s=0)
    assert counts(store) == {}  # the transaction did not commit
    drive([runner], lambda: total(store) == 4, "the resumed runner applied the 4 good events")
    assert runner.catch_up(max_idle_polls=3) == 0  # drained: nothing applied a second time
    assert counts(store) == {str(customer): 4}
    assert store.dead_letter_counts() == {"tag_counts": 1}


def test_poison_messages_go_to_the_dead_letter_topic_and_the_next_events_apply(
    kafka_bootstrap: str, topic: str, producer: Any, store: SqlReadStore,
    group_runner: GroupRunner, closing: ExitStack,
) -> None:
    log = Log(producer, topic)
    customer = uuid4()
    key = str(customer).encode()
    log.tag(customer, "before")
    log.raw(key, b"{not json")
    log.tag(customer, "poison")
    log.tag(customer, "after")
    log.flush()
    dead_letters = KafkaDeadLetters(kafka_bootstrap, f"{topic}.dlq", topic)
    runner = group_runner(kafka_bootstrap, topic, store, f"g-{uuid4().hex[:8]}",
                          dead_letter_sink=dead_letters)
    try:
        drive([runner], lambda: total(store) == 2 and runner.stats.dead_letters == 2,
              "two events applied and two dead letters sent")
    finally:
        dead_letters.close()
    assert counts(store) == {str(customer): 2}

    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None,
                             enable_auto_commit=False)
    closing.callback(consumer.close)
    dlq = TopicPartition(f"{topic}.dlq", 0)
    consumer.assign([dlq])
    consumer.seek_to_beginning(dlq)
    end = consumer.end_offsets([dlq])[dlq]
    messages: list[Any] = []

    def read_to_the_end() -> bool:
        for batch in consumer.poll(timeout_ms=200).values():
            messages.extend(batch)
        return bool(consumer.position(dlq) >= end)

    eventually(read_to_the_end, 30, lambda: f"the dead-letter topic read to its end offset "
               f"{end} ({len(messages)} read)", interval_s=0)
    assert len(messages) == 2
    headers = [dict(m.headers) for m in messages]
    assert {h["source-offset"] for h in headers} == {b"1", b"2"}
    assert all(h["source-topic"] == topic.encode() for h in headers)
    errors = sorted(h["error"].decode() for h in headers)
    # The failure's type and code, never its message (it may quote the event's values).
    assert any(e.startswith("ValueError: [message withheld") for e in errors), errors
    assert any("not JSON" in e for e in errors)
    assert messages[0].value == b"{not json" or messages[1].value == b"{not json"


def test_two_instances_in_one_group_split_the_partitions_and_apply_each_event_once(
    kafka_bootstrap: str, topic: str, producer: Any, postgres_url: str,
    fresh_postgres_schema: str, group_runner: GroupRunner, closing: ExitStack,
) -> None:
    log = Log(producer, topic)
    customers = [uuid4() for _ in range(16)]
    for n in range(160):
        log.tag(customers[n % 16], f"t{n}")
    log.flush()
    group = f"g-{uuid4().hex[:8]}"
    stores = [SqlReadStore(postgres_url=postgres_url, schema=fresh_postgres_schema)
              for _ in range(2)]
    for s in stores:
        closing.callback(s.close)
    runners = [group_runner(kafka_bootstrap, topic, s, group, batch_size=10) for s in stores]
    stop = threading.Event()
    assigned: list[set[int]] = [set(), set()]

    def work(index: int) -> None:
        runner = runners[index]
        while not stop.is_set():
            runner.run_once(timeout_s=0.2)
            assigned[index] |= set(runner.source.assigned_partitions())  # type: ignore[attr-defined]

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    try:
        eventually(lambda: total(stores[0]) >= 160 and all(assigned), 90,
                   lambda: f"both instances got partitions and applied 160 events: "
                   f"{total(stores[0])} applied, partitions {assigned}", interval_s=0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "an instance did not stop"
    # No thread applies anything any more: what follows is the final state. Each runner reads
    # its partitions to their end once more, so a record still to come would be applied now.
    assert [runner.catch_up(max_idle_polls=3) for runner in runners] == [0, 0]
    assert all(assigned), assigned
    assert sum(r.stats.applied for r in runners) == 160  # each event once, across both
    assert counts(stores[0]) == {str(c): 10 for c in customers}
    progress = stores[0].all_progress("tag_counts", runners[0].generation)
    assert sum(p.offset + 1 for p in progress.values()) == 160  # every record consumed once


def test_a_rebuild_from_the_topic_equals_the_live_read_model(
    kafka_bootstrap: str, topic: str, producer: Any, store: SqlReadStore, postgres_url: str,
    fresh_postgres_schema: str, group_runner: GroupRunner,
) -> None:
    log = Log(producer, topic)
    customers = [uuid4() for _ in range(5)]
    for n in range(60):
        log.tag(customers[n % 5], f"t{n}")
    log.flush()
    live = group_runner(kafka_bootstrap, topic, store, f"g-{uuid4().hex[:8]}")
    drive([live], lambda: total(store) == 60, "the live runner applied 60 events")
    live_rows = sorted(store.query("SELECT * FROM tag_counts"), key=lambda r: r["id"])
    settings = Settings(kafka_bootstrap=kafka_bootstrap, kafka_topic=topic,
                        postgres_url=postgres_url, postgres_schema=fresh_postgres_schema)
    rebuild_store = SqlReadStore(postgres_url=postgres_url, schema=fresh_postgres_schema)
    try:
        result = rebuild(TagCounts(), rebuild_store, settings, source="topic")
    finally:
        rebuild_store.close()
    assert (result.generation, result.previous_generation, result.events) == (2, 1, 60)
    rebuilt_rows = sorted(store.query("SELECT * FROM tag_counts"), key=lambda r: r["id"])
    assert rebuilt_rows == live_rows
    log.tag(customers[0], "after-rebuild")
    log.flush()
    drive([live], lambda: total(store) == 61,  # the live runner moved to generation 2
          "the live runner applied the event after the rebuild")
    assert live.generation == 2


def test_projectors_started_before_the_relay_create_the_topic_so_their_groups_get_partitions(
    kafka_bootstrap: str, tmp_path: Any
) -> None:
    """Regression: groups that joined before the relay created the topic were handed no
    partitions and waited for the client's next metadata refresh (minutes)."""
    from services.projections.host import ProjectorHost

    topic = f"crm.events.fresh-{uuid4().hex[:8]}"
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=kafka_bootstrap, kafka_topic=topic,
                        kafka_partitions=3, projector_session_timeout_ms=SESSION_TIMEOUT_MS)
    host = ProjectorHost(settings, ["service"])
    try:
        runner = host.runners["service"]
        source = runner.source
        assert isinstance(source, KafkaSource)

        def assigned() -> list[int]:
            runner.run_once(timeout_s=0.2)
            return source.assigned_partitions()

        assert eventually(assigned, 60, "the group was handed partitions of the new topic",
                          interval_s=0) == [0, 1, 2]
    finally:
        host.stop()
