"""`crm seed`: the bulk history generator from the command line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.common.event_store import ChronicleStore

runner = CliRunner()


@pytest.fixture(autouse=True)
def _embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRM_POSTGRES_URL", "CRM_MEMORY_STORE", "CRM_DATA_DIR", "CRM_KAFKA_BOOTSTRAP"):
        monkeypatch.delenv(name, raising=False)


def _events_by_type(data_dir: Path) -> Counter[str]:
    store = ChronicleStore(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                "SQLITE_DBNAME": str(data_dir / "events.sqlite")})
    try:
        notifications = store.recorder.select_notifications(start=1, limit=100_000)
        return Counter(type(store.mapper.to_domain_event(n)).__name__ for n in notifications)
    finally:
        store.close()


def test_seed_writes_a_history_and_refuses_a_second_run_without_force(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = runner.invoke(app, ["seed", "--customers", "30", "--data-dir", str(data_dir)])
    assert first.exit_code == 0, first.output
    assert "30 customers" in first.output and "events by kind" in first.output

    kinds = _events_by_type(data_dir)
    assert kinds["CustomerRegistered"] == 30
    assert sum(kinds.values()) > 30 * 5, "a history, not just registrations"
    for kind in ("LeadCreated", "LeadStageChanged", "InteractionLogged", "PurchaseRecorded",
                 "TicketOpened"):
        assert kinds[kind] > 0, kind
    assert f"{sum(kinds.values()):,} events" in first.output

    second = runner.invoke(app, ["seed", "--customers", "30", "--data-dir", str(data_dir)])
    assert second.exit_code == 1
    assert "--force" in second.output
    assert _events_by_type(data_dir) == kinds, "nothing written by the refused run"

    # --force adds more, with a seed of its own (the default seed's ids exist already).
    forced = runner.invoke(app, ["seed", "--customers", "5", "--data-dir", str(data_dir),
                                 "--force"])
    assert forced.exit_code == 0, forced.output
    assert _events_by_type(data_dir)["CustomerRegistered"] == 35

    # A seed used before is refused plainly, and writes nothing.
    before = _events_by_type(data_dir)
    reused = runner.invoke(app, ["seed", "--customers", "5", "--data-dir", str(data_dir),
                                 "--force", "--seed", "7"])
    assert reused.exit_code == 1
    assert "pass another --seed" in reused.output
    assert _events_by_type(data_dir) == before


def test_seed_refuses_more_than_a_million_customers(tmp_path: Path) -> None:
    result = runner.invoke(app, ["seed", "--customers", "1000001", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert not (tmp_path / "events.sqlite").exists()
