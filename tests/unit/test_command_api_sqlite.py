"""The command API contract on the embedded SQLite event store."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import Settings
from tests.contract.command_api import CommandApiContract
from tests.contract.hostile_input import HostileInputContract


class TestCommandApiOnSQLite(CommandApiContract, HostileInputContract):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return Settings(data_dir=tmp_path / "crm-data")
