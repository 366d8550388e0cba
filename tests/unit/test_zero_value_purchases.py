"""Zero-value purchases (real histories hold them: CDNOW has 80) are imported and kept as facts,
and count as buying nowhere — one rule, PurchaseRecorded.is_buying, for every read model."""

from __future__ import annotations

from pathlib import Path

from services.command.importing import import_file
from services.common.event_store import open_event_store
from services.common.settings import Settings
from services.projections.lifecycle.projection import LifecycleProjection
from services.projections.lifecycle.reads import read_customer_stage
from services.projections.policy_state.projection import CUSTOMERS, PolicyStateProjection
from services.projections.runner import ProjectionRunner
from services.projections.sources import EventStoreSource
from services.projections.stores.sql import SqlReadStore


def test_an_imported_history_of_free_orders_makes_nobody_a_customer(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "crm-data")
    orders = tmp_path / "purchases.csv"
    orders.write_text("customer_ref,occurred_at,amount,currency,reference\n"
                      "C-1,2025-01-05,0.00,USD,ORD-1\n"
                      "C-1,2025-02-05,0,USD,ORD-2\n"
                      "C-1,2025-03-05,0.00,USD,ORD-3\n"
                      "C-2,2025-01-05,19.90,USD,ORD-4\n")
    store = open_event_store(settings)
    read_models = SqlReadStore(sqlite_path=tmp_path / "read.sqlite")
    try:
        summary = import_file(store, "purchases", orders, tenant_id="default")
        assert (summary.imported, summary.rejected) == (4, 0)  # kept as facts
        stored = [n for n in store.recorder.select_notifications(start=1, limit=1000)
                  if "Purchase" in n.topic]
        assert len(stored) == 4
        for projection in (LifecycleProjection(), PolicyStateProjection()):
            ProjectionRunner(projection, read_models, EventStoreSource(store),
                             on_error="stop").catch_up(max_idle_polls=1, timeout_s=0)
        customers = {row["id"]: row for row in read_models.query(
            f"SELECT id, buyer, active_at FROM {CUSTOMERS.name}")}
        stages = {cid: read_customer_stage(read_models, cid, "2025-04-01T00:00:00+00:00")
                  for cid in customers}
        assert sorted(stages.values()) == ["customer", "prospect"]
        free = next(cid for cid, stage in stages.items() if stage == "prospect")
        assert not customers[free]["buyer"] and customers[free]["active_at"] is None
    finally:
        read_models.close()
        store.close()
