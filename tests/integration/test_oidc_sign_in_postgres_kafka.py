"""Signing in at the identity provider (tests/contract/oidc_sign_in.py) on the production
engines: events, sessions and pending sign-ins in PostgreSQL, the relay publishing to a real
Kafka-protocol broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import Settings
from tests.contract.oidc_sign_in import OidcSignInContract
from tests.harness.engines import production_settings

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


class TestOidcSignInOnPostgresAndKafka(OidcSignInContract):
    @pytest.fixture(scope="class")
    @classmethod
    def base_settings(cls, postgres_url: str, kafka_bootstrap: str,
                      tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return production_settings(postgres_url, kafka_bootstrap,
                                   Path(tmp_path_factory.mktemp("crm-data")), "oidc-sign-in",
                                   postgres_pool_size=4, read_wait_timeout_s=5.0)
