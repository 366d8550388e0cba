"""The runner's guarantees on the embedded stores: SQLite and DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.projections.stores.base import ReadStore
from services.projections.stores.duck import DuckReadStore
from services.projections.stores.sql import SqlReadStore
from tests.contract.projection_runner import ProjectionRunnerContract


class TestRunnerOnSQLite(ProjectionRunnerContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[ReadStore]:
        store = SqlReadStore(sqlite_path=tmp_path / "readmodels.sqlite")
        yield store
        store.close()


class TestRunnerOnDuckDB(ProjectionRunnerContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[ReadStore]:
        store = DuckReadStore(tmp_path / "analytics.duckdb")
        yield store
        store.close()
