"""Real services for the test session (DESIGN.md §9); under CI=true a missing one fails."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from typing import NoReturn

import pytest

from tests.harness.engines import new_postgres_schema
from tests.harness.services import ServiceUnavailable, provide_kafka, provide_postgres


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _provided(provide: Callable[[], AbstractContextManager[str]]) -> Iterator[str]:
    with ExitStack() as stack:
        try:
            address = stack.enter_context(provide())
        except ServiceUnavailable as exc:
            _unavailable(str(exc))
        yield address


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """postgresql://user:pass@host:port/db of a real server, usable by psycopg 3."""
    yield from _provided(provide_postgres)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """host:port of a real Kafka-protocol broker."""
    yield from _provided(provide_kafka)


@pytest.fixture
def fresh_postgres_schema(postgres_url: str) -> str:
    """A new, empty schema in the test database."""
    return new_postgres_schema(postgres_url)
