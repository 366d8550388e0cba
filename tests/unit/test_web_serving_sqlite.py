"""The web app and the API docs in front of the embedded composition (`crm serve` without
PostgreSQL or Kafka)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.bootstrap import Chronicle, Parts
from services.common.settings import Settings
from services.projections.registry import NAMES
from tests.contract.web_serving import DOCS, INDEX, WebServingContract, stand_in_build
from tests.errors import error_shaped


class TestWebServingEmbedded(WebServingContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return Settings(data_dir=tmp_path_factory.mktemp("crm-data"), read_wait_timeout_s=5.0)


def test_crm_web_dir_names_the_build_and_each_command_serves_what_it_should(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`crm query-api` serves the app like `crm serve`; `crm command-api` only the docs."""
    build = stand_in_build(tmp_path / "elsewhere")
    monkeypatch.setenv("CRM_WEB_DIR", str(build))
    settings = Settings(data_dir=tmp_path / "crm-data")
    assert settings.web_dir == build
    with Chronicle(settings, Parts(commands=True)) as writing, \
            Chronicle(settings, Parts(read_models=NAMES, queries=True),
                      event_store=writing.store) as reading, \
            TestClient(reading.with_web_app(reading.query_api())) as query_api, \
            TestClient(writing.with_web_app(writing.command_api(), pages=False),
                       raise_server_exceptions=False) as command_api:
        assert query_api.get("/customers/1").text == INDEX
        assert query_api.get("/docs").text == DOCS
        error_shaped(query_api.get("/v1/me"), 401)
        error_shaped(command_api.get("/"), 401)
        error_shaped(command_api.get("/customers/1"), 401)
        assert command_api.get("/docs").text == DOCS
        error_shaped(command_api.get("/v1/me"), 401)
