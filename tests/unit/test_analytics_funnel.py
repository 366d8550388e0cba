"""The funnel analytics, checked against a recount of the raw events in plain Python.

A seeded generator drives ~50 customers' leads through the command service over two years of
business time: forward one stage at a time, back, skips (a pipeline that allows two), lost from
any open stage, won; owners change hands. The read model is fed live in small batches while
the data is written; every figure is recomputed independently from the event store.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from services.command.domain.aggregate import CommandContext
from services.command.domain.errors import RuleViolation
from services.command.domain.pipeline import Pipeline, TenantRules
from services.command.service import CommandService, NewCustomer
from services.common.event_store import ChronicleStore, open_event_store
from services.common.events.customer import CustomerPersonal
from services.common.events.lead import LeadAssigned, LeadCreated, LeadStageChanged
from services.common.settings import Settings
from services.projections.funnel.projection import FunnelProjection
from services.projections.funnel.reads import read_funnel
from services.projections.runner import ProjectionRunner
from services.projections.sources import EventStoreSource
from services.projections.stores.duck import DuckReadStore
from tests.unit.analytics_world import (
    CatchUp,
    World,
    all_events,
    assert_close,
    assert_rebuild_equals_live,
    built_world,
    quantile_cont,
)

STAGES = ("new", "contacted", "qualified", "proposal", "negotiation", "won")
SOURCES = ("web", "referral", "event", "partner")
OWNERS = ("rep-1", "rep-2", "rep-3")
REGIONS = ("EMEA", "NA", "APAC")
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
SKIPS = TenantRules(pipeline=Pipeline(skips=frozenset({("contacted", "proposal"),
                                                       ("qualified", "negotiation")})))


class SkippingCommands(CommandService):
    """The command service with a pipeline that allows two skips forward."""

    def rules_for(self, tenant_id: str) -> TenantRules:
        return SKIPS


# -- the data set -----------------------------------------------------------------------------

def _walk(svc: CommandService, rng: random.Random, tenant: str, customer_id: UUID,
          clock: datetime) -> None:
    def ctx(at: datetime) -> CommandContext:
        return CommandContext(actor=rng.choice(OWNERS), tenant_id=tenant, occurred_at=at)

    result = svc.create_lead(
        ctx(clock), customer_id=customer_id, new_customer=None, title="Deal",
        source=rng.choice((*SOURCES, None)), owner=rng.choice(OWNERS),
        region=rng.choice((*REGIONS, None)), amount=f"{rng.randint(1, 90) * 500}.00",
        currency="EUR")
    lead_id = UUID(result.ids["lead_id"])
    stage = "new"
    for _ in range(rng.randint(0, 12)):
        clock += timedelta(seconds=rng.uniform(600, 20 * 86400))
        if rng.random() < 0.1:
            with contextlib.suppress(RuleViolation):  # the same owner again: no change
                svc.assign_lead(ctx(clock), lead_id, rng.choice(OWNERS))
            continue
        moves = SKIPS.pipeline.allowed_moves(stage)
        forward = [m for m in moves if m not in ("lost",) and
                   (m == "won" or STAGES.index(m) > STAGES.index(stage))]
        back = [m for m in moves if m in STAGES and m != "won" and
                STAGES.index(m) < STAGES.index(stage)]
        roll = rng.random()
        if roll < 0.08:
            to = "lost"
        elif roll < 0.25 and back:
            to = rng.choice(back)
        else:
            to = rng.choice(forward)
        svc.change_lead_stage(ctx(clock), lead_id, to, reason="price" if to == "lost" else None,
                              budget_confirmed=True if to == "qualified" else None)
        stage = to
        if stage in ("won", "lost"):
            return


def generate(svc: CommandService, rng: random.Random, customers: int, tenant: str) -> None:
    for number in range(customers):
        clock = EPOCH + timedelta(seconds=rng.uniform(0, 650 * 86400))
        ctx = CommandContext(actor="rep-1", tenant_id=tenant, occurred_at=clock)
        customer = svc.register_customer(ctx, NewCustomer(
            personal=CustomerPersonal(name=f"Customer {number}"), region=rng.choice(REGIONS)))
        for _ in range(rng.randint(0, 3)):
            clock += timedelta(seconds=rng.uniform(3600, 30 * 86400))
            _walk(svc, rng, tenant, UUID(customer.ids["customer_id"]), clock)


def write_data_set(svc: CommandService, catch_up: CatchUp) -> None:
    rng = random.Random(20260101)
    for _ in range(5):  # the projection follows the writes in small batches
        generate(svc, rng, 10, "default")
        catch_up()
    generate(svc, rng, 6, "acme")
    catch_up()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with built_world(tmp_path_factory.mktemp("funnel"), FunnelProjection, 37, write_data_set,
                     SkippingCommands) as built:
        yield built


# -- the recount ------------------------------------------------------------------------------

@dataclass
class LeadStory:
    tenant: str
    source: str | None
    owner: str | None
    region: str | None
    created_at: datetime
    entries: list[tuple[str, datetime]] = field(default_factory=list)

    @property
    def last(self) -> str:
        return self.entries[-1][0]


def stories(store: ChronicleStore) -> dict[UUID, LeadStory]:
    leads: dict[UUID, LeadStory] = {}
    for event in all_events(store):
        if isinstance(event, LeadCreated):
            leads[event.aggregate_id] = LeadStory(
                event.tenant_id, event.source, event.owner, event.region, event.occurred_at,
                [(event.stage, event.occurred_at)])
        elif isinstance(event, LeadStageChanged):
            leads[event.aggregate_id].entries.append((event.to_stage, event.occurred_at))
        elif isinstance(event, LeadAssigned):
            leads[event.aggregate_id].owner = event.to_owner
    return leads


def is_subsequence(wanted: tuple[str, ...], seen: list[str]) -> bool:
    remaining = iter(seen)
    return all(stage in remaining for stage in wanted)


def recount(leads: list[LeadStory]) -> dict[str, Any]:
    stays: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for lead in leads:
        for (stage, entered), (_, left) in zip(lead.entries, lead.entries[1:], strict=False):
            if stage in stays:
                stays[stage].append((left - entered).total_seconds())
    reached = [sum(1 for lead in leads if stage in {s for s, _ in lead.entries})
               for stage in STAGES]
    out_stages = []
    for i, stage in enumerate(STAGES):
        nxt = reached[i + 1] if i + 1 < len(STAGES) else None
        out_stages.append({
            "stage": stage, "reached": reached[i],
            "reached_in_order": sum(1 for lead in leads
                                    if is_subsequence(STAGES[: i + 1], [s for s, _ in lead.entries])),
            "conversion_to_next": nxt / reached[i] if nxt is not None and reached[i] else None,
            "median_time_in_stage_s": quantile_cont(stays[stage], 0.5),
            "p90_time_in_stage_s": quantile_cont(stays[stage], 0.9),
        })
    won = [lead for lead in leads if lead.last == "won"]
    lost = [lead for lead in leads if lead.last == "lost"]
    return {
        "stages": out_stages,
        "win_rate": len(won) / (len(won) + len(lost)) if won or lost else None,
        "median_sales_cycle_s": quantile_cont(
            [(lead.entries[-1][1] - lead.created_at).total_seconds() for lead in won], 0.5),
    }


def without_groups(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "groups"}


# -- tests ------------------------------------------------------------------------------------

def test_every_funnel_figure_matches_a_recount_of_the_raw_events(world: World) -> None:
    leads = [lead for lead in stories(world.store).values() if lead.tenant == "default"]
    result = read_funnel(world.live, tenant_id="default")
    assert result["groups"] == []
    assert_close(without_groups(result), recount(leads))
    assert result["stages"][0]["reached"] == len(leads) > 50


def test_the_data_set_exercises_moves_back_skips_losses_and_wins(world: World) -> None:
    leads = list(stories(world.store).values())
    assert any(lead.last == "won" for lead in leads)
    assert any(lead.last == "lost" for lead in leads)
    stages = read_funnel(world.live)["stages"]
    assert any(s["reached_in_order"] < s["reached"] for s in stages), "no skipped stage"
    back = sum(1 for lead in leads for (a, _), (b, _) in zip(lead.entries, lead.entries[1:],
               strict=False) if a in STAGES and b in STAGES and STAGES.index(b) < STAGES.index(a))
    assert back > 5


def test_filters_select_leads_by_creation_time_source_owner_region_and_tenant(
        world: World) -> None:
    leads = list(stories(world.store).values())
    start, end = datetime(2024, 6, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)
    cases: list[tuple[dict[str, Any], list[LeadStory]]] = [
        ({}, leads),
        ({"tenant_id": "acme"}, [lead for lead in leads if lead.tenant == "acme"]),
        ({"start": start, "end": end}, [lead for lead in leads
                                        if start <= lead.created_at < end]),
        ({"source": "web"}, [lead for lead in leads if lead.source == "web"]),
        ({"owner": "rep-2", "region": "NA"},
         [lead for lead in leads if lead.owner == "rep-2" and lead.region == "NA"]),
    ]
    for filters, expected in cases:
        assert_close(without_groups(read_funnel(world.live, **filters)), recount(expected),
                     str(filters))


@pytest.mark.parametrize("group_by,period", [("source", "month"), ("owner", "month"),
                                             ("region", "month"), ("period", "month"),
                                             ("period", "quarter"), ("period", "week")])
def test_group_by_splits_match_the_recount_and_add_up_to_the_totals(
        world: World, group_by: str, period: str) -> None:
    leads = [lead for lead in stories(world.store).values() if lead.tenant == "default"]

    def key(lead: LeadStory) -> str | None:
        if group_by != "period":
            return getattr(lead, group_by)  # type: ignore[no-any-return]
        at = lead.created_at.astimezone(UTC)
        if period == "month":
            return f"{at:%Y-%m}"
        if period == "quarter":
            return f"{at.year}-Q{(at.month - 1) // 3 + 1}"
        iso = at.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"

    result = read_funnel(world.live, tenant_id="default", group_by=group_by,  # type: ignore[arg-type]
                            period=period)  # type: ignore[arg-type]
    owned = [lead for lead in leads if lead.owner == "rep-1"]
    by_owner_too = read_funnel(world.live, tenant_id="default", owner="rep-1",
                                  group_by=group_by, period=period)  # type: ignore[arg-type]
    for group in by_owner_too["groups"]:
        expected = recount([lead for lead in owned if key(lead) == group["key"]])
        assert_close({k: v for k, v in group.items() if k != "key"}, expected, "rep-1")
    keys = {key(lead) for lead in leads}
    assert [g["key"] for g in result["groups"]] == sorted(keys, key=lambda k: (k is None, k or ""))
    for group in result["groups"]:
        expected = recount([lead for lead in leads if key(lead) == group["key"]])
        assert_close({k: v for k, v in group.items() if k != "key"}, expected, str(group["key"]))
    for i, stage in enumerate(result["stages"]):
        for count in ("reached", "reached_in_order"):
            assert sum(g["stages"][i][count] for g in result["groups"]) == stage[count]


def test_a_rebuild_into_a_fresh_duckdb_file_equals_the_live_read_model(world: World) -> None:
    assert {t.name for t in FunnelProjection.tables} == {"funnel_leads", "funnel_stage_stays"}
    assert_rebuild_equals_live(world, FunnelProjection, lambda read: {
        group_by: read_funnel(read, group_by=group_by)  # type: ignore[arg-type]
        for group_by in (None, "source", "period")})


def test_an_empty_read_model_answers_with_zeros_and_nones(tmp_path: Path) -> None:
    empty = DuckReadStore(":memory:")
    ProjectionRunner(FunnelProjection(), empty, EventStoreSource(
        open_event_store(Settings(data_dir=tmp_path))))
    result = read_funnel(empty, group_by="owner")
    assert result["groups"] == [] and result["win_rate"] is None
    assert [s["reached"] for s in result["stages"]] == [0] * len(STAGES)
    assert result["stages"][0]["median_time_in_stage_s"] is None
