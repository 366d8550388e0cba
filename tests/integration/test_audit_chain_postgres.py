"""Tamper evidence on a real PostgreSQL event store: the contract, plus what only PostgreSQL has
(notification ids with gaps) and the checkpoints on the Kafka topic."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import cast
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError
from eventsourcing.postgres import PostgresApplicationRecorder
from kafka import KafkaConsumer
from pydantic import SecretStr

from services.command.service import CommandService
from services.common.audit_chain.checkpoints import Checkpoint, Checkpointer
from services.common.audit_chain.keys import read_verify_keys, write_key_pair
from services.common.audit_chain.tables import PostgresChainTables, chain_tables_of
from services.common.event_store import EventBatch
from services.common.events.envelope import CrmEvent
from services.common.settings import Settings
from tests.contract.audit_chain import CTX, AuditChainContract, Log
from tests.harness.forgery import Forger
from tests.waiting import eventually


def postgres_settings(postgres_url: str, schema: str, tmp_path: Path, **more: object) -> Settings:
    """A schema of its own, with the audit keys and checkpoint file configured (PostgreSQL has
    no embedded default: a deployment runs on several hosts)."""
    keys = tmp_path / "audit-keys"
    write_key_pair(keys / "signing-key.pem", keys / "verify-keys.pem")
    return Settings(postgres_url=SecretStr(postgres_url), postgres_schema=schema,
                    postgres_pool_size=6, data_dir=tmp_path / "crm-data",
                    audit_signing_key_file=keys / "signing-key.pem",
                    audit_verify_key_file=keys / "verify-keys.pem",
                    audit_checkpoint_file=tmp_path / "shipped" / "checkpoints.jsonl",
                    **more)  # type: ignore[arg-type]


@pytest.mark.postgres
class TestAuditChainOnPostgres(AuditChainContract):
    plain_recorder = PostgresApplicationRecorder

    @pytest.fixture
    def settings(self, postgres_url: str, fresh_postgres_schema: str, tmp_path: Path
                 ) -> Settings:
        return postgres_settings(postgres_url, fresh_postgres_schema, tmp_path)

    @pytest.fixture
    def forger(self, postgres_url: str, settings: Settings) -> Forger:
        return Forger.postgres(postgres_url, settings.postgres_schema)


@pytest.mark.postgres
def test_a_gap_in_the_notification_ids_is_not_tampering(
        postgres_url: str, fresh_postgres_schema: str, tmp_path: Path,
        open_commands: Callable[[Settings], CommandService]) -> None:
    settings = postgres_settings(postgres_url, fresh_postgres_schema, tmp_path)
    log = Log(settings, open_commands(settings))
    log.customers(2)
    forger = Forger.postgres(postgres_url, fresh_postgres_schema)
    first = forger.positions()[0]
    stored = log.store.recorder.select_notifications(first, 1)[0]
    event = cast(CrmEvent, log.store.mapper.to_domain_event(stored))
    with pytest.raises(IntegrityError):  # the same aggregate version again: ids are burnt
        log.store.save(EventBatch([event.model_copy(update={"event_id": uuid4()})]))
    log.customers(1)
    positions = forger.positions()
    assert positions[-1] - positions[0] + 1 > len(positions), "expected a gap in the ids"
    log.checkpoint()
    result = log.verify()
    assert result.ok and result.events == 6, result.line()


@pytest.mark.postgres
def test_checkpoints_go_to_the_kafka_topic_signed(
        postgres_url: str, fresh_postgres_schema: str, kafka_bootstrap: str, tmp_path: Path,
        open_commands: Callable[[Settings], CommandService]) -> None:
    topic = f"crm.audit.checkpoints.{uuid.uuid4().hex[:10]}"
    settings = postgres_settings(postgres_url, fresh_postgres_schema, tmp_path,
                                 kafka_bootstrap=kafka_bootstrap, audit_checkpoint_topic=topic)
    log = Log(settings, open_commands(settings))
    log.customers(2)
    first = log.checkpoint()
    log.customers(1)
    tables = chain_tables_of(log.store)
    assert tables is not None
    checkpointer = Checkpointer(tables, settings)
    try:
        second = checkpointer.checkpoint()
    finally:
        checkpointer.close()
    assert second is not None
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=1000)
    received: list[Checkpoint] = []
    try:
        def both_arrived() -> bool:
            received.extend(Checkpoint.from_json(json.loads(m.value), topic) for m in consumer)
            return len(received) >= 2

        eventually(both_arrived, 30.0, lambda: f"checkpoints on {topic}: {received}")
    finally:
        consumer.close()
    assert [(c.position, c.count) for c in received] == \
        [(first.position, first.count), (second.position, second.count)]
    keys = read_verify_keys(tmp_path / "audit-keys" / "verify-keys.pem")
    assert all(keys.verify(c.key_id, c.signature, c.message()) for c in received)


@pytest.mark.postgres
def test_a_chain_write_that_fails_stores_no_event(
        postgres_url: str, fresh_postgres_schema: str, tmp_path: Path,
        open_commands: Callable[[Settings], CommandService],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The library's write path commits unless the database refused something: a failure of
    ours after the insert must still roll the events back."""
    settings = postgres_settings(postgres_url, fresh_postgres_schema, tmp_path)
    log = Log(settings, open_commands(settings))
    customer = log.customers(1)[0]
    forger = Forger.postgres(postgres_url, fresh_postgres_schema)
    before = forger.positions()
    real = PostgresChainTables.chain_in_database

    def fails_after_writing(self: PostgresChainTables, cursor: object, position: int) -> None:
        real(self, cursor, position)
        raise RuntimeError("the disk is full, say")

    monkeypatch.setattr(PostgresChainTables, "chain_in_database", fails_after_writing)
    with pytest.raises(RuntimeError, match="the disk is full"):
        log.service.tag_customer(CTX, customer, "lost")
    monkeypatch.undo()
    assert forger.positions() == before and forger.chain_count() == len(before)
    log.service.tag_customer(CTX, customer, "kept")
    result = log.verify()
    assert result.ok and result.events == len(before) + 1, result.line()
