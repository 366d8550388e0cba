"""`crm export`: the event stream as Parquet (partitioned by business month) or NDJSON, read
back into the very events the store holds; filters and `--no-personal`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast
from uuid import UUID

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.common.event_store import ChronicleStore
from services.common.events.envelope import CrmEvent
from services.common.settings import Settings
from services.common.times import parse_moment
from services.demo.history import generate_history
from services.projections.offline.export import (
    ExportError,
    ExportFilter,
    export_events,
)
from services.projections.offline.export_source import read_export

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChronicleStore]:
    """Two years of back-dated history of 200 customers, recorded today."""
    data_dir = tmp_path_factory.mktemp("export-store")
    opened = ChronicleStore(env=Settings(data_dir=data_dir).event_store_env())
    generate_history(opened, customers=200, now=NOW)
    yield opened
    opened.close()


def _stored(store: ChronicleStore) -> list[tuple[int, CrmEvent]]:
    """Every published event with its position, straight from the store."""
    head = store.recorder.max_notification_id() or 0
    out = []
    for n in store.recorder.select_notifications(start=1, limit=head + 1):
        event = cast(CrmEvent, store.mapper.to_domain_event(n))
        if not type(event).internal:
            out.append((n.id, event))
    return out


@pytest.mark.parametrize("fmt", ["parquet", "ndjson"])
def test_export_reads_back_as_the_same_events_in_position_order(
        store: ChronicleStore, tmp_path: Path, fmt: str) -> None:
    summary = export_events(store, tmp_path / fmt, fmt=fmt, batch_size=500)  # type: ignore[arg-type]
    expected = _stored(store)
    back = list(read_export(tmp_path / fmt))
    assert summary.events == len(expected) > 2000
    assert [p for p, _ in back] == [p for p, _ in expected]
    assert back == expected  # ids, envelope, business times and data, field for field
    manifest = json.loads((tmp_path / fmt / "_manifest.json").read_text())
    assert manifest["events"] == len(expected) and manifest["personal"] is True


def test_parquet_partitions_follow_business_time_not_load_time(
        store: ChronicleStore, tmp_path: Path) -> None:
    summary = export_events(store, tmp_path, fmt="parquet")
    recorded_months = {e.recorded_at.strftime("%Y-%m") for _, e in _stored(store)}
    assert len(recorded_months) <= 2  # the whole history was loaded just now …
    assert len(summary.files) >= 24  # … yet it spreads over two years of business months
    for path in summary.files:
        month = path.parent.name.removeprefix("occurred_month=")
        table = pq.read_table(path)
        assert table.schema.field("occurred_at").type.tz == "UTC"
        assert {t.strftime("%Y-%m") for t in table.column("occurred_at").to_pylist()} == {month}
        positions = table.column("position").to_pylist()
        assert positions == sorted(positions)
    counted = duckdb.execute(
        f"SELECT count(*), count(DISTINCT occurred_month), "
        f"bool_and(strftime(occurred_at AT TIME ZONE 'UTC', '%Y-%m') = occurred_month) "
        f"FROM read_parquet('{tmp_path}/**/*.parquet', hive_partitioning = true)").fetchall()[0]
    assert counted == (summary.events, len(summary.files), True)


def test_filters_select_by_business_time_type_and_customer(
        store: ChronicleStore, tmp_path: Path) -> None:
    everything = _stored(store)
    start, end = parse_moment("2025-01-01"), parse_moment("2025-04-01T00:00:00")
    customer = everything[0][1].customer_id
    where = ExportFilter(start=start, end=end,
                         types=frozenset({"crm.purchase.recorded", "crm.lead.won"}))
    export_events(store, tmp_path / "range", fmt="ndjson", where=where)
    got = list(read_export(tmp_path / "range"))
    expected = [(p, e) for p, e in everything if start <= e.occurred_at < end
                and e.event_type in where.types]
    assert got == expected and expected

    export_events(store, tmp_path / "one", fmt="parquet",
                  where=ExportFilter(customers=frozenset({customer})))
    got = list(read_export(tmp_path / "one"))
    assert got == [(p, e) for p, e in everything if e.customer_id == customer]
    assert len({e.aggregate_id for _, e in got}) > 1  # the customer's leads, tickets, too

    with pytest.raises(ValueError, match="unknown event type"):
        ExportFilter(types=frozenset({"crm.nothing.happened"}))


def test_no_personal_leaves_personal_data_out_and_still_replays(
        store: ChronicleStore, tmp_path: Path) -> None:
    export_events(store, tmp_path, fmt="ndjson", personal=False)
    text = (tmp_path / "events.ndjson").read_text()
    rows = [json.loads(line) for line in text.splitlines()]
    assert all(row["personal"] is None for row in rows)
    names = {e.personal.name for _, e in _stored(store)  # type: ignore[attr-defined]
             if e.event_type == "crm.customer.registered" and e.personal.name}  # type: ignore[attr-defined]
    assert names and not any(name in text for name in names)
    back = list(read_export(tmp_path))  # required personal fields come back blank
    assert len(back) == len(rows)


def test_export_refuses_a_non_empty_directory(store: ChronicleStore, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("analyst notes")
    with pytest.raises(ExportError, match="not empty"):
        export_events(store, tmp_path, fmt="parquet")
    assert (tmp_path / "keep.txt").exists()


def test_crm_export_command_writes_files_and_a_summary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRM_POSTGRES_URL", "CRM_MEMORY_STORE", "CRM_DATA_DIR", "CRM_KAFKA_BOOTSTRAP"):
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "data"
    seeded = ChronicleStore(env=Settings(data_dir=data_dir).event_store_env())
    generate_history(seeded, customers=20, now=NOW)
    customer = str(_stored(seeded)[0][1].customer_id)
    seeded.close()
    runner = CliRunner()
    result = runner.invoke(app, ["export", "--data-dir", str(data_dir), "--out",
                                 str(tmp_path / "out"), "--format", "parquet", "--from",
                                 "2024-06-01", "--customer", customer, "--no-personal"])
    assert result.exit_code == 0, result.output
    assert "exported" in result.output and "events/s" in result.output
    rows = duckdb.execute(f"SELECT DISTINCT customer_id, personal FROM read_parquet("
                      f"'{tmp_path}/out/**/*.parquet')").fetchall()
    assert rows == [(customer, None)]
    assert UUID(rows[0][0])

    bad = runner.invoke(app, ["export", "--data-dir", str(data_dir), "--out",
                              str(tmp_path / "bad"), "--type", "crm.nope"])
    assert bad.exit_code == 2 and "unknown event type" in bad.output


def test_the_summary_counts_every_stored_event_whatever_the_filter(
        store: ChronicleStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """"exported N events (of M stored)": M is the store's total, not what the filter read."""
    stored = len(store.recorder.select_notifications(start=1, limit=1_000_000))
    purchases = sum(1 for _, e in _stored(store) if e.event_type == "crm.purchase.recorded")
    assert 0 < purchases < stored

    summary = export_events(store, tmp_path / "lib", fmt="ndjson",
                            where=ExportFilter(types=frozenset({"crm.purchase.recorded"})))
    assert (summary.events, summary.stored) == (purchases, stored)

    for name in ("CRM_POSTGRES_URL", "CRM_MEMORY_STORE", "CRM_DATA_DIR", "CRM_KAFKA_BOOTSTRAP"):
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "data"
    small = ChronicleStore(env=Settings(data_dir=data_dir).event_store_env())
    generate_history(small, customers=20, now=NOW)
    stored = small.recorder.max_notification_id() or 0  # SQLite positions have no gaps
    purchases = sum(1 for _, e in _stored(small) if e.event_type == "crm.purchase.recorded")
    small.close()
    result = CliRunner().invoke(app, ["export", "--data-dir", str(data_dir), "--out",
                                      str(tmp_path / "cli"), "--type", "crm.purchase.recorded"])
    assert result.exit_code == 0, result.output
    assert f"exported {purchases:,} events (of {stored:,} stored)" in result.output
