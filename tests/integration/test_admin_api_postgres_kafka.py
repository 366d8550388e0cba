"""The admin routes' contract (tests/contract/admin_api.py) on the production engines: events
and read models in PostgreSQL, the relay publishing to a real Kafka-protocol broker, projectors
in consumer groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import Settings
from tests.contract.admin_api import AdminApiContract
from tests.harness.engines import production_settings

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


class TestAdminApiOnPostgresAndKafka(AdminApiContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, postgres_url: str, kafka_bootstrap: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return production_settings(postgres_url, kafka_bootstrap,
                                   Path(tmp_path_factory.mktemp("crm-data")), "admin",
                                   postgres_pool_size=8, read_wait_timeout_s=5.0)
