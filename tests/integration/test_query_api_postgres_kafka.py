"""The query API contract on the production engines: events and read models in PostgreSQL,
the relay publishing to a real Kafka-protocol broker, projectors in consumer groups, the
analytics in DuckDB — composed as `crm serve --postgres-url … --kafka-bootstrap …` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import Settings
from tests.contract.query_api import QueryApiContract
from tests.harness.engines import production_settings

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


class TestQueryApiOnPostgresAndKafka(QueryApiContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, postgres_url: str, kafka_bootstrap: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Settings:
        # The app lives for the whole class, so its schema and topic are made here, once.
        return production_settings(postgres_url, kafka_bootstrap,
                                   Path(tmp_path_factory.mktemp("crm-data")), "query",
                                   postgres_pool_size=8, read_wait_timeout_s=5.0)
