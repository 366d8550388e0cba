"""The real build of the web app (services/web/dist, built once if missing) as `crm serve`
serves it: every file the pages load comes from this server, and the API docs work offline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.bootstrap import Chronicle, Parts
from services.common.settings import Settings
from services.common.web_app import default_web_dir
from services.projections.registry import NAMES
from tests.contract.web_serving import policy
from tests.web_build import built_web_app

REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
EXTERNAL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+""", re.IGNORECASE)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    built_web_app()
    settings = Settings(data_dir=tmp_path_factory.mktemp("crm-data"))  # the default web dir
    with Chronicle(settings, Parts(commands=True, read_models=NAMES, queries=True)) as crm, \
            TestClient(crm.with_web_app(crm.api()), raise_server_exceptions=False) as client:
        yield client


def references(page: str) -> list[str]:
    return REFERENCE.findall(page)


def test_the_default_build_is_the_one_beside_the_package() -> None:
    assert default_web_dir() == Path(__file__).resolve().parents[2] / "services" / "web" / "dist"


def test_the_app_loads_only_its_own_hashed_files_and_no_inline_script(client: TestClient
                                                                      ) -> None:
    page = client.get("/")
    assert page.status_code == 200 and '<div id="root">' in page.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text), "an inline script"
    loaded = references(page.text)
    assert any(ref.startswith("/assets/") and ref.endswith(".js") for ref in loaded), loaded
    assert not [ref for ref in loaded if EXTERNAL.match(ref)], loaded
    for ref in loaded:
        file = client.get(ref)
        assert file.status_code == 200, ref
        if ref.startswith("/assets/"):
            assert file.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get("/customers/42").text == page.text
    assert policy(page)["script-src"] == ["'self'"]


def test_the_api_docs_are_swagger_ui_from_this_server(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and 'id="swagger-ui"' in page.text
    loaded = references(page.text)
    assert {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/docs.js"} <= set(loaded)
    assert not EXTERNAL.search(page.text), "the docs page names another host"
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text), "an inline script"
    for ref in loaded:
        assert client.get(ref).status_code == 200, ref
    assert "/openapi.json" in client.get("/docs/docs.js").text
    assert policy(page)["connect-src"] == ["'self'"]
