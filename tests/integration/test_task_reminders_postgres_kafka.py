"""The task-reminder policy on the production engines: events and policy state in PostgreSQL,
the relay publishing to a real Kafka-protocol broker, the policy state fed by a consumer group
(tests/contract/task_reminders.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import Settings
from tests.contract.task_reminders import TaskRemindersContract
from tests.harness.engines import production_settings

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


class TestTaskRemindersOnPostgresAndKafka(TaskRemindersContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, postgres_url: str, kafka_bootstrap: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return production_settings(postgres_url, kafka_bootstrap,
                                   Path(tmp_path_factory.mktemp("crm-data")), "reminders",
                                   postgres_pool_size=4)

    @pytest.fixture
    def restart_settings(self, postgres_url: str, kafka_bootstrap: str,
                         tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return production_settings(postgres_url, kafka_bootstrap,
                                   Path(tmp_path_factory.mktemp("restarted")), "restarted",
                                   postgres_pool_size=4)
