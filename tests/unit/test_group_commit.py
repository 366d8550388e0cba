"""Group commit: concurrent commands share a transaction, and a conflict fails only its command."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from services.command.domain.aggregate import CommandContext
from services.command.domain.customer import Customer
from services.command.domain.errors import VersionConflict
from services.command.group_commit import GroupCommitter
from services.command.service import CommandResult, CommandService, NewCustomer
from services.common.event_store import ChronicleStore, EventLog, open_event_store
from services.common.events.customer import CustomerPersonal
from services.common.settings import Settings

CTX = CommandContext(actor="rep-1", tenant_id="default")


class HeldStore:
    """Wraps a store so that its first save waits until released: meanwhile the saves of
    other commands queue up behind it and are written as one batch."""

    def __init__(self, store: ChronicleStore) -> None:
        self.store = store
        self.release = threading.Event()
        self.first_save_started = threading.Event()
        self.batches: list[int] = []  # events per save() call

    def save(self, *events: Any) -> Any:
        if not self.first_save_started.is_set():
            self.first_save_started.set()
            assert self.release.wait(10)
        self.batches.append(len(events))
        return self.store.save(*events)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChronicleStore]:
    store = open_event_store(Settings(data_dir=tmp_path / "crm-data"))
    yield store
    store.close()


def tagged(customer: Customer, tag: str) -> list[Any]:
    customer.tag(CTX, tag)
    return customer.collect_events()


def registered(name: str) -> Customer:
    return Customer.register(uuid4(), CTX, personal=CustomerPersonal(name=name))


def queued_behind_a_held_save(
    committer: GroupCommitter, held: HeldStore, saves: list[Callable[[], Any]],
) -> list[Future[Any]]:
    """Start a first save that blocks, queue `saves` behind it, then let everything go."""
    pool = ThreadPoolExecutor(len(saves) + 1)
    blocker = registered("blocker")
    pool.submit(committer.save, blocker.collect_events())
    assert held.first_save_started.wait(10)
    futures = []
    for save in saves:
        futures.append(pool.submit(save))
    while committer._queue is not None and committer._queue.qsize() < len(saves):
        threading.Event().wait(0.005)
    held.release.set()
    pool.shutdown(wait=True)
    return futures


def test_concurrent_saves_share_one_transaction(store: ChronicleStore) -> None:
    held = HeldStore(store)
    committer = GroupCommitter(held)  # type: ignore[arg-type]
    customers = [registered(f"c{n}") for n in range(5)]
    futures = queued_behind_a_held_save(
        committer, held, [lambda c=c: committer.save(c.collect_events()) for c in customers])
    recordings = [f.result() for f in futures]
    assert held.batches == [1, 5]  # the blocker alone, then the five together
    positions = [r[-1].notification.id for r in recordings]
    assert len(set(positions)) == 5
    log = EventLog(store)
    for customer, position in zip(customers, positions, strict=True):
        assert log.position_of(customer.id, 1) == position
    committer.close()


def test_a_conflicting_save_in_a_shared_batch_fails_alone(store: ChronicleStore) -> None:
    first, second, third = (registered(name) for name in ("first", "second", "third"))
    store.save(*first.collect_events(), *second.collect_events(), *third.collect_events())
    stale = store.repository.get(second.id, projector_func=Customer.project)
    store.save(*tagged(store.repository.get(second.id, projector_func=Customer.project), "won"))
    held = HeldStore(store)
    committer = GroupCommitter(held)  # type: ignore[arg-type]
    futures = queued_behind_a_held_save(committer, held, [
        lambda: committer.save(tagged(first, "a")),
        lambda: committer.save(tagged(stale, "lost")),  # version 2 exists already
        lambda: committer.save(tagged(third, "c")),
    ])
    assert futures[0].result()[-1].notification.id > 0
    with pytest.raises(IntegrityError):
        futures[1].result()
    assert futures[2].result()[-1].notification.id > 0
    assert held.batches[1] == 3  # the shared write was tried, then each alone
    assert held.batches[2:] == [1, 1, 1]
    assert store.repository.get(first.id, projector_func=Customer.project).tags == ["a"]
    assert store.repository.get(second.id, projector_func=Customer.project).tags == ["won"]
    assert store.repository.get(third.id, projector_func=Customer.project).tags == ["c"]
    committer.close()


def test_a_command_that_lost_a_race_gets_409_while_its_batch_neighbours_succeed(
    tmp_path: Path,
) -> None:
    """Through the service: two processes on one store; this one's commands share a batch."""
    settings = Settings(data_dir=tmp_path / "crm-data")
    here_store, there_store = open_event_store(settings), open_event_store(settings)
    here, there = CommandService(here_store, settings), CommandService(there_store, settings)
    try:
        racing, calm_one, calm_two = (
            UUID(here.register_customer(CTX, NewCustomer(CustomerPersonal(name=n))).ids[
                "customer_id"]) for n in ("racing", "calm one", "calm two"))
        held = HeldStore(here_store)
        here._committer = GroupCommitter(held)  # type: ignore[arg-type]
        load = here._load

        def load_then_the_other_process_writes(cls: Any, aggregate_id: UUID, *args: Any,
                                               **kwargs: Any) -> Any:
            aggregate = load(cls, aggregate_id, *args, **kwargs)
            if aggregate_id == racing:
                there.tag_customer(CTX, racing, "theirs")
            return aggregate

        here._load = load_then_the_other_process_writes  # type: ignore[method-assign]
        futures: list[Future[CommandResult]] = queued_behind_a_held_save(
            here._committer, held, [
                lambda: here.tag_customer(CTX, racing, "ours", expected_version=1),
                lambda: here.tag_customer(CTX, calm_one, "a"),
                lambda: here.tag_customer(CTX, calm_two, "b"),
            ])
        with pytest.raises(VersionConflict) as conflict:
            futures[0].result()
        assert conflict.value.current_version == 2
        assert futures[1].result().version == 2
        assert futures[2].result().version == 2
        assert held.batches[1] == 3
        assert there_store.repository.get(racing, projector_func=Customer.project).tags == [
            "theirs"]
    finally:
        here.close()
        there.close()
        here_store.close()
        there_store.close()
