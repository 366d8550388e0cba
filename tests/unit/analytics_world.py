"""The frame the analytics tests (funnel, retention, service levels) share.

Each test module writes its own seeded data set through the command service while a live
DuckDB read model follows in small batches, recounts the figures from the raw events and
compares. What they have in common lives here: the world they build, the runner, reading the
notification log, DuckDB's quantile_cont in plain Python, a tolerant deep comparison, and the
check that a rebuild into a fresh file equals the live read model.

Not a test module: pytest does not rewrite the asserts here, so they carry their own messages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from services.command.service import CommandService
from services.common.event_store import ChronicleStore, open_event_store
from services.common.events.envelope import CrmEvent
from services.common.settings import Settings
from services.projections.model import Projection
from services.projections.runner import ProjectionRunner
from services.projections.sources import EventStoreSource
from services.projections.stores.duck import DuckReadStore

CatchUp = Callable[[], None]
"""Feeds the live read model everything written so far."""

WriteDataSet = Callable[[CommandService, CatchUp], None]
"""Writes a data set through the command service, catching the read model up as it goes."""


@dataclass
class World:
    store: ChronicleStore
    live: DuckReadStore
    path: Path


def analytics_runner(projection: type[Projection], read_store: DuckReadStore,
                     store: ChronicleStore, batch_size: int = 2000) -> ProjectionRunner:
    return ProjectionRunner(projection(), read_store, EventStoreSource(store),
                            batch_size=batch_size, on_error="stop")


@contextmanager
def built_world(path: Path, projection: type[Projection], batch_size: int,
                write: WriteDataSet,
                commands: Callable[[ChronicleStore, Settings], CommandService] = CommandService,
                ) -> Iterator[World]:
    """An event store and command service in `path`, a live read model at path/a.duckdb fed
    by a runner of `batch_size`, and the data set `write` puts in; all of them are closed on
    the way out."""
    settings = Settings(data_dir=path)
    with ExitStack() as opened:
        store = open_event_store(settings)
        opened.callback(store.close)
        svc = commands(store, settings)
        opened.callback(svc.close)
        live = DuckReadStore(path / "a.duckdb")
        opened.callback(live.close)
        runner = analytics_runner(projection, live, store, batch_size=batch_size)

        def catch_up() -> None:
            runner.catch_up(max_idle_polls=1, timeout_s=0)

        write(svc, catch_up)
        yield World(store, live, path)


def assert_rebuild_equals_live(world: World, projection: type[Projection],
                               answers: Callable[[DuckReadStore], Any]) -> None:
    """Rebuild `projection` into a fresh DuckDB file: every table of the model holds the same
    rows as the live one, and `answers` (asking the read functions) gives the same answers."""
    fresh = DuckReadStore(world.path / "rebuild.duckdb")
    try:
        analytics_runner(projection, fresh, world.store).catch_up(max_idle_polls=1, timeout_s=0)
        assert projection.tables, projection
        for table in projection.tables:
            sql = f"SELECT * FROM {table.name} ORDER BY id"
            rebuilt, live = fresh.query(sql), world.live.query(sql)
            assert rebuilt == live, \
                f"{table.name}: {len(rebuilt)} rows rebuilt, {len(live)} live, differ"
        rebuilt_answers, live_answers = answers(fresh), answers(world.live)
        assert rebuilt_answers == live_answers, \
            f"rebuilt {rebuilt_answers!r}\n!= live {live_answers!r}"
    finally:
        fresh.close()


def all_events(store: ChronicleStore) -> list[CrmEvent]:
    events: list[CrmEvent] = []
    start = 1
    while notifications := store.recorder.select_notifications(start=start, limit=500):
        events += [cast(CrmEvent, store.mapper.to_domain_event(n)) for n in notifications]
        start = notifications[-1].id + 1
    return events


def quantile_cont(values: list[float], q: float) -> float | None:
    """Linear interpolation between the nearest ranks, as DuckDB's quantile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def assert_close(actual: Any, expected: Any, where: str = "") -> None:
    """`actual == expected`, all the way down, floats within 1e-6."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), \
            f"{where}: {actual!r} != {expected!r}"
        for key in expected:
            assert_close(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), \
            f"{where}: {actual!r} != {expected!r}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, abs=1e-6), f"{where}: {actual!r} != {expected!r}"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"
