"""The lifecycle read model: stages by business time, back-dated facts, dormancy, counts."""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from services.common.settings import Settings
from services.common.times import iso
from services.projections.lifecycle.projection import LifecycleProjection
from services.projections.lifecycle.reads import (
    customer_transitions_as_of,
    read_customer_stage,
    read_customer_transitions,
    read_lifecycle_counts,
    read_lifecycle_transitions,
)
from services.projections.lifecycle.stages import (
    STAGES,
    LifecycleConfig,
    empty_facts,
    stage_as_of,
    transitions,
)
from services.projections.stores.sql import SqlReadStore
from tests.unit.test_customer_360 import World, day, table_rows

CONFIG = LifecycleConfig(dormant_days=30, loyal_count=3, loyal_window_days=60)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path)
    yield world
    world.close()


def staged(world: World, store: SqlReadStore, cid: UUID) -> list[tuple[str, str]]:
    world.project(LifecycleProjection(CONFIG), store)
    return read_customer_transitions(store, str(cid))


def t(n: float, hours: float = 0) -> str:
    return iso(day(n, hours))


def test_config_comes_from_settings() -> None:
    settings = Settings(lifecycle_dormant_days=10, lifecycle_loyal_count=5,
                        lifecycle_loyal_window_days=20)
    projection = LifecycleProjection.from_settings(settings)
    assert (projection.config.dormant_days, projection.config.loyal_count,
            projection.config.loyal_window_days) == (10, 5, 20)


def test_transitions_is_a_pure_function_of_the_facts() -> None:
    facts = empty_facts() | {"registered_at": t(0), "engaged_at": t(2),
                             "buys": [t(20), t(30), t(40)], "touches": [t(3), t(75)]}
    assert transitions(facts, CONFIG) == [
        ("prospect", t(0)), ("engaged", t(2)), ("customer", t(20)), ("loyal", t(40)),
        ("dormant", t(70)), ("loyal", t(75)), ("dormant", t(105))]
    # back in after the buys fell out of the window: a plain customer again
    facts["touches"] = [t(3), t(200)]
    assert transitions(facts, CONFIG)[-2:] == [("customer", t(200)), ("dormant", t(230))]
    assert transitions(empty_facts(), CONFIG) == []


def test_prospect_is_engaged_by_a_qualified_lead_and_not_by_contact(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))
    lead = world.lead(cid, day(1))
    world.walk(lead, "contacted", day(2))
    world.interaction(cid, day(3), direction="outbound")
    assert staged(world, store, cid) == [("prospect", t(0))]
    world.service.change_lead_stage(world.ctx(day(4)), lead, "qualified", budget_confirmed=True)
    assert staged(world, store, cid) == [("prospect", t(0)), ("engaged", t(4))]


def test_an_inbound_interaction_engages_and_an_internal_note_does_nothing(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))
    world.interaction(cid, day(1), channel="note", direction="internal")
    world.interaction(cid, day(2), channel="chat", direction="inbound")
    assert staged(world, store, cid) == [("prospect", t(0)), ("engaged", t(2))]


def test_a_won_lead_makes_a_customer_and_repeat_buys_a_loyal_one(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))
    won_at = world.walk(world.lead(cid, day(1)), "won", day(2))
    world.purchase(cid, day(20))
    world.purchase(cid, day(80))  # 3 buys, but not within 60 days: still a customer
    assert staged(world, store, cid) == [
        ("prospect", t(0)), ("engaged", t(2, 1)), ("customer", iso(won_at)),
        ("dormant", t(50)), ("customer", t(80)), ("dormant", t(110))]
    world.purchase(cid, day(90))
    world.purchase(cid, day(95))
    assert staged(world, store, cid)[-2:] == [("loyal", t(95)), ("dormant", t(125))]


def test_a_back_dated_purchase_reorders_the_stages(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))
    world.interaction(cid, day(10), direction="inbound")
    world.purchase(cid, day(20))
    assert staged(world, store, cid) == [("prospect", t(0)), ("engaged", t(10)),
                                         ("customer", t(20)), ("dormant", t(50))]
    world.purchase(cid, day(5))  # recorded now, happened before the engagement
    # a customer from day 5; the inbound contact at day 10 and the purchase at 20 kept them active
    assert staged(world, store, cid) == [("prospect", t(0)), ("customer", t(5)),
                                         ("dormant", t(50))]
    rows = store.query("SELECT id, seq, from_stage, stage FROM lifecycle_transitions "
                       "ORDER BY seq")
    assert [(r["id"], r["from_stage"], r["stage"]) for r in rows] == [
        (f"{cid}:0", None, "prospect"), (f"{cid}:1", "prospect", "customer"),
        (f"{cid}:2", "customer", "dormant")]  # the surplus fourth row is gone


def test_dormant_comes_due_after_the_last_activity_and_goes_when_activity_resumes(
        world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))
    world.purchase(cid, day(1))
    world.interaction(cid, day(10))
    assert staged(world, store, cid)[-1] == ("dormant", t(40))
    assert read_customer_stage(store, str(cid), day(39)) == "customer"
    assert read_customer_stage(store, str(cid), day(40)) == "dormant"
    assert read_customer_stage(store, str(cid), day(-1)) is None
    world.interaction(cid, day(35))  # before the due date: never dormant then
    assert staged(world, store, cid) == [("prospect", t(0)), ("customer", t(1)),
                                         ("dormant", t(65))]
    world.interaction(cid, day(70))  # after it: dormant for a while, then back
    assert staged(world, store, cid)[-3:] == [("dormant", t(65)), ("customer", t(70)),
                                              ("dormant", t(100))]
    row = store.query("SELECT stage, stage_at, since FROM lifecycle_customers")[0]
    assert row == {"stage": "customer", "stage_at": t(70), "since": t(70)}


def test_the_fold_of_a_customers_events_equals_the_live_row(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))
    world.purchase(cid, day(3))
    world.interaction(cid, day(1), direction="inbound")
    world.project(LifecycleProjection(CONFIG), store)
    live = read_customer_transitions(store, str(cid))
    assert customer_transitions_as_of(world.consumed(cid), str(cid), CONFIG) == live


def _random_book(world: World, rng: random.Random, customers: int
                 ) -> dict[str, dict[str, Any]]:
    """Customers with facts written in shuffled business-time order; returns what was done."""
    book: dict[str, dict[str, Any]] = {}
    for _ in range(customers):
        start = rng.uniform(0, 60)
        cid = world.customer(day(start))
        facts: dict[str, Any] = {"registered": day(start), "engage": [], "buys": [],
                                 "touches": []}
        actions: list[tuple[float, str]] = [(rng.uniform(start - 5, start + 150), kind)
                                            for kind in rng.choices(
                                                ["purchase", "inbound", "outbound", "note"],
                                                k=rng.randint(0, 12))]
        rng.shuffle(actions)  # so that many of them arrive back-dated
        for when, kind in actions:
            at = day(when)
            if kind == "purchase":
                world.purchase(cid, at)
                facts["buys"].append(at)
            elif kind == "note":
                world.interaction(cid, at, channel="note", direction="internal")
            else:
                world.interaction(cid, at, direction=kind)
                facts["touches"].append(at)
                if kind == "inbound":
                    facts["engage"].append(at)
        if rng.random() < 0.3:
            lead = world.lead(cid, day(start + 1))
            won = rng.random() < 0.5
            last = world.walk(lead, "won" if won else "qualified", day(start + 2))
            qualified_at = day(start + 2) + timedelta(hours=1)
            facts["engage"].append(qualified_at)
            if won:
                facts["buys"].append(last)
                facts["touches"].append(last)
        book[str(cid)] = facts
    return book


def _reference_stage(facts: dict[str, Any], at: datetime, config: LifecycleConfig) -> str | None:
    """The stage at `at`, straight from the definitions (no transition list involved)."""
    dormant, window = timedelta(days=config.dormant_days), timedelta(days=config.loyal_window_days)
    known = [facts["registered"], *facts["engage"], *facts["buys"], *facts["touches"]]
    if at < min(known):
        return None
    buys = sorted(b for b in facts["buys"] if b <= at)
    if not buys:
        return "engaged" if any(e <= at for e in facts["engage"]) else "prospect"
    active = sorted({a for a in [*buys, *facts["touches"]] if buys[0] <= a <= at})
    if at >= active[-1] + dormant:
        return "dormant"
    spell = active[0]  # the current active spell starts after the last long gap
    for before, after in zip(active, active[1:], strict=False):
        if after > before + dormant:
            spell = after
    checkpoints = [spell, *(b for b in buys if b >= spell)]
    loyal = any(len(buys[: bisect_left(buys, c + timedelta(microseconds=1))])
                - bisect_left(buys, c - window) >= config.loyal_count for c in checkpoints)
    return "loyal" if loyal else "customer"


def test_counts_as_of_several_dates_equal_an_independent_computation(world: World) -> None:
    store = world.sqlite()
    book = _random_book(world, random.Random(11), customers=25)
    world.project(LifecycleProjection(CONFIG), store)
    for n in [*range(-7, 400, 7), 61.5]:
        at = day(n)
        expected = dict.fromkeys(STAGES, 0)
        for facts in book.values():
            stage = _reference_stage(facts, at, CONFIG)
            if stage is not None:
                expected[stage] += 1
        assert read_lifecycle_counts(store, at) == {"as_of": iso(at), "counts": expected}, n
    assert read_lifecycle_counts(store, day(400), tenant_id="other")["counts"] == \
        dict.fromkeys(STAGES, 0)


def test_transition_counts_between_two_dates(world: World) -> None:
    store = world.sqlite()
    for start in (0, 1):
        cid = world.customer(day(start))
        world.interaction(cid, day(start + 2), direction="inbound")
        world.purchase(cid, day(start + 3))
    world.customer(day(50))
    world.project(LifecycleProjection(CONFIG), store)
    assert read_lifecycle_transitions(store, day(1), day(34)) == {
        "start": t(1), "end": t(34), "transitions": [
            {"from": None, "to": "prospect", "count": 1},
            {"from": "customer", "to": "dormant", "count": 1},  # day 33 (34: the end, excluded)
            {"from": "engaged", "to": "customer", "count": 2},
            {"from": "prospect", "to": "engaged", "count": 2}]}


def test_the_rules_dormancy_event_changes_no_derived_stage(world: World) -> None:
    """CustomerBecameDormant comes when the rule happens to run, with the tenant's period (here
    10 days, not the model's 30): the stages stay derived from the activity alone."""
    store = world.sqlite()
    cid = world.customer(day(0))
    world.purchase(cid, day(1))
    world.interaction(cid, day(5))
    before = staged(world, store, cid)
    rows_before = table_rows(store, "lifecycle_customers")
    world.service.mark_customer_dormant(world.ctx(day(20), "rule:lifecycle"), cid,
                                        last_activity_at=day(5), dormant_after_days=10)
    assert staged(world, store, cid) == before == [("prospect", t(0)), ("customer", t(1)),
                                                   ("dormant", t(35))]
    assert table_rows(store, "lifecycle_customers") == rows_before  # not even rewritten
    assert read_customer_stage(store, str(cid), day(20)) == "customer"
    world.interaction(cid, day(12))  # back-dated activity the rule had not seen
    assert staged(world, store, cid)[-1] == ("dormant", t(42))
    assert customer_transitions_as_of(world.consumed(cid), str(cid), CONFIG) == \
        read_customer_transitions(store, str(cid))


def test_rebuilding_from_scratch_gives_identical_rows(world: World) -> None:
    live = world.sqlite("live")
    runner = world.runner(LifecycleProjection(CONFIG), live)
    rng = random.Random(5)
    book = _random_book(world, rng, customers=4)
    runner.catch_up(max_idle_polls=1, timeout_s=0)
    for cid in book:  # what the lifecycle rule records, interleaved with more history
        world.service.mark_customer_dormant(world.ctx(day(300), "rule:lifecycle"), UUID(cid),
                                            last_activity_at=day(200), dormant_after_days=90)
    _random_book(world, rng, customers=4)
    runner.catch_up(max_idle_polls=1, timeout_s=0)
    rebuilt = world.sqlite("rebuilt")
    world.project(LifecycleProjection(CONFIG), rebuilt)
    for table in ("lifecycle_customers", "lifecycle_transitions"):
        assert table_rows(rebuilt, table) == table_rows(live, table)


def test_stage_as_of_reads_a_transition_list() -> None:
    changes = [("prospect", t(0)), ("customer", t(5)), ("dormant", t(35))]
    assert stage_as_of(changes, day(-1)) is None
    assert stage_as_of(changes, day(5)) == "customer"
    assert stage_as_of(changes, t(34)) == "customer"
    assert stage_as_of(changes, day(400)) == "dormant"
