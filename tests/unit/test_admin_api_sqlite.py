"""The admin routes' contract (tests/contract/admin_api.py) on the embedded composition:
SQLite events, SQLite and DuckDB read models, projectors following the store."""

from __future__ import annotations

import pytest

from services.common.settings import Settings
from tests.contract.admin_api import AdminApiContract


class TestAdminApiEmbedded(AdminApiContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return Settings(data_dir=tmp_path_factory.mktemp("crm-data"), read_wait_timeout_s=5.0)
