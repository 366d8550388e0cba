"""Erasure on the embedded stores (SQLite, DuckDB): tests/contract/erasure.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import Settings
from tests.contract.erasure import ErasureContract


class TestErasureOnSQLite(ErasureContract):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return Settings(data_dir=tmp_path / "crm-data", read_wait_timeout_s=30.0,
                        policies_enabled=False)
