"""Real services for the test session (DESIGN.md §9); under CI=true a missing one fails.
And a check after every test module that it left no command service's committer running."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from typing import NoReturn

import pytest

from services.command.service import CommandService
from services.common.event_store import open_event_store
from services.common.settings import Settings
from tests.harness.engines import new_postgres_schema
from tests.harness.services import ServiceUnavailable, provide_kafka, provide_postgres
from tests.waiting import eventually


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


@pytest.fixture
def closing() -> Iterator[ExitStack]:
    """Closes what a test hands it (`closing.callback(x.close)`), last first, when the test
    ends, however it ends."""
    with ExitStack() as stack:
        yield stack


@pytest.fixture
def open_commands(closing: ExitStack) -> Callable[[Settings], CommandService]:
    """Opens an event store and a command service on it (`service.store`); both are closed
    when the test ends."""

    def open_(settings: Settings) -> CommandService:
        store = open_event_store(settings)
        closing.callback(store.close)
        service = CommandService(store, settings)
        closing.callback(service.close)
        return service

    return open_


def _committer_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "group-commit" and t.is_alive()}


@pytest.fixture(scope="module", autouse=True)
def no_committer_outlives_its_module(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every command service (or group committer) a test module starts is closed by its own
    fixtures: a committer thread left running hides which test started it, and dozens of them
    once kept a busy machine busier for the tests after."""
    before = _committer_threads()
    yield
    eventually(lambda: not _committer_threads() - before, 10.0,
               lambda: f"{len(_committer_threads() - before)} group-commit thread(s) started by "
               f"{request.module.__name__} still run after it: close each command service in a "
               "fixture's teardown")
