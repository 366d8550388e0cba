"""Import into a real PostgreSQL event store: idempotent re-runs and interrupted runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.command.importing import import_file
from services.common.event_store import open_event_store
from services.common.settings import Settings
from tests.unit.test_import import PURCHASE_COLUMNS, _purchase_rows, _write_csv

pytestmark = pytest.mark.postgres


def test_import_into_postgres_is_idempotent_and_an_interrupted_run_completes(
    tmp_path: Path, postgres_url: str, fresh_postgres_schema: str
) -> None:
    store = open_event_store(Settings(postgres_url=postgres_url,
                                      postgres_schema=fresh_postgres_schema))
    try:
        path = _write_csv(tmp_path / "orders.csv", PURCHASE_COLUMNS, _purchase_rows(300, 40))
        partial = import_file(store, "purchases", path, batch_rows=50, max_batches=2)
        assert 0 < partial.imported < 300
        rest = import_file(store, "purchases", path, batch_rows=50)
        assert rest.imported + rest.already_imported == 300
        assert partial.imported + rest.imported == 300
        written = store.recorder.max_notification_id()
        again = import_file(store, "purchases", path, batch_rows=64)
        assert (again.imported, again.already_imported, again.events) == (0, 300, 0)
        assert store.recorder.max_notification_id() == written
    finally:
        store.close()
