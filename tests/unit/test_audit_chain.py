"""Tamper evidence on the embedded store (SQLite): the contract, and what only the embedded
default has (its key pair beside the data dir), the `crm audit` commands with their exit codes
and lines, `GET /v1/audit/verify`, and the checkpoints a running process makes."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from eventsourcing.sqlite import SQLiteApplicationRecorder
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.bootstrap import Chronicle, Parts
from services.cli import app
from services.command.service import CommandService
from services.common.audit_chain.checkpoints import (
    RECHAIN,
    Checkpointer,
    append_to_file,
    read_file,
    sign,
)
from services.common.audit_chain.hashing import GENESIS, chain_hash, content_hash
from services.common.audit_chain.keys import (
    embedded_audit_dir,
    read_verify_keys,
    write_key_pair,
)
from services.common.audit_chain.recorders import ChainWriteRefused
from services.common.audit_chain.tables import chain_tables_of
from services.common.settings import Settings
from tests.contract.audit_chain import CTX, AuditChainContract, Log
from tests.contract.query_api import compose_serve
from tests.harness.auth import keys_of
from tests.harness.forgery import Forger

runner = CliRunner()


class TestAuditChainOnSQLite(AuditChainContract):
    plain_recorder = SQLiteApplicationRecorder

    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return Settings(data_dir=tmp_path / "crm-data")

    @pytest.fixture
    def forger(self, settings: Settings) -> Forger:
        return Forger.sqlite(settings.sqlite_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "crm-data")


@pytest.fixture
def log(settings: Settings, open_commands: Callable[[Settings], CommandService]) -> Log:
    return Log(settings, open_commands(settings))


# -- what is hashed ----------------------------------------------------------------------------


def test_the_hashes_cover_every_part_of_the_content_and_the_order() -> None:
    base = content_hash(b"a" * 16, 1, "m:Event", b"{}")
    assert len({base, content_hash(b"b" * 16, 1, "m:Event", b"{}"),
                content_hash(b"a" * 16, 2, "m:Event", b"{}"),
                content_hash(b"a" * 16, 1, "m:Other", b"{}"),
                content_hash(b"a" * 16, 1, "m:Event", b"{ }")}) == 5
    # The length prefix keeps topic and state apart.
    assert content_hash(b"a" * 16, 1, "ab", b"c") != content_hash(b"a" * 16, 1, "a", b"bc")
    first = chain_hash(GENESIS, 1, 1, base, GENESIS)
    assert chain_hash(GENESIS, 2, 1, base, GENESIS) != first
    assert chain_hash(first, 2, 2, base, base) != chain_hash(GENESIS, 2, 2, base, base)


# -- the embedded default's keys ---------------------------------------------------------------


def test_the_embedded_store_makes_its_key_pair_beside_the_data_dir_on_first_start(
        settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with Chronicle(settings, Parts(commands=True)):
        pass
    directory = embedded_audit_dir(settings)
    assert directory is not None and directory.parent == settings.data_dir.absolute().parent
    signing = directory / "signing-key.pem"
    assert stat.S_IMODE(signing.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert len(read_verify_keys(directory / "verify-keys.pem").keys) == 1
    assert f"Created the audit signing key {signing}" in capsys.readouterr().err
    assert not any(p.name.endswith(".pem") for p in settings.data_dir.rglob("*"))


def test_a_running_process_signs_a_checkpoint_when_it_stops(settings: Settings) -> None:
    with Chronicle(settings, Parts(commands=True)) as crm:
        Log(settings, crm.command_service).customers(2)
    directory = embedded_audit_dir(settings)
    assert directory is not None
    shipped = read_file(directory / "checkpoints.jsonl")
    assert [(c.position, c.count) for c in shipped] == [(4, 4)]


def test_a_checkpoint_is_due_after_every_n_events(tmp_path: Path, log: Log) -> None:
    settings = log.settings.model_copy(update={"audit_checkpoint_every_events": 3,
                                               "audit_checkpoint_interval_s": 3600.0})
    tables = chain_tables_of(log.store)
    assert tables is not None
    checkpointer = Checkpointer(tables, settings)
    assert not checkpointer.due()
    log.customers(1)
    assert not checkpointer.due()
    log.customers(1)
    assert checkpointer.due()
    assert checkpointer.checkpoint() is not None
    assert not checkpointer.due()
    assert checkpointer.checkpoint() is None  # nothing new since


def test_deleting_the_last_event_stops_writes_until_restored(log: Log, forger_: Forger) -> None:
    customers = log.customers(2)
    last = forger_.positions()[-1]
    forger_.delete(last)  # SQLite gives the next event the same rowid
    with pytest.raises(ChainWriteRefused, match=f"not after the audit chain's position {last}"):
        log.service.tag_customer(CTX, customers[0], "again")
    result = log.verify()
    assert result.broken is not None and (result.broken.position, result.broken.how) == \
        (last, "event_missing")


@pytest.fixture
def forger_(settings: Settings) -> Forger:
    return Forger.sqlite(settings.sqlite_path)


def test_a_rechain_signed_by_another_key_supersedes_nothing(
        settings: Settings, log: Log, tmp_path: Path) -> None:
    log.customers(2)
    log.checkpoint()
    directory = embedded_audit_dir(settings)
    assert directory is not None
    intruder = write_key_pair(tmp_path / "x" / "s.pem", tmp_path / "x" / "v.pem")
    tables = chain_tables_of(log.store)
    assert tables is not None
    with tables.snapshot() as cursor:
        head = tables.head(cursor)
    append_to_file(directory / "checkpoints.jsonl",
                   sign(intruder, head, kind=RECHAIN, reason="nothing to see"))
    result = log.verify()
    assert result.broken is not None and result.broken.how == "checkpoint_signature"
    assert result.rechained is None


# -- crm audit ---------------------------------------------------------------------------------


def _crm(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout.strip()


def test_crm_audit_verify_answers_ok_then_names_the_tampered_event(
        settings: Settings, log: Log, forger_: Forger) -> None:
    log.customers(3)
    data = ("--data-dir", str(settings.data_dir))
    code, line = _crm("audit", "checkpoint", *data)
    assert code == 0 and line.startswith("checkpoint at position 6 (6 events"), line
    code, line = _crm("audit", "verify", *data)
    assert code == 0 and line.startswith("OK 6 events verified (positions 1–6)"), line
    assert "1 checkpoint verified" in line
    forger_.set_actor(2, "mallory")
    code, line = _crm("audit", "verify", *data)
    assert code == 1
    assert line.startswith(f"FAILED at position 2, event {forger_.event_id(2)} "), line
    assert "content changed" in line
    code, line = _crm("audit", "verify", "--from", "3", *data)
    assert code == 0 and "trusting the chain row at position 2" in line, line


def test_crm_audit_verify_with_another_key_fails_and_without_one_refuses(
        settings: Settings, log: Log, tmp_path: Path) -> None:
    log.customers(1)
    log.checkpoint()
    data = ("--data-dir", str(settings.data_dir))
    write_key_pair(tmp_path / "k" / "s.pem", tmp_path / "k" / "v.pem")
    code, line = _crm("audit", "verify", "--verify-key", str(tmp_path / "k" / "v.pem"), *data)
    assert code == 1 and line.startswith("FAILED at position 2, event ") and \
        "checkpoint signature wrong" in line, line
    result = runner.invoke(app, ["audit", "verify", "--verify-key", str(tmp_path / "none.pem"),
                                 *data])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_crm_audit_rotate_key_keeps_old_checkpoints_verifiable(
        settings: Settings, log: Log) -> None:
    log.customers(1)
    old = log.checkpoint()
    code, line = _crm("audit", "rotate-key", "--data-dir", str(settings.data_dir))
    assert code == 0 and f"beside the old key {old.key_id}" in line, line
    log.customers(1)
    new = log.checkpoint()
    assert new.key_id != old.key_id
    result = log.verify()
    assert result.ok and result.checkpoints == 2, result.line()


def test_crm_audit_rechain_needs_a_reason_and_is_named_by_every_verify(
        settings: Settings, log: Log, forger_: Forger) -> None:
    log.customers(2)
    log.checkpoint()
    forger_.set_actor(1, "migrated")
    data = ("--data-dir", str(settings.data_dir))
    assert _crm("audit", "verify", *data)[0] == 1
    code, line = _crm("audit", "rechain", "--reason", "re-sealed personal data", "--yes", *data)
    assert code == 0 and line.startswith("re-chained 4 events up to position 4"), line
    code, line = _crm("audit", "verify", *data)
    assert code == 0 and "(re-sealed personal data), 1 earlier checkpoint superseded" in line
    code, _ = _crm("audit", "rechain", "--reason", " ", "--yes", *data)
    assert code == 2


def test_crm_audit_verify_refuses_a_data_dir_without_a_store(tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", "verify", "--data-dir", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "no event store" in result.output


# -- GET /v1/audit/verify ----------------------------------------------------------------------


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[TestClient, Forger]]:
    with ExitStack() as stack:
        client, _ = compose_serve(stack, settings)
        yield client, Forger.sqlite(settings.sqlite_path)


def test_the_verify_route_answers_auditors_and_admins_and_refuses_other_roles(
        served: tuple[TestClient, Forger]) -> None:
    client, forger = served
    keys = keys_of(client.app)
    for subject, role in (("aud", "auditor"), ("boss", "admin")):
        answer = client.get("/v1/audit/verify", headers=keys.headers("t1", subject, [role]))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["ok"] is True and body["break"] is None
        assert body["line"].startswith("OK") and body["events"] == len(forger.positions())
    refused = client.get("/v1/audit/verify", headers=keys.headers("t1", "rep", ["sales_rep"]))
    assert refused.status_code == 403
    assert refused.json()["details"]["action"] == "audit.verify"

    position = forger.positions()[0]
    forger.set_actor(position, "mallory")
    answer = client.get("/v1/audit/verify", headers=keys.headers("t1", "aud", ["auditor"]))
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is False
    assert body["break"]["position"] == position and body["break"]["how"] == "content_changed"
    assert body["break"]["event_id"] == forger.event_id(position)
    later = client.get("/v1/audit/verify", params={"from": position + 1},
                       headers=keys.headers("t1", "aud", ["auditor"]))
    assert later.json()["ok"] is True and later.json()["trusted_position"] == position


def test_checkpoint_file_lines_are_self_describing(settings: Settings, log: Log) -> None:
    log.customers(1)
    made = log.checkpoint()
    path = embedded_audit_dir(settings)
    assert path is not None
    line = json.loads((path / "checkpoints.jsonl").read_text().splitlines()[-1])
    assert line["type"] == "crm.audit.checkpoint" and line["position"] == made.position
    assert line["algorithm"] == "Ed25519" and line["chain_hash"] == made.chain_hash.hex()
