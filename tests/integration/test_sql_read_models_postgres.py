"""customer_360, timeline and lifecycle on a real PostgreSQL: the read functions answer exactly
as they do on SQLite (the event store stays SQLite; only the read store differs)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from services.projections.customer_360.projection import Customer360Projection
from services.projections.customer_360.reads import customer_360_as_of, read_customer_360
from services.projections.lifecycle.projection import LifecycleProjection
from services.projections.lifecycle.reads import (
    read_customer_stage,
    read_customer_transitions,
    read_lifecycle_counts,
    read_lifecycle_transitions,
)
from services.projections.stores.sql import SqlReadStore
from services.projections.timeline.projection import TimelineProjection
from services.projections.timeline.reads import read_timeline
from tests.unit import test_lifecycle, test_timeline
from tests.unit.test_customer_360 import World, day, opened_rows, table_rows

CONFIG = test_lifecycle.CONFIG


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path)
    yield world
    world.close()


def _answers(store: SqlReadStore, customers: list[str], world: World) -> dict[str, Any]:
    """Everything the read functions say about the book, in one comparable value (personal
    values opened: sealed, they differ byte for byte, a fresh nonce each time)."""
    vault = world.events.vault
    out: dict[str, Any] = {
        "counts": [read_lifecycle_counts(store, day(n)) for n in range(0, 300, 9)],
        "moves": read_lifecycle_transitions(store, day(10), day(200))}
    for cid in customers:
        pages = []
        cursor = None
        while True:
            items, cursor = read_timeline(store, cid, limit=3, before=cursor, vault=vault)
            pages.append(items)
            if cursor is None:
                break
        out[cid] = {
            "doc": read_customer_360(store, cid, as_of=day(100), vault=vault),
            "stage": read_customer_stage(store, cid, day(60)),
            "transitions": read_customer_transitions(store, cid),
            "timeline": pages,
            "ticket_kinds": read_timeline(store, cid, limit=10, kinds=["ticket", "tag"],
                                          vault=vault),
        }
    return out


def test_read_functions_answer_identically_on_postgres_and_sqlite(
        world: World, postgres_url: str, fresh_postgres_schema: str) -> None:
    book = test_lifecycle._random_book(world, random.Random(3), customers=12)
    customers = [*book, str(test_timeline._story(world))]
    sqlite = world.sqlite()
    postgres = SqlReadStore(postgres_url=postgres_url, schema=fresh_postgres_schema)
    try:
        for store in (sqlite, postgres):
            for projection in (Customer360Projection(), TimelineProjection(),
                               LifecycleProjection(CONFIG)):
                world.project(projection, store)
        on_postgres = _answers(postgres, customers, world)
        assert on_postgres == _answers(sqlite, customers, world)
        assert sum(on_postgres["counts"][-1]["counts"].values()) == len(customers)
        story = customers[-1]
        assert on_postgres[story]["doc"]["purchases"]["total"] == "99.90"
        # the point-in-time fold equals the live PostgreSQL document
        assert customer_360_as_of(world.consumed(UUID(story)), as_of=day(100),
                                  lifecycle_config=CONFIG) == \
            read_customer_360(postgres, story, as_of=day(100), vault=world.events.vault)
    finally:
        postgres.close()
        sqlite.close()


@pytest.mark.parametrize("projection_name", ["customer_360", "timeline", "lifecycle"])
def test_a_rebuild_on_postgres_equals_the_live_generation(
        world: World, postgres_url: str, fresh_postgres_schema: str, projection_name: str,
) -> None:
    projection = {"customer_360": Customer360Projection(), "timeline": TimelineProjection(),
                  "lifecycle": LifecycleProjection(CONFIG)}[projection_name]
    live = SqlReadStore(postgres_url=postgres_url, schema=fresh_postgres_schema)
    rebuilt = SqlReadStore(postgres_url=postgres_url, schema=fresh_postgres_schema + "_r")
    try:
        runner = world.runner(projection, live)
        rng = random.Random(8)
        test_lifecycle._random_book(world, rng, customers=3)
        runner.catch_up(max_idle_polls=1, timeout_s=0)
        test_timeline._story(world)
        test_lifecycle._random_book(world, rng, customers=3)
        runner.catch_up(max_idle_polls=1, timeout_s=0)
        world.project(projection, rebuilt)
        # Sealed values differ byte for byte (a fresh nonce each time); opened, they are the
        # same, and so is everything else.
        if projection_name == "customer_360":
            assert opened_rows(world, rebuilt) == opened_rows(world, live)
        for table in projection.tables:
            def comparable(store: SqlReadStore, name: str = table.name) -> list[dict[str, Any]]:
                return [{**row, "sealed": None, "doc": None} for row in table_rows(store, name)]

            assert comparable(rebuilt) == comparable(live)
        if projection_name == "timeline":
            for cid in {row["customer_id"] for row in table_rows(live, "timeline")}:
                assert read_timeline(rebuilt, cid, limit=200, vault=world.events.vault) == \
                    read_timeline(live, cid, limit=200, vault=world.events.vault)
    finally:
        live.close()
        rebuilt.close()
