"""Group commit: concurrent commands share a transaction, and a conflict fails only its command."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast
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
from tests.waiting import eventually

CTX = CommandContext(actor="rep-1", tenant_id="default")
WAIT_S = 30.0
"""The bound of every wait here: far beyond what any step takes on a busy machine, so only
something that will never happen meets it."""


class HeldStore:
    """Wraps a store so that its first save once `holding` waits until released: meanwhile
    the saves of other commands queue up behind it and are written as one batch."""

    def __init__(self, store: ChronicleStore) -> None:
        self.store = store
        self.holding = False
        self.release = threading.Event()
        self.first_save_started = threading.Event()
        self.batches: list[int] = []  # events per save() call once holding

    def save(self, *events: Any) -> Any:
        if not self.holding:
            return self.store.save(*events)
        if not self.first_save_started.is_set():
            self.first_save_started.set()
            # Longer than the test's own waits, which fail first and say what they missed.
            assert self.release.wait(2 * WAIT_S), "the held save was never released"
        self.batches.append(len(events))
        return self.store.save(*events)


@dataclass
class HeldCommitter:
    """A committer whose first write is held, and the threads that save through it."""

    held: HeldStore
    committer: GroupCommitter
    pools: list[ThreadPoolExecutor] = field(default_factory=list)

    def queued_behind_a_held_save(self, saves: list[Callable[[], Any]]) -> list[Future[Any]]:
        """Start a first save that blocks, queue `saves` behind it, then let everything go;
        the futures of `saves`, each finished."""
        pool = ThreadPoolExecutor(len(saves) + 1, thread_name_prefix="saving")
        self.pools.append(pool)
        self.held.holding = True
        pool.submit(self.committer.save, registered("blocker").collect_events())
        assert self.held.first_save_started.wait(WAIT_S), "the blocking save never started"
        futures = [pool.submit(save) for save in saves]
        # A save that finishes now failed before it reached the queue: say so at once.
        eventually(lambda: self.committer.queued() >= len(saves) or any(f.done() for f in futures),
                   WAIT_S, lambda: f"only {self.committer.queued()} of {len(saves)} saves queued "
                   "behind the held one (is a command waiting for a lock the held ones hold?)")
        early = [f.exception() or f.result() for f in futures if f.done()]
        assert not early, f"saves finished before the held one was released: {early}"
        self.held.release.set()
        _, unfinished = wait(futures, timeout=WAIT_S)
        assert not unfinished, f"{len(unfinished)} of {len(saves)} saves never finished"
        return futures

    def close(self) -> None:
        self.held.release.set()  # whatever the test did, nothing stays held
        for pool in self.pools:
            pool.shutdown(wait=True, cancel_futures=True)
        self.committer.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChronicleStore]:
    store = open_event_store(Settings(data_dir=tmp_path / "crm-data"))
    yield store
    store.close()


@pytest.fixture
def held(store: ChronicleStore) -> Iterator[HeldCommitter]:
    held = HeldStore(store)
    batching = HeldCommitter(held, GroupCommitter(cast(ChronicleStore, held)))
    yield batching
    batching.close()


def tagged(customer: Customer, tag: str) -> list[Any]:
    customer.tag(CTX, tag)
    return customer.collect_events()


def registered(name: str) -> Customer:
    return Customer.register(uuid4(), CTX, personal=CustomerPersonal(name=name))


def group_commit_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "group-commit"]


def test_concurrent_saves_share_one_transaction(store: ChronicleStore,
                                                held: HeldCommitter) -> None:
    customers = [registered(f"c{n}") for n in range(5)]
    futures = held.queued_behind_a_held_save(
        [partial(held.committer.save, c.collect_events()) for c in customers])
    recordings = [f.result() for f in futures]
    assert held.held.batches == [1, 5]  # the blocker alone, then the five together
    positions = [r[-1].notification.id for r in recordings]
    assert len(set(positions)) == 5
    log = EventLog(store)
    for customer, position in zip(customers, positions, strict=True):
        assert log.position_of(customer.id, 1) == position


def test_a_conflicting_save_in_a_shared_batch_fails_alone(store: ChronicleStore,
                                                          held: HeldCommitter) -> None:
    first, second, third = (registered(name) for name in ("first", "second", "third"))
    store.save(*first.collect_events(), *second.collect_events(), *third.collect_events())
    stale = store.repository.get(second.id, projector_func=Customer.project)
    store.save(*tagged(store.repository.get(second.id, projector_func=Customer.project), "won"))
    committer = held.committer
    futures = held.queued_behind_a_held_save([
        lambda: committer.save(tagged(first, "a")),
        lambda: committer.save(tagged(stale, "lost")),  # version 2 exists already
        lambda: committer.save(tagged(third, "c")),
    ])
    assert futures[0].result()[-1].notification.id > 0
    with pytest.raises(IntegrityError):
        futures[1].result()
    assert futures[2].result()[-1].notification.id > 0
    assert held.held.batches[1] == 3  # the shared write was tried, then each alone
    assert held.held.batches[2:] == [1, 1, 1]
    assert store.repository.get(first.id, projector_func=Customer.project).tags == ["a"]
    assert store.repository.get(second.id, projector_func=Customer.project).tags == ["won"]
    assert store.repository.get(third.id, projector_func=Customer.project).tags == ["c"]


@dataclass
class TwoProcesses:
    """Two command services on one SQLite file, as two processes would be."""

    here_store: ChronicleStore
    there_store: ChronicleStore
    here: CommandService
    there: CommandService


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[TwoProcesses]:
    settings = Settings(data_dir=tmp_path / "crm-data")
    here_store, there_store = open_event_store(settings), open_event_store(settings)
    here, there = CommandService(here_store, settings), CommandService(there_store, settings)
    yield TwoProcesses(here_store, there_store, here, there)
    for part in (here, there, here_store, there_store):  # the services before their stores
        part.close()


@pytest.fixture
def held_here(two_processes: TwoProcesses) -> Iterator[HeldCommitter]:
    """The committer of `here`, replaced by one whose first write is held."""
    here = two_processes.here
    held = HeldStore(two_processes.here_store)
    batching = HeldCommitter(held, GroupCommitter(cast(ChronicleStore, held)))
    here._committer.close()
    here._committer = batching.committer
    yield batching
    batching.close()


def on_stream_locks_of_their_own(service: CommandService, names: list[str]) -> list[UUID]:
    """Customers registered through `service`, no two of them sharing a stream lock.

    Commands on one aggregate take turns through a lock (execution.py), and the locks are
    striped: customers on one stripe also take turns. Held behind a blocked write, the second
    command on a stripe would wait for the first to finish, and never reach the committer's
    queue. This mirrors the stripe `CommandExecution._execute` picks.
    """
    locks = service._stream_locks
    chosen: dict[int, UUID] = {}
    for name in names:
        while True:
            customer = UUID(service.register_customer(
                CTX, NewCustomer(CustomerPersonal(name=name))).ids["customer_id"])
            stripe = customer.int % len(locks)
            if stripe not in chosen:
                chosen[stripe] = customer
                break
    return list(chosen.values())


def test_a_command_that_lost_a_race_gets_409_while_its_batch_neighbours_succeed(
    two_processes: TwoProcesses, held_here: HeldCommitter, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the service: two processes on one store; this one's commands share a batch."""
    here, there = two_processes.here, two_processes.there
    racing, calm_one, calm_two = on_stream_locks_of_their_own(
        here, ["racing", "calm one", "calm two"])
    load = here._load

    def load_then_the_other_process_writes(cls: Any, aggregate_id: UUID, *args: Any,
                                           **kwargs: Any) -> Any:
        aggregate = load(cls, aggregate_id, *args, **kwargs)
        if aggregate_id == racing:
            there.tag_customer(CTX, racing, "theirs")
        return aggregate

    monkeypatch.setattr(here, "_load", load_then_the_other_process_writes)
    futures: list[Future[CommandResult]] = held_here.queued_behind_a_held_save([
        lambda: here.tag_customer(CTX, racing, "ours", expected_version=1),
        lambda: here.tag_customer(CTX, calm_one, "a"),
        lambda: here.tag_customer(CTX, calm_two, "b"),
    ])
    with pytest.raises(VersionConflict) as conflict:
        futures[0].result()
    assert conflict.value.current_version == 2
    assert futures[1].result().version == 2
    assert futures[2].result().version == 2
    assert held_here.held.batches[1] == 3
    there_store = two_processes.there_store
    assert there_store.repository.get(racing, projector_func=Customer.project).tags == ["theirs"]


@pytest.fixture
def committer(store: ChronicleStore) -> Iterator[GroupCommitter]:
    committer = GroupCommitter(store)
    yield committer
    committer.close()


def test_a_closed_committer_leaves_no_thread_behind_and_a_later_save_starts_one(
        committer: GroupCommitter) -> None:
    before = set(group_commit_threads())
    committer.save(registered("first").collect_events())
    [started] = set(group_commit_threads()) - before
    committer.close()
    assert not started.is_alive()
    committer.save(registered("second").collect_events())
    [again] = set(group_commit_threads()) - before
    assert again.is_alive()
    committer.close()
    assert not again.is_alive()
