"""Tamper evidence, written once and run against each event store (SQLite, PostgreSQL): a live
store verifies, whatever writes it (concurrent commands, group commit, a bulk batch); each
hand-made change — an UPDATE, a DELETE, a reordering, an inserted row — is named exactly, by
position and event; a forger who recomputes the chain is caught by the signed checkpoint; a
wrong verification key fails."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from services.command.domain.aggregate import CommandContext
from services.command.service import CommandService, NewCustomer
from services.common.audit_chain.checkpoints import Checkpoint, Checkpointer, read_file
from services.common.audit_chain.keys import (
    checkpoint_file_path,
    load_verify_keys,
    read_verify_keys,
    write_key_pair,
)
from services.common.audit_chain.rechain import rechain
from services.common.audit_chain.tables import chain_tables_of
from services.common.audit_chain.verify import Verification, verify_log
from services.common.event_store import ChronicleStore, open_event_store
from services.common.events.customer import CustomerPersonal
from services.common.settings import Settings
from services.demo.history import generate_history
from tests.harness.forgery import Forger

CTX = CommandContext(actor="rep-1", tenant_id="default")


@dataclass
class Log:
    """A store with its command service, and the audit operations on it."""

    settings: Settings
    service: CommandService

    @property
    def store(self) -> ChronicleStore:
        return self.service.store

    def customers(self, count: int) -> list[UUID]:
        """`count` customers, each registered and tagged: two events apiece."""
        made = []
        for number in range(count):
            result = self.service.register_customer(CTX, NewCustomer(
                personal=CustomerPersonal(name=f"Person {number}")))
            customer = UUID(result.ids["customer_id"])
            self.service.tag_customer(CTX, customer, "seen")
            made.append(customer)
        return made

    def checkpoint(self) -> Checkpoint:
        tables = chain_tables_of(self.store)
        assert tables is not None
        checkpointer = Checkpointer(tables, self.settings)
        try:
            made = checkpointer.checkpoint()
        finally:
            checkpointer.close()
        assert made is not None
        return made

    def verify(self, start: int | None = None, keys_file: Path | None = None) -> Verification:
        keys = load_verify_keys(self.settings, keys_file)
        shipped = checkpoint_file_path(self.settings)
        return verify_log(self.store, keys, start=start,
                          more_checkpoints=read_file(shipped) if shipped else [])


def assert_break(result: Verification, position: int, how: str, event_id: str | None) -> None:
    assert not result.ok, result.line()
    assert result.broken is not None
    assert (result.broken.position, result.broken.how) == (position, how), result.line()
    assert result.broken.event_id == event_id, result.line()
    assert result.line().startswith(f"FAILED at position {position}, "
                                    + (f"event {event_id}" if event_id else "event id unknown"))


class AuditChainContract:
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def forger(self, settings: Settings) -> Forger:
        raise NotImplementedError

    plain_recorder: type
    """The library's own application recorder of the backend (writes no chain)."""

    @pytest.fixture
    def log(self, settings: Settings, open_commands: Callable[[Settings], CommandService]
            ) -> Log:
        return Log(settings, open_commands(settings))

    # -- a live store -----------------------------------------------------------------------

    def test_a_live_store_verifies_ok_with_its_checkpoints(self, log: Log) -> None:
        log.customers(3)
        first = log.checkpoint()
        log.customers(2)
        second = log.checkpoint()
        result = log.verify()
        assert result.ok, result.line()
        assert (result.events, result.checkpoints) == (10, 2)
        assert (first.count, second.count) == (6, 10)
        assert result.last_position == second.position
        assert result.line().startswith("OK 10 events verified")

    def test_concurrent_writers_group_commit_and_a_bulk_batch_keep_the_chain_exact(
            self, log: Log, forger: Forger) -> None:
        start = threading.Barrier(5)

        def commands() -> int:
            start.wait(timeout=30)
            return len(log.customers(10))

        def bulk() -> int:
            start.wait(timeout=30)
            return generate_history(log.store, customers=60, batch_customers=30).events

        with ThreadPoolExecutor(5) as pool:
            writers = [pool.submit(commands) for _ in range(4)]
            imported = pool.submit(bulk)
            assert sum(w.result(timeout=120) for w in writers) == 40
            events = imported.result(timeout=120)
        assert events > 300
        log.checkpoint()
        result = log.verify()
        assert result.ok, result.line()
        assert result.events == 80 + events == forger.chain_count() == len(forger.positions())

    # -- each hand-made change, named ---------------------------------------------------------

    def test_an_update_of_one_events_actor_is_named_content_changed(
            self, log: Log, forger: Forger) -> None:
        log.customers(3)
        log.checkpoint()
        position = forger.positions()[3]
        forger.set_actor(position, "mallory")
        assert_break(log.verify(), position, "content_changed", forger.event_id(position))

    def test_a_deleted_event_is_named_event_missing(self, log: Log, forger: Forger) -> None:
        log.customers(3)
        position = forger.positions()[2]
        aggregate_id, version, _, _ = forger.event(position)
        forger.delete(position)
        result = log.verify()
        assert_break(result, position, "event_missing", None)
        assert result.broken is not None
        assert (result.broken.aggregate_id, result.broken.aggregate_version) == \
            (str(UUID(aggregate_id)), version)

    def test_two_swapped_events_are_named_reordered(self, log: Log, forger: Forger) -> None:
        log.customers(3)
        first, second = forger.positions()[1], forger.positions()[4]
        moved_there = forger.event_id(second)
        forger.swap(first, second)
        result = log.verify()
        assert_break(result, first, "reordered", moved_there)
        assert result.broken is not None and f"at position {second}" in result.broken.detail

    def test_an_inserted_row_is_named_inserted(self, log: Log, forger: Forger) -> None:
        log.customers(2)
        position = forger.insert_copy(forger.positions()[0])
        assert_break(log.verify(), position, "inserted", forger.event_id(position))

    def test_an_edited_chain_row_is_named_chain_altered(self, log: Log, forger: Forger) -> None:
        log.customers(2)
        position = forger.positions()[1]  # a second version: it links to the first
        forger.set_chain_previous(position, bytes(32))
        assert_break(log.verify(), position, "chain_altered", forger.event_id(position))

    def test_a_forger_who_recomputes_every_later_hash_is_caught_by_the_signed_checkpoint(
            self, log: Log, forger: Forger) -> None:
        log.customers(4)
        checkpoint = log.checkpoint()
        log.customers(1)
        forged = forger.positions()[2]
        forger.set_actor(forged, "mallory")
        forger.recompute_chain()
        result = log.verify()
        assert_break(result, checkpoint.position, "checkpoint_mismatch",
                     forger.event_id(checkpoint.position))
        # Without the store's own checkpoints, the copy in the checkpoint file still catches it.
        forger.delete_checkpoints()
        assert_break(log.verify(), checkpoint.position, "checkpoint_mismatch",
                     forger.event_id(checkpoint.position))

    def test_a_wrong_verification_key_fails_the_checkpoints(
            self, log: Log, forger: Forger, tmp_path: Path) -> None:
        log.customers(2)
        checkpoint = log.checkpoint()
        other = tmp_path / "other"
        write_key_pair(other / "signing.pem", other / "verify.pem")
        result = log.verify(keys_file=other / "verify.pem")
        assert_break(result, checkpoint.position, "checkpoint_signature",
                     forger.event_id(checkpoint.position))
        assert checkpoint.key_id not in read_verify_keys(other / "verify.pem").keys

    def test_verify_from_a_position_trusts_the_chain_row_before_it(
            self, log: Log, forger: Forger) -> None:
        log.customers(4)
        tampered = forger.positions()[2]
        forger.set_actor(tampered, "mallory")
        later = log.verify(start=tampered + 1)
        assert later.ok, later.line()
        assert later.trusted_position == tampered and later.events == 8 - 3
        assert_break(log.verify(start=tampered), tampered, "content_changed",
                     forger.event_id(tampered))

    # -- a sanctioned rewrite ----------------------------------------------------------------

    def test_a_sanctioned_rewrite_is_rechained_and_older_checkpoints_are_superseded(
            self, log: Log, forger: Forger) -> None:
        log.customers(3)
        log.checkpoint()
        rewritten = forger.positions()[1]
        forger.set_actor(rewritten, "migrated")  # as a migration rewriting stored bytes would
        assert_break(log.verify(), rewritten, "content_changed", forger.event_id(rewritten))
        record = rechain(log.store, log.settings, "sealed the personal fields of v1 events")
        result = log.verify()
        assert result.ok, result.line()
        assert result.rechained == record and result.superseded == 1
        assert "re-chained at position 6" in result.line() and "v1 events" in result.line()
        log.customers(1)
        log.checkpoint()
        result = log.verify()
        assert result.ok and result.checkpoints == 2 and result.events == 8, result.line()

    # -- a store from before the chain -------------------------------------------------------

    def test_a_store_written_before_the_chain_is_chained_when_opened(
            self, settings: Settings, forger: Forger,
            open_commands: Callable[[Settings], CommandService]) -> None:
        plain = ChronicleStore(env={**settings.event_store_env(),
                                    "APPLICATION_RECORDER_TOPIC": get_topic(self.plain_recorder)})
        old = CommandService(plain, settings)
        try:
            Log(settings, old).customers(3)
        finally:
            old.close()
            plain.close()
        store = open_event_store(settings)  # chains the six events, once
        store.close()
        assert forger.chain_count() == 6
        log = Log(settings, open_commands(settings))
        log.customers(1)
        result = log.verify()
        assert result.ok and result.events == 8, result.line()
