"""The runner's guarantees on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.projections.stores.base import ReadStore
from services.projections.stores.sql import SqlReadStore
from tests.contract.projection_runner import ProjectionRunnerContract


@pytest.mark.postgres
class TestRunnerOnPostgres(ProjectionRunnerContract):
    @pytest.fixture
    def store(self, postgres_url: str, fresh_postgres_schema: str) -> Iterator[ReadStore]:
        store = SqlReadStore(postgres_url=postgres_url, schema=fresh_postgres_schema)
        yield store
        store.close()
