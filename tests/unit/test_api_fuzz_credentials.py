"""Schemathesis over every operation of the app `crm serve` runs (command and query routes):
without credentials every answer is 401; with an admin's key no input makes a write fail with
500. (The query routes with a key: tests/unit/test_query_api_fuzz.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from starlette.types import ASGIApp

from services.bootstrap import Chronicle, Parts
from services.common.auth.permissions import is_public
from services.common.settings import Settings
from services.projections.registry import NAMES
from tests.errors import error_shaped
from tests.harness.auth import bearer, keys_of
from tests.unit.test_query_api_fuzz import LifespanOwnedByTheFixture

EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ASGIApp, str]]:
    config = Settings(data_dir=Path(tmp_path_factory.mktemp("crm-data")),
                      read_wait_timeout_s=0.05)
    with Chronicle(config, Parts(commands=True, read_models=NAMES, queries=True)) as crm:
        app = crm.api()
        from fastapi.testclient import TestClient

        with TestClient(app) as client:
            token = keys_of(client.app).token(subject="fuzz", roles=["admin"])
            yield LifespanOwnedByTheFixture(app), token


@pytest.fixture(scope="module")
def schema(served: tuple[ASGIApp, str]) -> Any:
    app, _ = served
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def test_without_credentials_every_operation_answers_401(schema: Any) -> None:
    checked = 0
    for operation in operations(schema):
        if is_public(operation.method, operation.path):
            continue
        cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE))

        @given(case=cases)
        @settings(max_examples=10, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def only_401(case: Any) -> None:
            case.headers = {k: v for k, v in (case.headers or {}).items()
                            if k.lower() != "authorization"}
            response = case.call()
            assert response.status_code in (401, 413), (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text}")
            if response.status_code == 401:
                error_shaped(response, 401, "unauthorized")

        only_401()
        checked += 1
    assert checked >= 40


def test_with_an_admins_key_no_write_fails_with_500(schema: Any,
                                                    served: tuple[ASGIApp, str]) -> None:
    _, token = served
    writes = [op for op in operations(schema) if op.method.upper() != "GET"]
    assert len(writes) >= 25
    for operation in writes:
        cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE))

        @given(case=cases)
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def no_500(case: Any) -> None:
            response = case.call(headers=bearer(token))
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.body!r}: {response.text}")
            if response.status_code >= 400:
                error_shaped(response, response.status_code)

        no_500()


def test_a_business_time_without_a_utc_equivalent_is_refused_not_a_500(
        served: tuple[ASGIApp, str]) -> None:
    from fastapi.testclient import TestClient

    app, token = served
    client = TestClient(app)
    answer = client.post("/v1/customers", headers=bearer(token), json={
        "personal": {"name": "Ada"}, "occurred_at": "0001-01-01T00:00:00+00:01"})
    error_shaped(answer, 422, "invalid_request")
