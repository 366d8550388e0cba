"""No personal data in the logs: query values other than a few harmless ones are redacted in
the access log, and logged errors lose the messages that may quote a request."""

from __future__ import annotations

import io
import logging
import logging.config
from collections.abc import Iterator

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from services.common.log_privacy import (
    REDACTED,
    RedactExceptionValues,
    install,
    redact_query,
    uvicorn_log_config,
)
from services.common.web import install_error_handlers

EMAIL = "ada.lovelace+leak@example.com"


@pytest.mark.parametrize(("target", "logged"), [
    ("/v1/customers", "/v1/customers"),
    (f"/v1/customers?q={EMAIL}", f"/v1/customers?q={REDACTED}"),
    ("/v1/customers?q=ada%40example.com&limit=5&sort=name&order=asc",
     f"/v1/customers?q={REDACTED}&limit=5&sort=name&order=asc"),
    ("/v1/customers?cursor=WyJBZGEiLCAiMSJd&min_position=40",  # a cursor may hold a name
     f"/v1/customers?cursor={REDACTED}&min_position=40"),
    ("/v1/audit/access?subject=ada@example.com&from=2026-01-01",
     f"/v1/audit/access?subject={REDACTED}&from=2026-01-01"),
    ("/v1/customers?owner=ada&region=EU&tag=vip&email=x&phone=1",
     f"/v1/customers?owner={REDACTED}&region={REDACTED}&tag={REDACTED}&email={REDACTED}"
     f"&phone={REDACTED}"),
    (f"/v1/customers?{EMAIL}", f"/v1/customers?{REDACTED}"),  # a value in the name's place
    (f"/v1/customers?{EMAIL}=1&limit=2", f"/v1/customers?{REDACTED}&limit=2"),
    ("/v1/customers?q=&limit=", f"/v1/customers?q={REDACTED}&limit="),
    ("/v1/customers?as_of=2026-01-01T00:00:00%2B01:00&kind=lead&customer_id="
     "6a2ec81c-b024-4755-9c07-4ce0dc537015", "/v1/customers?as_of=2026-01-01T00:00:00%2B01:00"
     "&kind=lead&customer_id=6a2ec81c-b024-4755-9c07-4ce0dc537015"),
    (f"/v1/customers?limit={EMAIL}&sort=Ada%20Lovelace",  # shapes no valid value has
     f"/v1/customers?limit={REDACTED}&sort={REDACTED}"),
])
def test_query_values_are_redacted_except_harmless_ones(target: str, logged: str) -> None:
    assert redact_query(target) == logged


def test_a_refused_request_has_every_value_redacted() -> None:
    """A value refused by the API's validation (`sort=lovelace`) is not known to be harmless."""
    assert redact_query("/v1/customers?limit=5&sort=lovelace", accepted=False) \
        == f"/v1/customers?limit={REDACTED}&sort={REDACTED}"


@pytest.fixture
def uvicorn_logs() -> Iterator[io.StringIO]:
    """uvicorn's loggers configured as `crm serve` configures them, writing into a buffer."""
    config = uvicorn_log_config("info")
    for handler in config["handlers"].values():
        handler["stream"] = "ext://sys.stderr"
    out = io.StringIO()
    logging.config.dictConfig(config)
    for name in ("uvicorn", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            assert isinstance(handler, logging.StreamHandler)
            handler.setStream(out)
    yield out
    for name in ("uvicorn", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()


def test_uvicorns_access_line_keeps_the_path_without_the_search_term(
        uvicorn_logs: io.StringIO) -> None:
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET",
        f"/v1/customers?q={EMAIL}&limit=5", "1.1", 200)
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/v1/customers?sort=lovelace",
        "1.1", 422)
    line = uvicorn_logs.getvalue()
    assert f'"GET /v1/customers?q={REDACTED}&limit=5 HTTP/1.1" 200' in line
    assert f'"GET /v1/customers?sort={REDACTED} HTTP/1.1" 422' in line
    assert EMAIL not in line and "lovelace" not in line


class Person(BaseModel):
    email: int


def _failing_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/people")
    def people(body: dict[str, str]) -> dict[str, str]:
        try:
            Person.model_validate(body)  # a bug: raises pydantic's error, quoting the input
        except ValidationError as exc:
            raise LookupError(f"no person {body['email']}") from exc
        return {}

    return app


def test_a_failed_request_logs_types_and_places_but_no_message(
        uvicorn_logs: io.StringIO, caplog: pytest.LogCaptureFixture) -> None:
    handler = logging.StreamHandler(uvicorn_logs)
    install(handler)
    logging.getLogger("chronicle.http").addHandler(handler)
    try:
        with TestClient(_failing_app(), raise_server_exceptions=False) as client:
            answer = client.post("/people", json={"email": EMAIL})
            invalid = client.post("/people", json={"email": [EMAIL]})  # FastAPI's 422
    finally:
        logging.getLogger("chronicle.http").removeHandler(handler)
    assert answer.status_code == 500 and invalid.status_code == 422
    logged = uvicorn_logs.getvalue()
    assert "unhandled error on POST /people" in logged
    assert "Traceback (most recent call last)" in logged and "in people" in logged
    assert "LookupError: [message withheld" in logged
    assert logged.index("ValidationError: 1") < logged.index("The above exception was the "
                                                              "direct cause") \
        < logged.index("LookupError"), "oldest first, as Python prints a chain"
    assert "ValidationError: 1 validation error(s) for Person: email: int_parsing" in logged
    assert EMAIL not in logged


def _formatted(logger: str, exc: BaseException, message: str = "failed: %s") -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactExceptionValues())
    try:
        raise exc
    except BaseException as raised:
        record = logging.LogRecord(logger, logging.ERROR, __file__, 1, message, (raised,),
                                   exc_info=(type(raised), raised, raised.__traceback__))
    handler.handle(record)
    return out.getvalue()


def test_background_errors_keep_their_messages_unless_they_quote_data() -> None:
    outage = _formatted("chronicle.relay", ConnectionError("broker kafka-1:9093 refused"))
    assert outage.count("ConnectionError: broker kafka-1:9093 refused") == 2
    data_error = psycopg.errors.UniqueViolation(
        f'duplicate key value\nDETAIL:  Key (email)=({EMAIL}) already exists.')
    duplicate = _formatted("chronicle.projections", data_error)
    assert "UniqueViolation: [message withheld" in duplicate and EMAIL not in duplicate
