"""Data files and exports are their owner's alone: files 0600, directories 0700 — whether a
`crm` command made them (its umask) or code opened a store in a process with a looser umask
(the explicit modes)."""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.common.event_store import open_event_store
from services.common.private_files import private_file
from services.common.settings import Settings
from services.projections.stores.duck import DuckReadStore
from services.projections.stores.sql import SqlReadStore

runner = CliRunner()


@pytest.fixture(autouse=True)
def loose_umask(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The common default (022: new files 0644), and the embedded store."""
    for name in ("CRM_POSTGRES_URL", "CRM_MEMORY_STORE", "CRM_DATA_DIR", "CRM_KAFKA_BOOTSTRAP",
                 "CRM_ANALYTICS_PATH"):
        monkeypatch.delenv(name, raising=False)
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _modes(root: Path) -> dict[str, str]:
    """Every directory and file under `root` (and `root`) with a mode other than private."""
    found = {}
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode != (0o700 if path.is_dir() else 0o600):
            found[str(path.relative_to(root.parent))] = oct(mode)
    return found


def test_crm_commands_create_every_data_file_0600_in_0700_directories(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    seeded = runner.invoke(app, ["seed", "--customers", "12", "--data-dir", str(data_dir)])
    assert seeded.exit_code == 0, seeded.output
    replayed = runner.invoke(app, ["replay", "--data-dir", str(data_dir)])
    assert replayed.exit_code == 0, replayed.output
    for fmt in ("parquet", "ndjson"):
        exported = runner.invoke(app, ["export", "--data-dir", str(data_dir), "--format", fmt,
                                       "--out", str(tmp_path / f"export-{fmt}")])
        assert exported.exit_code == 0, exported.output
    orders = tmp_path / "in" / "orders.csv"
    orders.parent.mkdir()
    with orders.open("w", newline="") as handle:
        csv.writer(handle).writerows([
            ["reference", "customer_ref", "occurred_at", "amount", "currency"],
            ["o-1", "c-1", "2025-01-02T10:00:00Z", "lots", "EUR"]])
    imported = runner.invoke(app, ["import", "purchases", str(orders), "--data-dir",
                                   str(data_dir), "--rejects", str(tmp_path / "rejects.csv")])
    assert "rejected 1" in imported.output, imported.output

    names = {p.name for p in data_dir.iterdir()}
    assert {"events.sqlite", "readmodels.sqlite", "analytics.duckdb"} <= names, names
    assert _modes(tmp_path / "fresh") == {}
    assert _modes(tmp_path / "export-parquet") == {} and _modes(tmp_path / "export-ndjson") == {}
    assert stat.S_IMODE((tmp_path / "rejects.csv").stat().st_mode) == 0o600
    assert os.umask(0o022) == 0o022, "the command gives the process its umask back"


def test_stores_opened_in_process_are_private_whatever_the_umask(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    store = open_event_store(settings)
    sql = SqlReadStore(sqlite_path=settings.readmodels_sqlite_path)
    duck = DuckReadStore(settings.analytics_file)
    try:
        assert (settings.data_dir / "events.sqlite-wal").exists(), "WAL files are covered too"
        modes = _modes(settings.data_dir)
    finally:
        duck.close()
        sql.close()
        store.close()
    # DuckDB creates its .wal with the process's umask: only `crm`'s umask covers that one.
    assert {name: mode for name, mode in modes.items() if not name.endswith(".duckdb.wal")} \
        == {}


def test_a_data_file_made_by_an_older_version_is_tightened(tmp_path: Path) -> None:
    old = tmp_path / "events.sqlite"
    old.write_bytes(b"")
    old.chmod(0o644)
    (tmp_path / "events.sqlite-wal").write_bytes(b"")
    private_file(old, ("-wal", "-shm"))
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "events.sqlite-wal").stat().st_mode) == 0o600
