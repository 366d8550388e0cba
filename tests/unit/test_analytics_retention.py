"""Retention cohorts, checked against a recount of the raw events in plain Python.

A seeded generator writes ~50 customers' purchases, won and lost leads and interactions through
the command service, back-dated over two years of business time (so they are all recorded
today), with owner and region changes; the read model follows in small batches.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from services.command.domain.aggregate import CommandContext
from services.command.domain.errors import RuleViolation
from services.command.service import CommandService, NewCustomer
from services.common.event_store import ChronicleStore
from services.common.events.customer import (
    CustomerOwnerChanged,
    CustomerPersonal,
    CustomerProfileChanged,
    CustomerRegistered,
)
from services.common.events.interaction import InteractionLogged
from services.common.events.lead import LeadWon
from services.common.events.purchase import PurchaseRecorded
from services.projections.retention.projection import RetentionProjection
from services.projections.retention.reads import read_retention
from tests.unit.analytics_world import (
    CatchUp,
    World,
    all_events,
    assert_rebuild_equals_live,
    built_world,
)

REGIONS = ("EMEA", "NA", "APAC")
SOURCES = ("web", "referral", "event")
OWNERS = ("rep-1", "rep-2", "rep-3")
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
WIN_PATH = ("contacted", "qualified", "proposal", "negotiation", "won")
IMPORTED_AT = datetime(2023, 6, 15, 9, 30, tzinfo=UTC)


# -- the data set -----------------------------------------------------------------------------

def _customer(svc: CommandService, rng: random.Random, number: int, tenant: str) -> None:
    clock = EPOCH + timedelta(seconds=rng.uniform(0, 500 * 86400))

    def ctx() -> CommandContext:
        nonlocal clock
        clock += timedelta(seconds=rng.uniform(3600, 25 * 86400))
        return CommandContext(actor="rep-1", tenant_id=tenant, occurred_at=clock)

    result = svc.register_customer(ctx(), NewCustomer(
        personal=CustomerPersonal(name=f"Customer {number}"), region=rng.choice(REGIONS),
        source=rng.choice((*SOURCES, None)), owner=rng.choice(OWNERS)))
    customer_id = UUID(result.ids["customer_id"])
    actions = ["purchase"] * rng.randint(0, 5) + ["interaction"] * rng.randint(0, 6) + \
        ["lead"] * rng.randint(0, 2) + ["owner", "region"] * rng.randint(0, 1)
    rng.shuffle(actions)
    for action in actions:
        if action == "purchase":
            svc.record_purchase(ctx(), customer_id, amount=f"{rng.randint(10, 900)}.00",
                                currency="EUR")
        elif action == "interaction":
            svc.log_interaction(ctx(), customer_id, channel=rng.choice(("call", "email")),
                                direction=rng.choice(("inbound", "outbound")))
        elif action == "owner":
            svc.change_customer_owner(ctx(), customer_id, rng.choice(OWNERS) + "-new")
        elif action == "region":
            with contextlib.suppress(RuleViolation):  # the same region again: no change
                svc.change_customer_profile(ctx(), customer_id, personal=None, company=None,
                                            region=rng.choice(REGIONS), industry=None)
        else:
            lead = svc.create_lead(ctx(), customer_id=customer_id, new_customer=None,
                                   title="Deal", amount="1000.00", currency="EUR")
            lead_id = UUID(lead.ids["lead_id"])
            won = rng.random() < 0.6
            for stage in WIN_PATH if won else ("contacted", "lost"):
                svc.change_lead_stage(ctx(), lead_id, stage, reason="price",
                                      budget_confirmed=True if stage == "qualified" else None)


def write_data_set(svc: CommandService, catch_up: CatchUp) -> None:
    rng = random.Random(424242)
    for batch in range(5):
        for number in range(10):
            _customer(svc, rng, batch * 10 + number, "default")
        catch_up()
    for number in range(5):
        _customer(svc, rng, 100 + number, "acme")
    # Recorded last, happened first: an imported order from mid-2023.
    imported = svc.register_customer(
        CommandContext(actor="import:1", tenant_id="default", occurred_at=IMPORTED_AT),
        NewCustomer(personal=CustomerPersonal(name="Imported"), region="NA"))
    svc.record_purchase(
        CommandContext(actor="import:1", tenant_id="default", occurred_at=IMPORTED_AT),
        UUID(imported.ids["customer_id"]), amount="99.00", currency="EUR", reference="ERP-1")
    catch_up()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with built_world(tmp_path_factory.mktemp("retention"), RetentionProjection, 41,
                     write_data_set) as built:
        yield built


# -- the recount ------------------------------------------------------------------------------

@dataclass
class CustomerStory:
    tenant: str
    region: str | None
    source: str | None
    owner: str | None
    activity: list[tuple[str, datetime]] = field(default_factory=list)


def stories(store: ChronicleStore) -> dict[UUID, CustomerStory]:
    customers: dict[UUID, CustomerStory] = {}
    kinds = {PurchaseRecorded: "purchase", LeadWon: "won", InteractionLogged: "interaction"}
    for event in all_events(store):
        if isinstance(event, CustomerRegistered):
            customers[event.customer_id] = CustomerStory(event.tenant_id, event.region,
                                                         event.source, event.owner)
        elif isinstance(event, CustomerProfileChanged) and event.region is not None:
            customers[event.customer_id].region = event.region
        elif isinstance(event, CustomerOwnerChanged):
            customers[event.customer_id].owner = event.to_owner
        elif type(event) in kinds:
            customers[event.customer_id].activity.append((kinds[type(event)], event.occurred_at))
    return customers


def month(moment: datetime) -> tuple[int, int]:
    utc = moment.astimezone(UTC)
    return utc.year, utc.month


def months_between(a: tuple[int, int], b: tuple[int, int]) -> int:
    return (b[0] - a[0]) * 12 + b[1] - a[1]


def recount(customers: list[CustomerStory], everyone: list[CustomerStory], kinds: set[str],
            first: tuple[int, int] | None = None, last_cohort: tuple[int, int] | None = None
            ) -> list[dict[str, Any]]:
    """Cohorts of `customers`; lists run to the last month of `everyone`'s activity."""
    last = max(month(at) for c in everyone for kind, at in c.activity if kind in kinds)
    cohorts: dict[tuple[int, int], list[set[tuple[int, int]]]] = {}
    for customer in customers:
        months = {month(at) for kind, at in customer.activity if kind in kinds}
        if months:
            cohorts.setdefault(min(months), []).append(months)
    out = []
    for cohort in sorted(cohorts):
        if (first and cohort < first) or (last_cohort and cohort > last_cohort):
            continue
        members = cohorts[cohort]
        retained = [sum(1 for months in members
                        if any(months_between(cohort, m) == k for m in months))
                    for k in range(months_between(cohort, last) + 1)]
        out.append({"cohort": f"{cohort[0]:04d}-{cohort[1]:02d}", "size": len(members),
                    "retained": retained,
                    "retained_pct": [round(100.0 * n / len(members), 2) for n in retained]})
    return out


KINDS = {"purchase": {"purchase", "won"}, "interaction": {"interaction"},
         "any": {"purchase", "won", "interaction"}}


# -- tests ------------------------------------------------------------------------------------

@pytest.mark.parametrize("activity", ["purchase", "interaction", "any"])
def test_cohort_matrices_match_a_recount_of_the_raw_events(world: World, activity: str) -> None:
    customers = [c for c in stories(world.store).values() if c.tenant == "default"]
    result = read_retention(world.live, activity=activity, tenant_id="default")  # type: ignore[arg-type]
    assert result["cohort"] == "month" and result["activity"] == activity
    expected = recount(customers, customers, KINDS[activity])
    assert result["cohorts"] == expected
    assert len(expected) > 12
    assert all(c["retained"][0] == c["size"] for c in result["cohorts"])


def test_business_time_not_load_time_decides_the_cohort(world: World) -> None:
    """Every event was recorded during this test run; the cohorts are the months the facts
    happened in, and a fact imported last with an old business time opens the first cohort."""
    recorded = {month(e.recorded_at) for e in all_events(world.store)}
    assert len(recorded) <= 2
    result = read_retention(world.live, activity="purchase", tenant_id="default")
    first = result["cohorts"][0]
    assert first["cohort"] == "2023-06" and first["size"] == 1  # the import, recorded last
    assert len(first["retained"]) > 24  # runs to the last month with purchases or wins
    assert len(result["cohorts"]) > 12


def test_start_and_end_select_cohorts_whose_month_overlaps_the_range(world: World) -> None:
    customers = [c for c in stories(world.store).values() if c.tenant == "default"]
    start = datetime(2024, 3, 20, tzinfo=UTC)   # March 2024 overlaps
    end = datetime(2025, 2, 1, tzinfo=UTC)      # February 2025 does not
    result = read_retention(world.live, activity="any", tenant_id="default", start=start,
                               end=end)
    expected = recount(customers, customers, KINDS["any"], (2024, 3), (2025, 1))
    assert result["cohorts"] == expected
    assert expected[0]["cohort"] == "2024-03" and expected[-1]["cohort"] == "2025-01"


def test_customer_filters_and_tenants_select_customers_by_their_current_attributes(
        world: World) -> None:
    everyone = list(stories(world.store).values())
    default = [c for c in everyone if c.tenant == "default"]
    cases: list[tuple[dict[str, Any], list[CustomerStory], list[CustomerStory]]] = [
        ({}, everyone, everyone),
        ({"tenant_id": "acme"}, [c for c in everyone if c.tenant == "acme"],
         [c for c in everyone if c.tenant == "acme"]),
        ({"tenant_id": "default", "region": "NA"}, [c for c in default if c.region == "NA"],
         default),
        ({"tenant_id": "default", "source": "web"}, [c for c in default if c.source == "web"],
         default),
        ({"owner": "rep-2-new"}, [c for c in everyone if c.owner == "rep-2-new"], everyone),
    ]
    for filters, selected, scope in cases:
        assert selected, filters
        result = read_retention(world.live, activity="purchase", **filters)
        assert result["cohorts"] == recount(selected, scope, KINDS["purchase"]), filters


def test_a_rebuild_into_a_fresh_duckdb_file_equals_the_live_read_model(world: World) -> None:
    assert {t.name for t in RetentionProjection.tables} == \
        {"retention_activity", "retention_customers"}
    assert_rebuild_equals_live(world, RetentionProjection, lambda read: {
        activity: read_retention(read, activity=activity)  # type: ignore[arg-type]
        for activity in ("purchase", "interaction", "any")})


def test_an_unknown_activity_is_refused(world: World) -> None:
    with pytest.raises(ValueError, match="activity"):
        read_retention(world.live, activity="visits")  # type: ignore[arg-type]
