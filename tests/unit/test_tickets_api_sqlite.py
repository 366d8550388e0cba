"""The tickets contract on the embedded composition (`crm serve` without PostgreSQL or Kafka):
SQLite events and read models, projectors following the store."""

from __future__ import annotations

import pytest

from services.common.settings import Settings
from tests.contract.tickets_api import TicketsApiContract


class TestTicketsApiEmbedded(TicketsApiContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return Settings(data_dir=tmp_path_factory.mktemp("crm-data"), read_wait_timeout_s=5.0)
