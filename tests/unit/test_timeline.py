"""The timeline read model: one row per customer-facing fact, no personal data, keyset pages."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest

from services.projections.stores.base import iso
from services.projections.timeline import TimelineProjection, read_timeline
from tests.unit.test_customer_360 import World, day, table_rows


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def _story(world: World) -> UUID:
    cid = world.customer(day(0), name="Ada Lovelace", email="ada@example.com",
                         company="Analytical Engines Ltd", tags=["vip"])
    lead = world.lead(cid, day(1), title="Difference engine upgrade", amount="12000.00")
    world.walk(lead, "qualified", day(2))
    world.interaction(cid, day(3), "call", "inbound", subject="Budget call",
                      body="Her private phone number is 555-0100")
    ticket = UUID(world.service.open_ticket(world.ctx(day(4)), cid, subject="Cannot log in",
                                            priority="high").ids["ticket_id"])
    world.service.comment_on_ticket(world.ctx(day(4, 1), "agent-1"), ticket, "Secret reply body")
    world.purchase(cid, day(5), "99.90")
    world.service.tag_customer(world.ctx(day(6)), cid, "newsletter")
    return cid


def test_every_customer_facing_fact_is_one_row_with_a_readable_summary(world: World) -> None:
    store = world.sqlite()
    cid = _story(world)
    world.project(TimelineProjection(), store)
    items, cursor = read_timeline(store, str(cid), limit=100)
    assert cursor is None
    summaries = [item["summary"] for item in reversed(items)]
    assert summaries == [
        "Customer registered (Analytical Engines Ltd)",
        "Lead 'Difference engine upgrade' created (12000.00 EUR)",
        "Lead 'Difference engine upgrade' moved new → contacted",
        "Lead 'Difference engine upgrade' moved contacted → qualified",
        "Inbound call: Budget call",
        "Ticket 'Cannot log in' opened (high)",
        "First response on ticket 'Cannot log in' after 1.0 h",
        "Agent comment on ticket 'Cannot log in'",
        "Purchase of 99.90 EUR",
        "Tagged 'newsletter'",
    ]
    assert [item["kind"] for item in reversed(items)] == [
        "profile", "lead", "lead", "lead", "interaction", "ticket", "ticket", "ticket",
        "purchase", "tag"]
    newest = items[0]
    assert set(newest) == {"event_id", "customer_id", "tenant_id", "position", "occurred_at",
                           "recorded_at", "kind", "type", "actor", "aggregate_id", "summary",
                           "data"}
    assert (newest["type"], newest["actor"], newest["data"]) == \
        ("crm.customer.tagged", "rep-1", {"tag": "newsletter"})
    assert newest["occurred_at"] == iso(day(6))
    # no row for the five record links the commands stored
    assert store.query("SELECT COUNT(*) AS n FROM timeline")[0]["n"] == 10


def test_rows_hold_no_personal_data(world: World) -> None:
    store = world.sqlite()
    _story(world)
    world.project(TimelineProjection(), store)
    dumped = json.dumps(store.query("SELECT * FROM timeline"))
    for secret in ("Ada", "ada@example.com", "555-0100", "Secret reply body"):
        assert secret not in dumped
    assert "Budget call" in dumped  # a subject is not personal


def test_pages_walk_newest_first_without_gaps_or_repeats(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))
    for n in range(1, 12):
        world.interaction(cid, day(n), subject=f"touch {n}")
    world.interaction(cid, day(5), subject="same time, recorded later")  # a tie on occurred_at
    world.interaction(cid, day(0.5), subject="back-dated")
    world.project(TimelineProjection(), store)

    pages, cursor = [], None
    while True:
        items, cursor = read_timeline(store, str(cid), limit=4, before=cursor)
        pages.append(items)
        if cursor is None:
            break
    seen = [item for page in pages for item in page]
    assert [len(page) for page in pages] == [4, 4, 4, 2]
    keys = [(item["occurred_at"], item["position"]) for item in seen]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == 14
    subjects = [item["summary"] for item in seen]
    assert subjects.index("Outbound call: same time, recorded later") < \
        subjects.index("Outbound call: touch 5")
    assert subjects[-2:] == ["Outbound call: back-dated", "Customer registered"]

    calls, _ = read_timeline(store, str(cid), limit=50, kinds=["interaction"])
    assert len(calls) == 13 and {item["kind"] for item in calls} == {"interaction"}
    assert read_timeline(store, str(cid), limit=5, kinds=[]) == ([], None)
    assert read_timeline(store, "nobody", limit=5) == ([], None)


def test_rebuilding_from_scratch_gives_identical_rows(world: World) -> None:
    live = world.sqlite("live")
    runner = world.runner(TimelineProjection(), live)
    cid = _story(world)
    runner.catch_up(max_idle_polls=1, timeout_s=0)
    world.interaction(cid, day(1), subject="late")
    runner.catch_up(max_idle_polls=1, timeout_s=0)
    rebuilt = world.sqlite("rebuilt")
    world.project(TimelineProjection(), rebuilt)
    for table in ("timeline", "timeline_records"):
        assert table_rows(rebuilt, table) == table_rows(live, table)
