"""The web app and the API docs served in front of the API, as `crm serve` serves them, written
once and run against each composition (embedded SQLite/DuckDB; PostgreSQL + Kafka).

The app's files here are a stand-in build (an index.html, a hashed asset, the docs page), so
these tests need neither Node nor a build; tests/unit/test_web_build.py serves the real one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.bootstrap import Chronicle, Parts
from services.common.settings import Settings
from services.common.web_app import WebFront
from services.projections.registry import NAMES
from tests.errors import error_shaped
from tests.harness.auth import keys_of

INDEX = ("<!doctype html><html><head><script type=\"module\" src=\"/assets/app-1a2b3c.js\">"
         "</script></head><body><div id=\"root\"></div></body></html>")
ASSET = "console.log('the app');\n"
DOCS = ("<!doctype html><html><head><link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\">"
        "</head><body><div id=\"swagger-ui\"></div><script src=\"/docs/swagger-ui-bundle.js\">"
        "</script><script src=\"/docs/docs.js\"></script></body></html>")


def stand_in_build(directory: Path) -> Path:
    (directory / "assets").mkdir(parents=True)
    (directory / "api-docs").mkdir()
    (directory / "index.html").write_text(INDEX)
    (directory / "favicon.svg").write_text("<svg xmlns=\"http://www.w3.org/2000/svg\"/>")
    (directory / "assets" / "app-1a2b3c.js").write_text(ASSET)
    (directory / "api-docs" / "index.html").write_text(DOCS)
    (directory / "api-docs" / "swagger-ui-bundle.js").write_text("window.SwaggerUIBundle = 1;")
    return directory


def policy(response: object) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: [sources]}."""
    header = response.headers["content-security-policy"]  # type: ignore[attr-defined]
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


class WebServingContract:
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls) -> Settings:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def served(cls, settings: Settings, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[TestClient, TestClient]]:
        """(the app with a stand-in build, the same API with no build at all)."""
        built = stand_in_build(tmp_path_factory.mktemp("dist"))
        unbuilt = tmp_path_factory.mktemp("no-dist") / "dist"
        settings = settings.model_copy(update={"web_dir": built})
        with ExitStack() as stack:
            crm = stack.enter_context(Chronicle(settings, Parts(
                commands=True, read_models=NAMES, relay=bool(settings.kafka_bootstrap),
                queries=True)))
            client = stack.enter_context(TestClient(crm.with_web_app(crm.api()),
                                                    raise_server_exceptions=False))
            bare = stack.enter_context(TestClient(WebFront(crm.api(), unbuilt),
                                                  raise_server_exceptions=False))
            yield client, bare

    @pytest.fixture
    def client(self, served: tuple[TestClient, TestClient]) -> TestClient:
        return served[0]

    def test_the_app_is_served_at_the_root_under_a_strict_policy(self, client: TestClient
                                                                 ) -> None:
        page = client.get("/")
        assert page.status_code == 200 and page.text == INDEX
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        rules = policy(page)
        assert rules["default-src"] == ["'self'"]
        assert rules["script-src"] == ["'self'"]  # no inline script, no eval
        assert rules["connect-src"] == ["'self'"]
        assert rules["frame-ancestors"] == ["'none'"]
        assert rules["object-src"] == ["'none'"]
        assert not [s for sources in rules.values() for s in sources if "unsafe" in s]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "same-origin"

    @pytest.mark.parametrize("path", ["/customers/6a2ec81c-b024-4755-9c07-4ce0dc537015",
                                      "/my-day", "/sign-in?next=/pipeline", "/index.html",
                                      "/v2/customers", "/docsearch"])
    def test_a_client_side_route_gets_the_app(self, client: TestClient, path: str) -> None:
        page = client.get(path)
        assert page.status_code == 200 and page.text == INDEX
        assert policy(page)["script-src"] == ["'self'"]
        assert client.head(path).status_code == 200

    def test_hashed_assets_are_cached_for_a_year(self, client: TestClient) -> None:
        asset = client.get("/assets/app-1a2b3c.js")
        assert asset.status_code == 200 and asset.text == ASSET
        assert "javascript" in asset.headers["content-type"]
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["x-content-type-options"] == "nosniff"
        again = client.get("/assets/app-1a2b3c.js", headers={"If-None-Match": asset.headers["etag"]})
        assert again.status_code == 304
        icon = client.get("/favicon.svg")
        assert icon.status_code == 200 and icon.headers["cache-control"] == "no-cache"

    def test_text_files_are_gzipped_for_a_browser_that_accepts_it(self, client: TestClient
                                                                  ) -> None:
        zipped = client.get("/assets/app-1a2b3c.js", headers={"Accept-Encoding": "gzip, br"})
        assert zipped.status_code == 200 and zipped.headers["content-encoding"] == "gzip"
        assert zipped.text == ASSET  # httpx decodes it: the bytes on the wire were gzip
        assert zipped.headers["vary"] == "Accept-Encoding"
        assert zipped.headers["etag"].startswith("W/")
        assert zipped.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert zipped.headers["content-security-policy"]
        plain = client.get("/assets/app-1a2b3c.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.text == ASSET
        assert plain.headers["vary"] == "Accept-Encoding"
        assert int(plain.headers["content-length"]) == len(ASSET.encode())
        again = client.get("/assets/app-1a2b3c.js", headers={
            "Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]})
        assert again.status_code == 304
        page = client.get("/my-day", headers={"Accept-Encoding": "gzip"})
        assert page.headers["content-encoding"] == "gzip" and page.text == INDEX
        head = client.head("/assets/app-1a2b3c.js", headers={"Accept-Encoding": "gzip"})
        assert head.status_code == 200 and "content-encoding" not in head.headers
        icon = client.get("/favicon.svg", headers={"Accept-Encoding": "gzip"})
        assert icon.headers["content-encoding"] == "gzip"

    @pytest.mark.parametrize("path", ["/assets/app-0000.js", "/assets/", "/assets/%2e%2e/index.html",
                                      "/assets/..%2findex.html", "/docs/nothing.js",
                                      "/docs/%2e%2e/index.html"])
    def test_a_missing_file_is_404_in_the_error_shape_never_the_app(
            self, client: TestClient, path: str) -> None:
        error_shaped(client.get(path), 404, "not_found")

    def test_the_api_answers_its_own_paths(self, client: TestClient) -> None:
        error_shaped(client.get("/v1/me"), 401, "unauthorized")
        error_shaped(client.get("/v1"), 401)
        error_shaped(client.get("/v1/no-such-route"), 401)
        assert client.get("/health").json() == {"status": "ok"}
        assert "/v1/customers" in client.get("/openapi.json").json()["paths"]
        headers = keys_of(client.app).headers(subject="rep-1")
        me = client.get("/v1/me", headers=headers)
        assert me.status_code == 200 and me.json()["subject"] == "rep-1"
        assert "content-security-policy" not in me.headers  # JSON, not the app's page
        created = client.post("/v1/customers", headers=headers,
                              json={"personal": {"name": "Ada Lovelace"}})
        assert created.status_code == 201, created.text
        body = created.json()
        read = client.get(f"/v1/customers/{body['customer_id']}", headers=headers,
                          params={"min_position": body["position"]})
        assert read.status_code == 200 and read.json()["personal"]["name"] == "Ada Lovelace"
        error_shaped(client.get("/v1/customers/not-a-uuid", headers=headers), range(400, 500))

    def test_unsafe_methods_outside_the_api_get_the_apis_refusal(self, client: TestClient
                                                                 ) -> None:
        error_shaped(client.post("/customers", json={}), 401)
        error_shaped(client.delete("/"), 401)

    def test_the_docs_are_served_offline_under_a_policy_of_their_own(self, client: TestClient
                                                                     ) -> None:
        page = client.get("/docs")
        assert page.status_code == 200 and page.text == DOCS
        rules = policy(page)
        assert rules["script-src"] == ["'self'"] and rules["connect-src"] == ["'self'"]
        assert rules["frame-ancestors"] == ["'none'"]
        assert not [s for sources in rules.values() for s in sources if "unsafe" in s]
        script = client.get("/docs/swagger-ui-bundle.js")
        assert script.status_code == 200 and "SwaggerUIBundle" in script.text
        moved = client.get("/redoc", follow_redirects=False)
        assert moved.status_code == 308 and moved.headers["location"] == "/docs"

    def test_without_a_build_every_page_says_how_to_build_it(
            self, served: tuple[TestClient, TestClient]) -> None:
        _, bare = served
        for path in ("/", "/customers/123", "/docs"):
            page = bare.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-type"].startswith("text/html")
            assert "npm run build --prefix services/web" in page.text
            assert page.headers["cache-control"] == "no-cache"
        error_shaped(bare.get("/assets/app-1a2b3c.js"), 404, "not_found")
        error_shaped(bare.get("/v1/me"), 401, "unauthorized")
        assert bare.get("/health").json() == {"status": "ok"}
