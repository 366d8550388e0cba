"""The leads read model's handlers on their own: what the HTTP contract (tests/contract/
leads_api.py) cannot reach through the commands, or only slowly — stays added up over moves
back and forth, back-dated contacts, a win without its stage change, the bounded page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.common.events.lead import LeadCreated, LeadWon
from services.projections.leads.projection import KEPT_ITEMS, LEADS, LeadsProjection
from services.projections.leads.reads import LeadFilter, PipelineTerms, list_leads, read_lead
from services.projections.model import ConsumedEvent, fold
from tests.unit.test_customer_360 import T0, World, day

DAY = 86400.0


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path)
    yield world
    world.close()


def page(world: World, lead_id: UUID, **options: Any) -> dict[str, Any]:
    store = world.sqlite()
    world.project(LeadsProjection(), store)
    found = read_lead(store, str(lead_id), "default", vault=world.events.vault, **options)
    assert found is not None
    return found


def test_stays_add_up_per_stage_and_a_back_dated_contact_moves_nothing_back(world: World
                                                                            ) -> None:
    cid = world.customer(day(0))
    lead = world.lead(cid, day(0))
    stage = world.service.change_lead_stage
    stage(world.ctx(day(1)), lead, "contacted")
    stage(world.ctx(day(2)), lead, "new")  # back: allowed, and recorded
    stage(world.ctx(day(4)), lead, "contacted")
    world.interaction(cid, day(5), lead_id=lead)
    world.interaction(cid, day(3), lead_id=lead)  # back-dated: last contact stays day 5
    found = page(world, lead, now=day(6), follow_up=PipelineTerms().window)
    assert [(s["stage"], s["seconds"], s["current"]) for s in found["stage_history"]] == [
        ("new", 1 * DAY, False), ("contacted", 1 * DAY, False), ("new", 2 * DAY, False),
        ("contacted", 2 * DAY, True)]
    assert found["time_in_stage"] == {"new": 3 * DAY, "contacted": 3 * DAY}
    assert found["stays"] == 4
    assert found["last_contact_at"] == "2024-01-06T09:00:00.000000+00:00"
    # the default window of 7 days from that contact
    assert found["next_follow_up_at"] == "2024-01-13T09:00:00.000000+00:00"


def test_a_win_without_its_stage_change_still_closes_the_lead() -> None:
    lead_id, customer_id = uuid4(), uuid4()
    envelope: dict[str, Any] = {
        "aggregate_id": lead_id, "customer_id": customer_id, "tenant_id": "default",
        "actor": "import:1", "correlation_id": uuid4(), "recorded_at": T0}
    created = LeadCreated(event_id=uuid4(), aggregate_version=1, occurred_at=T0, **envelope,
                          title="Imported", amount="10.00", currency="EUR")
    won = LeadWon(event_id=uuid4(), aggregate_version=2, occurred_at=day(3), **envelope,
                  amount="12.00", currency="EUR", discount_percent="5")
    row = fold(LeadsProjection(), [ConsumedEvent(0, 1, 1, created),
                                   ConsumedEvent(0, 2, 2, won)]).get(LEADS, str(lead_id))
    assert row is not None
    assert (row["stage"], row["status"], row["amount"], row["amount_e4"], row["reached"]) == (
        "won", "won", "12.00", 120000, " new won ")
    assert row["closed_at"] == "2024-01-04T09:00:00.000000+00:00"
    assert row["doc"]["time_in_stage"] == {"new": 3 * DAY}
    assert row["doc"]["won"] == {"amount": "12.00", "currency": "EUR", "discount_percent": "5"}


def test_the_page_keeps_the_latest_payments_and_totals_every_one(world: World) -> None:
    cid = world.customer(day(0))
    lead = world.lead(cid, day(0))
    paid = KEPT_ITEMS + 20
    for n in range(paid):
        world.service.receive_payment(world.ctx(day(1) + timedelta(minutes=n)), lead, "1.25",
                                      "EUR", reference=f"INV-{n}")
    payments = page(world, lead)["payments"]
    assert (payments["count"], payments["by_currency"]) == (paid, {"EUR": "150.00"})
    assert [p["reference"] for p in payments["items"]] == \
        [f"INV-{n}" for n in range(20, paid)]


def test_the_list_reads_each_lead_once_with_its_customer(world: World) -> None:
    ada = world.customer(day(0), name="Ada Lovelace")
    first, second = world.lead(ada, day(1)), world.lead(ada, day(2), title="Second")
    store = world.sqlite()
    world.project(LeadsProjection(), store)
    found = list_leads(store, LeadFilter(tenant_id="default"), vault=world.events.vault)
    assert [(item["lead_id"], item["customer_name"]) for item in found.items] == [
        (str(second), "Ada Lovelace"), (str(first), "Ada Lovelace")]
    assert found.next_after is None and found.total is None
    # the customer's name stays sealed in the store: only blind tokens are searchable
    stored = repr(store.query("SELECT * FROM lead_customers"))
    assert "Lovelace" not in stored and "Ada" not in stored
