"""The automation policies on the embedded composition: SQLite events and policy state."""

from __future__ import annotations

import pytest

from services.common.settings import Settings
from tests.contract.policies import PoliciesContract


class TestPoliciesEmbedded(PoliciesContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return Settings(data_dir=tmp_path_factory.mktemp("crm-data"))
