"""The automation policies on the production engines: events and policy state in PostgreSQL,
the relay publishing to a real Kafka-protocol broker, the policy state fed by a consumer group."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import Settings
from tests.contract.policies import PoliciesContract
from tests.harness.engines import production_settings

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


class TestPoliciesOnPostgresAndKafka(PoliciesContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, postgres_url: str, kafka_bootstrap: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Settings:
        # The app lives for the whole class, so its schema and topic are made here, once.
        return production_settings(postgres_url, kafka_bootstrap,
                                   Path(tmp_path_factory.mktemp("crm-data")), "policies",
                                   postgres_pool_size=4)
