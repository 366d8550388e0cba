"""The command API contract on a real PostgreSQL event store."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from services.common.settings import Settings
from tests.contract.command_api import CommandApiContract
from tests.contract.hostile_input import HostileInputContract


@pytest.mark.postgres
class TestCommandApiOnPostgres(CommandApiContract, HostileInputContract):
    @pytest.fixture
    def settings(self, postgres_url: str, fresh_postgres_schema: str) -> Settings:
        return Settings(postgres_url=SecretStr(postgres_url), postgres_schema=fresh_postgres_schema,
                        postgres_pool_size=8)
