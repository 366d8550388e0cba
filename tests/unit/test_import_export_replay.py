"""The analyst's round trip: import a generated history, export it, replay the export into a
standalone DuckDB; the analytics equal those of the read models built from the store."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from services.command.importing import import_file
from services.common.event_store import ChronicleStore
from services.common.settings import Settings
from services.projections.funnel.reads import read_funnel
from services.projections.offline.export import export_events
from services.projections.offline.standalone import (
    STANDALONE_MODELS,
    replay_to_duckdb,
    standalone_projections,
)
from services.projections.rebuild import rebuild_many
from services.projections.retention.reads import read_retention
from services.projections.stores.duck import DuckReadStore
from tests.unit.test_import import (
    LEAD_COLUMNS,
    PURCHASE_COLUMNS,
    START,
    _purchase_rows,
    _write_csv,
)

PATH = ["contacted", "qualified", "proposal", "negotiation"]


def _lead_rows(count: int, customers: int, seed: int = 11) -> list[dict[str, str]]:
    """Leads over two years: some won, some lost, some still open, histories in time order."""
    rng = random.Random(seed)
    rows = []
    for number in range(count):
        created = START + timedelta(days=rng.uniform(0, 600))
        steps = PATH[: rng.randint(0, len(PATH))]
        outcome = rng.choice(["won", "lost", "open"])
        if outcome == "won" and len(steps) == len(PATH):
            steps = [*steps, "won"]
        elif outcome == "lost":
            steps = [*steps, "lost"]
        moment, history = created, []
        for stage in steps:
            moment += timedelta(days=rng.uniform(1, 20))
            history.append(f"{stage}@{moment.isoformat()}")
        rows.append({
            "customer_ref": f"ERP-{rng.randrange(customers):04d}", "lead_ref": f"L-{number}",
            "title": "Annual licence", "source": rng.choice(["web", "referral", "event"]),
            "region": rng.choice(["EMEA", "NA"]), "amount": f"{rng.randint(1, 90) * 500}",
            "currency": "EUR", "owner": rng.choice(["rep-1", "rep-2"]),
            "occurred_at": created.isoformat(), "stage_history": ";".join(history),
            "lost_reason": "price" if steps and steps[-1] == "lost" else "",
        })
    return rows


def test_imported_history_exported_and_replayed_gives_the_live_analytics(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", kafka_bootstrap=None)
    store = ChronicleStore(env=settings.event_store_env())
    try:
        purchases = import_file(store, "purchases", _write_csv(
            tmp_path / "orders.csv", PURCHASE_COLUMNS, _purchase_rows(600, 80)))
        leads = import_file(store, "leads", _write_csv(
            tmp_path / "leads.csv", LEAD_COLUMNS, _lead_rows(150, 80)))
        assert purchases.rejected == 0 and leads.rejected == 0
        assert purchases.imported == 600 and leads.imported == 150

        live = DuckReadStore(tmp_path / "live.duckdb")
        rebuild_many([(p, live) for p in standalone_projections(STANDALONE_MODELS, settings)],
                      settings, source="store", event_store=store)
        export_events(store, tmp_path / "export", fmt="parquet")
        replay_to_duckdb(tmp_path / "analyst.duckdb", settings, source="export",
                         export_dir=tmp_path / "export")
        replayed = DuckReadStore(tmp_path / "analyst.duckdb")
        try:
            for duck in (live, replayed):
                assert read_retention(duck, activity="purchase")["cohorts"]
            assert read_retention(replayed, activity="purchase") == \
                read_retention(live, activity="purchase")
            assert read_retention(replayed, activity="any") == \
                read_retention(live, activity="any")
            funnel = read_funnel(replayed, group_by="source")
            assert funnel == read_funnel(live, group_by="source")
            reached = {stage["stage"]: stage["reached"] for stage in funnel["stages"]}
            assert reached["new"] == 150 and 0 < reached["won"] < reached["contacted"]
            assert len(funnel["groups"]) == 3
            # Cohorts come from the imported business times, not from today's load time.
            first = read_retention(replayed, activity="purchase")["cohorts"][0]["cohort"]
            assert first == START.strftime("%Y-%m")
        finally:
            replayed.close()
            live.close()
    finally:
        store.close()
