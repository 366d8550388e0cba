"""The query API contract on the embedded composition (`crm serve` without PostgreSQL or
Kafka): SQLite events, SQLite and DuckDB read models, projectors following the store."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.bootstrap import Chronicle, Parts
from services.common.settings import Settings
from services.projections.registry import NAMES
from tests.contract.query_api import QueryApiContract, compose_serve
from tests.harness.auth import keys_of


class TestQueryApiEmbedded(QueryApiContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return Settings(data_dir=tmp_path_factory.mktemp("crm-data"), read_wait_timeout_s=3.0)


# -- the standalone query API (`crm query-api`) and the OpenAPI document -------------------------


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """(command API, standalone query API) sharing one embedded event store."""
    settings = Settings(data_dir=tmp_path / "crm-data", read_wait_timeout_s=5.0)
    with Chronicle(settings, Parts(commands=True)) as writing, \
            Chronicle(settings, Parts(read_models=NAMES), event_store=writing.store) as reading, \
            TestClient(writing.command_api(), raise_server_exceptions=False) as writer, \
            TestClient(reading.query_api(), raise_server_exceptions=False) as reader:
        keys = keys_of(writer.app)
        writer.headers.update(keys.headers(subject="rep-1"))
        reader.headers.update(keys.headers(subject="rep-1"))
        yield writer, reader


def test_standalone_query_api_serves_history_and_reads_its_writes(
        standalone: tuple[TestClient, TestClient]) -> None:
    writer, reader = standalone
    created = writer.post("/v1/customers", json={"personal": {"name": "Ada Lovelace"}}).json()
    customer = created["customer_id"]
    tagged = writer.post(f"/v1/customers/{customer}/tags", json={"tag": "gold"},
                         headers=keys_of(writer.app).headers(subject="manager-1")).json()
    history = reader.get(f"/v1/customers/{customer}/history")
    assert history.status_code == 200, history.text
    assert writer.get(f"/v1/customers/{customer}/history").status_code == 404  # reads only
    assert [e["actor"] for e in history.json()["events"]] == ["rep-1", "manager-1"]
    page = reader.get(f"/v1/customers/{customer}/history", params={"limit": 1}).json()
    assert page["next_after_position"] == created["position"]
    elsewhere = reader.get(f"/v1/customers/{customer}/history",
                           headers=keys_of(writer.app).headers("other", "rep-1"))
    assert elsewhere.status_code == 404 and elsewhere.json()["code"] == "not_found"
    doc = reader.get(f"/v1/customers/{customer}", params={"min_position": tagged["position"]})
    assert doc.status_code == 200 and doc.json()["tags"] == ["gold"]
    assert int(doc.headers["X-Projection-Position"]) >= tagged["position"]


def test_history_is_served_by_the_query_api_alone(
        standalone: tuple[TestClient, TestClient], tmp_path: Path) -> None:
    writer, reader = standalone
    command_doc = writer.get("/openapi.json").json()
    assert not [path for path in command_doc["paths"] if path.endswith("/history")
                and not path.startswith("/v1/rules")]
    assert not [path for path, operations in command_doc["paths"].items() if "get" in operations
                and path.startswith("/v1/customers")]
    with ExitStack() as stack:
        client, _ = compose_serve(stack, Settings(data_dir=tmp_path / "crm-data"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            document = client.get("/openapi.json").json()
    assert not [w for w in caught if "Duplicate Operation ID" in str(w.message)]
    history = document["paths"]["/v1/customers/{customer_id}/history"]["get"]
    assert history["tags"] == ["customers (read)"]


def _undocumented(openapi: dict[str, Any]) -> list[str]:
    problems = []
    for path, operations in openapi["paths"].items():
        get = operations.get("get")
        if not path.startswith("/v1/") or get is None:
            continue
        if not get.get("summary"):
            problems.append(f"{path}: no summary")
        responses = get.get("responses", {})
        if "200" not in responses and any(
                code.startswith("3") and answer.get("description")
                for code, answer in responses.items()):
            continue  # a browser redirect (sign-in with the identity provider), documented
        content = responses.get("200", {}).get("content", {})
        body = content.get("application/json") or content.get("text/event-stream", {})
        schema = body.get("schema", {})
        has_schema = "$ref" in schema or "properties" in schema or "items" in schema
        if not (has_schema or "example" in body or body.get("examples")):
            problems.append(f"{path}: no 200 response model or example")
    return problems


def test_every_query_route_documents_its_answer_in_openapi(
        standalone: tuple[TestClient, TestClient], tmp_path: Path) -> None:
    _, reader = standalone
    standalone_doc = reader.get("/openapi.json").json()
    with ExitStack() as stack:
        served, _ = compose_serve(stack, Settings(data_dir=tmp_path / "serve"))
        serve_doc = served.get("/openapi.json").json()
    for document in (standalone_doc, serve_doc):
        assert _undocumented(document) == []
        gets = {p for p, ops in document["paths"].items() if "get" in ops}
        assert {"/v1/customers", "/v1/customers/{customer_id}",
                "/v1/customers/{customer_id}/timeline", "/v1/customers/{customer_id}/history",
                "/v1/analytics/funnel", "/v1/analytics/lifecycle", "/v1/analytics/retention",
                "/v1/analytics/service", "/v1/analytics/sales", "/v1/projections"} <= gets


def test_the_openapi_check_notices_a_route_without_a_documented_answer() -> None:
    bare = {"paths": {"/v1/bare": {"get": {"summary": "", "responses": {"200": {
        "content": {"application/json": {"schema": {}}}}}}}}}
    assert _undocumented(bare) == ["/v1/bare: no summary",
                                   "/v1/bare: no 200 response model or example"]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00"])
def test_timeline_cursor_outside_the_calendar_or_without_zone_is_refused_not_a_500(
        standalone: tuple[TestClient, TestClient], moment: str) -> None:
    import base64
    import json

    writer, reader = standalone
    created = writer.post("/v1/customers", json={"personal": {"name": "Ada"}}).json()
    cursor = base64.urlsafe_b64encode(json.dumps([moment, 1]).encode()).decode().rstrip("=")
    answer = reader.get(f"/v1/customers/{created['customer_id']}/timeline",
                        params={"cursor": cursor, "min_position": created["position"]})
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_cursor"
