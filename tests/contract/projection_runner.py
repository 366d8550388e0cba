"""The projection runner's guarantees, written once and run against every read-model store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.common.events.catalog import PUBLISHED_EVENT_CLASSES
from services.common.events.customer import CustomerTagged
from services.projections.model import Projection, Rows, Table, handler
from services.projections.runner import ProjectionRunner, ProjectionStopped
from services.projections.sources import Source, SourceRecord
from services.projections.stores.base import DeadLetter, ReadStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


COUNTS = Table("tag_counts", {"id": "text", "tags": "int", "last_tag": "text", "seen": "json",
                              "last_at": "ts"})


class TagCounts(Projection):
    """Counts tags per customer; a tag named `poison` makes it fail after a first write."""

    name = "tag_counts"
    tables = (COUNTS, Table("tag_audit", {"id": "text", "customer_id": "text", "tag": "text"}))
    ignored = frozenset(PUBLISHED_EVENT_CLASSES) - {CustomerTagged}

    @handler(reads=[COUNTS.row("customer_id")])
    def tagged(self, rows: Rows, event: CustomerTagged, position: int) -> None:
        rows.put("tag_audit", {"id": str(event.event_id), "customer_id": str(event.customer_id),
                               "tag": event.tag})
        if event.tag == "poison":
            raise ValueError(f"cannot apply the tag {event.tag!r} of {event.customer_id}")
        row = rows.get("tag_counts", str(event.customer_id)) or {"tags": 0, "seen": []}
        rows.put("tag_counts", {"id": str(event.customer_id), "tags": row["tags"] + 1,
                                "last_tag": event.tag, "seen": [*row["seen"], event.tag],
                                "last_at": event.occurred_at.isoformat()})


def tagged(customer: UUID, tag: str, version: int) -> CustomerTagged:
    return CustomerTagged(
        event_id=uuid4(), aggregate_id=customer, aggregate_version=version, customer_id=customer,
        tenant_id="default", actor="test", occurred_at=T0 + timedelta(minutes=version),
        recorded_at=T0 + timedelta(minutes=version), correlation_id=uuid4(), tag=tag)


class ListSource(Source):
    """An in-memory partitioned log: the runner's contract does not depend on Kafka."""

    def __init__(self) -> None:
        self.partitions: dict[int, list[SourceRecord]] = {}
        self.next: dict[int, int] = {}

    def append(self, partition: int, position: int, event: Any) -> SourceRecord:
        log = self.partitions.setdefault(partition, [])
        record = SourceRecord(partition, len(log), position, event)
        log.append(record)
        return record

    def seek(self, next_offsets: dict[int, int]) -> None:
        self.next = {p: next_offsets.get(p, 0) for p in self.partitions}

    def poll(self, max_records: int, timeout_s: float) -> list[SourceRecord]:
        out: list[SourceRecord] = []
        for partition, log in self.partitions.items():
            start = self.next.get(partition, 0)
            taken = log[start : start + max_records - len(out)]
            out.extend(taken)
            self.next[partition] = start + len(taken)
        return out

    def lag(self, applied_offsets: dict[int, int]) -> int | None:
        return sum(len(log) - applied_offsets.get(p, -1) - 1 for p, log in self.partitions.items())

    def reached(self, position: int, progress: Any) -> bool:
        return all(
            (p in progress and progress[p].position >= position)
            or len(log) == (progress[p].offset + 1 if p in progress else 0)
            for p, log in self.partitions.items())


class ProjectionRunnerContract:
    @pytest.fixture
    def store(self) -> Iterator[ReadStore]:
        raise NotImplementedError

    def counts(self, store: ReadStore) -> dict[str, int]:
        return {row["id"]: int(row["tags"]) for row in store.query("SELECT id, tags FROM tag_counts")}

    def test_each_event_applied_once_and_a_new_runner_resumes_after_it(self, store: ReadStore) -> None:
        source = ListSource()
        a, b = uuid4(), uuid4()
        for n in range(1, 6):
            source.append(n % 2, n, tagged(a if n % 2 else b, f"t{n}", n))
        runner = ProjectionRunner(TagCounts(), store, source, batch_size=2)
        assert runner.catch_up(timeout_s=0) == 5
        assert self.counts(store) == {str(a): 3, str(b): 2}
        source.append(0, 6, tagged(b, "t6", 6))
        again = ProjectionRunner(TagCounts(), store, source)
        assert again.catch_up(timeout_s=0) == 1  # only the new one
        assert self.counts(store) == {str(a): 3, str(b): 3}
        assert again.status()["partitions"] == {0: {"offset": 2, "position": 6},
                                                1: {"offset": 2, "position": 5}}

    def test_waiting_for_a_position_returns_once_a_batch_covers_it(self, store: ReadStore) -> None:
        source = ListSource()
        a, b = uuid4(), uuid4()
        source.append(0, 1, tagged(a, "t1", 1))
        source.append(1, 2, tagged(b, "t2", 1))
        runner = ProjectionRunner(TagCounts(), store, source, batch_size=1)
        assert not runner.wait_until(1, timeout_s=0.01)
        applier = threading.Thread(target=lambda: [runner.run_once(0) for _ in range(3)],
                                   daemon=True)
        applier.start()
        assert runner.wait_until(2, timeout_s=10)
        applier.join(timeout=10)
        assert not applier.is_alive(), "three batches of one record were not applied"
        assert runner.has_reached(2) and not runner.has_reached(2, published_through=(1, {}))
        assert runner.has_reached(2, published_through=(2, {0: 0, 1: 0}))
        assert not runner.has_reached(2, published_through=(2, {0: 1, 1: 0}))
        assert self.counts(store) == {str(a): 1, str(b): 1}

    def test_redelivered_records_are_skipped(self, store: ReadStore) -> None:
        source = ListSource()
        a = uuid4()
        records = [source.append(0, n, tagged(a, f"t{n}", n)) for n in range(1, 4)]
        runner = ProjectionRunner(TagCounts(), store, source)
        assert runner.apply(records) == 3
        assert runner.apply(records) == 0
        assert runner.apply(records[1:]) == 0
        assert self.counts(store) == {str(a): 3}

    def test_events_published_twice_are_recognised_by_position(self, store: ReadStore) -> None:
        source = ListSource()
        a = uuid4()
        events = [tagged(a, f"t{n}", n) for n in range(1, 4)]
        for n, event in enumerate(events, start=1):
            source.append(0, n, event)
        for n, event in enumerate(events[1:], start=2):  # the relay re-published 2 and 3
            source.append(0, n, event)
        source.append(0, 4, tagged(a, "t4", 4))
        runner = ProjectionRunner(TagCounts(), store, source)
        runner.catch_up(timeout_s=0)
        assert self.counts(store) == {str(a): 4}
        assert runner.stats.skipped == 2
        [row] = store.query("SELECT seen FROM tag_counts")
        seen = row["seen"] if isinstance(row["seen"], list) else __import__("json").loads(row["seen"])
        assert seen == ["t1", "t2", "t3", "t4"]

    def test_a_poison_event_becomes_a_dead_letter_with_nothing_half_written(
        self, store: ReadStore
    ) -> None:
        source = ListSource()
        a = uuid4()
        source.append(0, 1, tagged(a, "ok", 1))
        poison = source.append(0, 2, tagged(a, "poison", 2))
        source.append(0, 3, tagged(a, "after", 3))
        sent: list[DeadLetter] = []
        runner = ProjectionRunner(TagCounts(), store, source, dead_letter_sink=sent.extend)
        runner.catch_up(timeout_s=0)
        assert self.counts(store) == {str(a): 2}
        audit = {row["tag"] for row in store.query("SELECT tag FROM tag_audit")}
        assert audit == {"ok", "after"}  # the poison event's first write was undone
        [letter] = store.query("SELECT * FROM projection_dead_letters")
        assert letter["source_offset"] == poison.offset and letter["position"] == 2
        assert letter["event_type"] == "crm.customer.tagged"
        # The error's type and code, never its message: it may quote what the event holds.
        assert letter["error"].startswith("ValueError: [message withheld")
        assert "raise ValueError" in letter["error"] and str(a) not in letter["error"]
        assert [s.offset for s in sent] == [poison.offset]
        assert store.dead_letter_counts() == {"tag_counts": 1}

    def test_an_undecodable_record_is_a_dead_letter(self, store: ReadStore) -> None:
        source = ListSource()
        source.partitions[0] = [SourceRecord(0, 0, None, None, error="undecodable: not JSON",
                                             payload=b"\xff{")]
        a = uuid4()
        source.append(0, 1, tagged(a, "ok", 1))
        runner = ProjectionRunner(TagCounts(), store, source)
        runner.catch_up(timeout_s=0)
        assert self.counts(store) == {str(a): 1}
        [letter] = store.query("SELECT error, source_offset FROM projection_dead_letters")
        assert letter["source_offset"] == 0 and "not JSON" in letter["error"]

    def test_stop_policy_raises_and_commits_nothing_of_the_batch(self, store: ReadStore) -> None:
        source = ListSource()
        a = uuid4()
        source.append(0, 1, tagged(a, "ok", 1))
        source.append(0, 2, tagged(a, "poison", 2))
        runner = ProjectionRunner(TagCounts(), store, source, on_error="stop")
        with pytest.raises(ProjectionStopped):
            runner.catch_up(timeout_s=0)
        assert self.counts(store) == {}
        assert store.all_progress("tag_counts", runner.generation) == {}

    def test_a_crash_before_commit_applies_nothing_and_the_retry_applies_once(
        self, store: ReadStore
    ) -> None:
        source = ListSource()
        a = uuid4()
        for n in range(1, 4):
            source.append(0, n, tagged(a, f"t{n}", n))
        source.append(0, 4, tagged(a, "poison", 4))
        crashes = []

        def crash_once(letters: Any) -> None:  # runs inside the transaction, after the writes
            if not crashes:
                crashes.append(1)
                raise ConnectionError("process died before commit")

        runner = ProjectionRunner(TagCounts(), store, source, dead_letter_sink=crash_once)
        with pytest.raises(ConnectionError):
            runner.run_once(timeout_s=0)
        assert self.counts(store) == {}
        assert runner.run_once(timeout_s=0) == 3  # re-read from the stored offsets
        assert runner.run_once(timeout_s=0) == 0
        assert self.counts(store) == {str(a): 3}

    def test_rebuild_fills_a_new_generation_and_the_live_runner_follows_it(
        self, store: ReadStore
    ) -> None:
        source = ListSource()
        a, b = uuid4(), uuid4()
        for n in range(1, 7):
            source.append(n % 2, n, tagged(a if n % 2 else b, f"t{n}", n))
        live = ProjectionRunner(TagCounts(), store, source)
        live.catch_up(timeout_s=0)
        live_rows = sorted(store.query("SELECT * FROM tag_counts"), key=lambda r: r["id"])

        rebuild_source = ListSource()
        rebuild_source.partitions = source.partitions
        rebuild = ProjectionRunner(TagCounts(), store, rebuild_source, generation=2,
                                   follow_active=False)
        rebuild.catch_up(timeout_s=0)
        assert self.counts(store) == {str(a): 3, str(b): 3}  # generation 1 still serves
        store.activate(TagCounts(), 2)
        rebuilt_rows = sorted(store.query("SELECT * FROM tag_counts"), key=lambda r: r["id"])
        assert rebuilt_rows == live_rows

        source.append(0, 7, tagged(b, "t7", 7))
        live.catch_up(timeout_s=0)
        assert live.generation == 2
        assert self.counts(store) == {str(a): 3, str(b): 4}
        store.drop_generation(TagCounts(), 1)
        assert store.generations("tag_counts") == (2, 2)
