"""`crm replay --to FILE.duckdb`: an export replayed into a standalone DuckDB gives exactly the
analytics of the read models built from the event store; lifecycle what-if thresholds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.common.event_store import ChronicleStore
from services.common.settings import Settings
from services.demo.history import generate_history
from services.projections.funnel.reads import read_funnel, read_sales
from services.projections.lifecycle.reads import LifecycleConfig, read_lifecycle_counts
from services.projections.offline.export import export_events
from services.projections.offline.standalone import (
    STANDALONE_MODELS,
    load_lifecycle_config,
    replay_to_duckdb,
    standalone_projections,
)
from services.projections.rebuild import rebuild_many
from services.projections.retention.reads import read_retention
from services.projections.service.reads import read_service
from services.projections.stores.duck import DuckReadStore

NOW = datetime(2026, 1, 1, tzinfo=UTC)
AS_OF = datetime(2025, 9, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, ChronicleStore]]:
    data_dir = tmp_path_factory.mktemp("replay-store")
    settings = Settings(data_dir=data_dir, kafka_bootstrap=None)
    store = ChronicleStore(env=settings.event_store_env())
    generate_history(store, customers=200, now=NOW)
    yield settings, store
    store.close()


@pytest.fixture(scope="module")
def live(history: tuple[Settings, ChronicleStore],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckReadStore]:
    """The models as production builds them: `rebuild_many` from the event store."""
    settings, store = history
    duck = DuckReadStore(tmp_path_factory.mktemp("live") / "live.duckdb")
    rebuild_many([(p, duck) for p in standalone_projections(STANDALONE_MODELS, settings)],
                 settings, source="store", event_store=store)
    yield duck
    duck.close()


def _figures(duck: DuckReadStore) -> dict[str, object]:
    return {
        "retention": {kind: read_retention(duck, activity=kind)
                      for kind in ("purchase", "interaction", "any")},
        "funnel": read_funnel(duck),
        "funnel_by_source": read_funnel(duck, group_by="source"),
        "funnel_by_month": read_funnel(duck, group_by="period", period="month"),
        "sales_by_owner": read_sales(duck, group_by="owner"),
        "sales_by_source": read_sales(duck, group_by="source"),
        "service": read_service(duck),
        "lifecycle": read_lifecycle_counts(duck, AS_OF),
    }


@pytest.mark.parametrize("fmt", ["parquet", "ndjson"])
def test_replayed_export_gives_the_live_retention_funnel_service_and_lifecycle(
        history: tuple[Settings, ChronicleStore], live: DuckReadStore, tmp_path: Path,
        fmt: str) -> None:
    settings, store = history
    export_events(store, tmp_path / "export", fmt=fmt)  # type: ignore[arg-type]
    results = replay_to_duckdb(tmp_path / "analyst.duckdb", settings, source="export",
                               export_dir=tmp_path / "export")
    assert {r.projection for r in results} == set(STANDALONE_MODELS)
    assert all(r.source == "export" and r.events > 2000 for r in results)
    replayed = DuckReadStore(tmp_path / "analyst.duckdb")
    try:
        figures = _figures(replayed)
        assert figures == _figures(live)
        cohorts = figures["retention"]["purchase"]["cohorts"]  # type: ignore[index]
        assert len(cohorts) > 12 and figures["funnel"]["stages"][0]["reached"] > 0  # type: ignore[index]
        sales: dict[str, Any] = figures["sales_by_owner"]  # type: ignore[assignment]
        assert sales["won"] > 0 and sales["won_amount"] and sales["open_value"]
    finally:
        replayed.close()


def test_lifecycle_config_replays_under_other_thresholds(
        history: tuple[Settings, ChronicleStore], tmp_path: Path) -> None:
    settings, store = history
    config_file = tmp_path / "what-if.toml"
    config_file.write_text("[lifecycle]\ndormant_days = 30\n")
    shorter = load_lifecycle_config(config_file)
    assert shorter == LifecycleConfig(dormant_days=30)
    counts = {}
    for name, config in (("default", None), ("what-if", shorter)):
        path = tmp_path / f"{name}.duckdb"
        replay_to_duckdb(path, settings, source="store", event_store=store,
                         names=("lifecycle",), lifecycle=config)
        duck = DuckReadStore(path)
        counts[name] = read_lifecycle_counts(duck, AS_OF)["counts"]
        duck.close()
    assert counts["what-if"]["dormant"] > counts["default"]["dormant"]
    assert sum(counts["what-if"].values()) == sum(counts["default"].values())

    config_file.write_text("dormant_dayz = 30\n")
    with pytest.raises(ValueError, match="unknown lifecycle setting"):
        load_lifecycle_config(config_file)


def test_crm_replay_to_a_file_from_an_export_keeps_the_in_place_replay_apart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRM_POSTGRES_URL", "CRM_MEMORY_STORE", "CRM_DATA_DIR", "CRM_KAFKA_BOOTSTRAP",
                 "CRM_ANALYTICS_PATH"):
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "data"
    seeded = ChronicleStore(env=Settings(data_dir=data_dir).event_store_env())
    generate_history(seeded, customers=20, now=NOW)
    seeded.close()
    runner = CliRunner()
    exported = runner.invoke(app, ["export", "--data-dir", str(data_dir), "--out",
                                   str(tmp_path / "export")])
    assert exported.exit_code == 0, exported.output
    (tmp_path / "what-if.toml").write_text("dormant_days = 60\nloyal_count = 2\n")
    replayed = runner.invoke(app, ["replay", "--data-dir", str(data_dir), "--to",
                                   str(tmp_path / "a.duckdb"), "--from-export",
                                   str(tmp_path / "export"), "--lifecycle-config",
                                   str(tmp_path / "what-if.toml")])
    assert replayed.exit_code == 0, replayed.output
    assert "funnel, retention, service, lifecycle" in replayed.output
    assert "dormant after 60 days, loyal at 2 buys" in replayed.output
    assert not (data_dir / "analytics.duckdb").exists()  # production models untouched
    duck = DuckReadStore(tmp_path / "a.duckdb")
    assert read_retention(duck)["cohorts"]
    duck.close()

    misuse = runner.invoke(app, ["replay", "--data-dir", str(data_dir), "--from-export",
                                 str(tmp_path / "export")])
    assert misuse.exit_code == 2 and "need --to" in misuse.output
