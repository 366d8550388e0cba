"""The web app and the API docs in front of the production engines: events and read models
in PostgreSQL, the relay publishing to a real Kafka-protocol broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import Settings
from tests.contract.web_serving import WebServingContract
from tests.harness.engines import production_settings

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


class TestWebServingOnPostgresAndKafka(WebServingContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, postgres_url: str, kafka_bootstrap: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return production_settings(postgres_url, kafka_bootstrap,
                                   Path(tmp_path_factory.mktemp("crm-data")), "web",
                                   postgres_pool_size=4, read_wait_timeout_s=10.0)
