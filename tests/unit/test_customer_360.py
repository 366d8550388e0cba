"""The customer-360 read model on SQLite, fed from the real event store through the commands.

`World` (a command service on a SQLite event store plus read stores and runners) is shared by
the timeline, lifecycle and PostgreSQL tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.command.domain.aggregate import CommandContext
from services.command.domain.alert import alert_id_for
from services.command.service import AlertSpec, CommandService, NewCustomer
from services.common.event_store import open_event_store
from services.common.events.customer import (
    CustomerErased,
    CustomerPersonal,
    CustomerRegistered,
)
from services.common.settings import Settings
from services.projections.customer_360.projection import Customer360Projection
from services.projections.customer_360.reads import (
    customer_360_as_of,
    open_document,
    read_customer_360,
)
from services.projections.lifecycle.projection import LifecycleProjection
from services.projections.model import ConsumedEvent, Projection, fold
from services.projections.runner import ProjectionRunner
from services.projections.sources import EventStoreSource
from services.projections.stores.base import ReadStore
from services.projections.stores.sql import SqlReadStore

T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)


def day(n: float, hours: float = 0) -> datetime:
    return T0 + timedelta(days=n, hours=hours)


class World:
    """Commands on a real SQLite event store, and runners that project it into read stores."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        settings = Settings(data_dir=tmp_path / "crm-data")
        self._opened = ExitStack()
        self.events = open_event_store(settings)
        self._opened.callback(self.events.close)
        self.service = CommandService(self.events, settings)
        self._opened.callback(self.service.close)

    def close(self) -> None:
        """Close the command service, the event store and the read stores `sqlite` opened."""
        self._opened.close()

    def ctx(self, at: datetime, actor: str = "rep-1") -> CommandContext:
        return CommandContext(actor=actor, tenant_id="default", occurred_at=at)

    def customer(self, at: datetime, name: str = "Ada Lovelace", **fields: Any) -> UUID:
        email = fields.pop("email", f"Ada.{uuid4().hex[:6]}@Example.com")
        new = NewCustomer(personal=CustomerPersonal(name=name, email=email), **fields)
        return UUID(self.service.register_customer(self.ctx(at), new).ids["customer_id"])

    def lead(self, customer_id: UUID, at: datetime, title: str = "Difference engine upgrade",
             amount: str | None = "100.00", currency: str | None = "EUR", source: str = "web",
             owner: str = "rep-1") -> UUID:
        result = self.service.create_lead(
            self.ctx(at), customer_id=customer_id, new_customer=None, title=title,
            amount=amount, currency=currency if amount else None, source=source, owner=owner)
        return UUID(result.ids["lead_id"])

    def walk(self, lead_id: UUID, to: str, at: datetime, step: timedelta = timedelta(hours=1)
             ) -> datetime:
        """Move a lead stage by stage up to `to` (won or an open stage); returns the last time."""
        path = ["contacted", "qualified", "proposal", "negotiation", "won"]
        for stage in path[: path.index(to) + 1]:
            self.service.change_lead_stage(self.ctx(at), lead_id, stage,
                                           budget_confirmed=True if stage == "qualified" else None)
            at += step
        return at - step

    def purchase(self, customer_id: UUID, at: datetime, amount: str = "10.00",
                 currency: str = "EUR") -> None:
        self.service.record_purchase(self.ctx(at), customer_id, amount=amount, currency=currency)

    def interaction(self, customer_id: UUID, at: datetime, channel: str = "call",
                    direction: str = "outbound", **fields: Any) -> None:
        self.service.log_interaction(self.ctx(at), customer_id, channel=channel,
                                     direction=direction, **fields)

    def sqlite(self, name: str = "read") -> SqlReadStore:
        store = SqlReadStore(sqlite_path=self.tmp_path / f"{name}.sqlite")
        self._opened.callback(store.close)
        return store

    def runner(self, projection: Projection, store: ReadStore) -> ProjectionRunner:
        projection.vault = self.events.vault
        return ProjectionRunner(projection, store, EventStoreSource(self.events), batch_size=50)

    def project(self, projection: Projection, store: ReadStore) -> ProjectionRunner:
        runner = self.runner(projection, store)
        runner.catch_up(max_idle_polls=1, timeout_s=0)
        return runner

    def consumed(self, customer_id: UUID, up_to: int | None = None) -> list[ConsumedEvent]:
        """Every event of the customer and its records, in store order (as the query side's
        point-in-time view gets them)."""
        history = self.service.log.customer_history(customer_id, "default") or []
        return [ConsumedEvent(0, e.position, e.position, e.event) for e in history
                if up_to is None or e.position <= up_to]

    def position(self) -> int:
        return self.service.log.max_position()


def table_rows(store: SqlReadStore, table: str) -> list[dict[str, Any]]:
    return sorted(store.query(f"SELECT * FROM {table}"), key=lambda r: str(r["id"]))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path)
    yield world
    world.close()


def doc_of(world: World, store: SqlReadStore, customer_id: UUID) -> dict[str, Any]:
    world.project(Customer360Projection(), store)
    doc = read_customer_360(store, str(customer_id), vault=world.events.vault)
    assert doc is not None
    return doc


def test_profile_tags_owner_and_consents_follow_their_events(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0), name="Ada Lovelace", email="Ada@Example.COM",
                         company="Analytical Engines Ltd", region="EMEA", industry="manufacturing",
                         source="referral", owner="rep-1", tags=["vip"])
    svc = world.service
    svc.tag_customer(world.ctx(day(1)), cid, "newsletter")
    svc.untag_customer(world.ctx(day(2)), cid, "vip")
    svc.change_customer_owner(world.ctx(day(3)), cid, "rep-7")
    svc.change_customer_consent(world.ctx(day(4)), cid, "email", True)
    svc.change_customer_profile(world.ctx(day(5)), cid, personal=CustomerPersonal(phone="+44 1"),
                                company="Difference Works", region=None, industry=None)
    doc = doc_of(world, store, cid)
    assert doc["customer_id"] == str(cid)
    assert doc["personal"] == {"name": "Ada Lovelace", "email": "Ada@Example.COM",
                               "phone": "+44 1"}
    assert (doc["company"], doc["region"], doc["owner"]) == ("Difference Works", "EMEA", "rep-7")
    assert doc["tags"] == ["newsletter"]
    assert doc["consents"] == {"email": True}
    assert doc["erased"] is False
    assert doc["timeline"] == []
    assert doc["version"] == 6  # six customer events; record links are bookkeeping
    assert doc["lifecycle_stage"] is None  # no lifecycle model in this store
    row = store.query("SELECT tenant_id, owner, region, source, company, created_at, search "
                      "FROM customer_360")[0]
    search = row.pop("search")
    assert row == {"tenant_id": "default", "owner": "rep-7", "region": "EMEA",
                   "source": "referral", "company": "Difference Works",
                   "created_at": "2024-01-01T09:00:00.000000+00:00"}
    # The search column holds blind tokens only: no name, address or number in clear.
    assert len(search.split()) > 10
    assert not any(word in search.lower() for word in ("lovelace", "example", "+44", "ada "))


def test_leads_keep_stage_amount_owner_and_outcome(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))  # no customer source: the first lead's is used
    won = world.lead(cid, day(1), title="Upgrade", amount="1200.00", source="event")
    lost = world.lead(cid, day(2), title="Pilot", amount="300.00", source="web")
    open_lead = world.lead(cid, day(3), title="Support", amount=None)
    svc = world.service
    svc.assign_lead(world.ctx(day(4)), won, "rep-7")
    svc.change_lead_amount(world.ctx(day(5)), won, "1500.50", "EUR")
    won_at = world.walk(won, "won", day(6))
    svc.receive_payment(world.ctx(day(10)), won, "500.25", "EUR")
    svc.receive_payment(world.ctx(day(11)), won, "0.25", "EUR")
    svc.change_lead_stage(world.ctx(day(12)), lost, "lost", reason="price")
    world.walk(open_lead, "contacted", day(13))
    doc = doc_of(world, store, cid)
    leads = {lead["lead_id"]: lead for lead in doc["leads"]}
    assert [lead["title"] for lead in doc["leads"]] == ["Upgrade", "Pilot", "Support"]
    assert {k: leads[str(won)][k] for k in ("stage", "status", "amount", "currency", "owner",
                                            "source", "closed_at", "paid")} == {
        "stage": "won", "status": "won", "amount": "1500.50", "currency": "EUR", "owner": "rep-7",
        "source": "event", "closed_at": won_at.isoformat(timespec="microseconds"),
        "paid": "500.50"}
    assert (leads[str(lost)]["status"], leads[str(lost)]["lost_reason"]) == ("lost", "price")
    assert (leads[str(open_lead)]["stage"], leads[str(open_lead)]["amount"]) == ("contacted", None)
    assert doc["lead_counts"] == {"open": 1, "won": 1, "lost": 1}
    assert store.query("SELECT source FROM customer_360") == [{"source": "event"}]


def test_purchase_totals_are_exact_decimal_sums_with_business_time_bounds(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))
    for n, amount in enumerate(["0.10", "0.20", "0.10", "19.99", "1000000.01"]):
        world.purchase(cid, day(10 + n), amount)
    world.purchase(cid, day(2), "0.0001")  # back-dated: arrives last, happened first
    purchases = doc_of(world, store, cid)["purchases"]
    assert purchases["total"] == "1000020.4001"  # floats would give 1000020.4000999999
    assert purchases["count"] == 6 and purchases["currency"] == "EUR"
    assert purchases["average"] == "166670.0667"
    assert purchases["first_at"] == day(2).isoformat(timespec="microseconds")
    assert purchases["last_at"] == day(14).isoformat(timespec="microseconds")

    world.purchase(cid, day(20), "5.00", "USD")
    purchases = doc_of(world, store, cid)["purchases"]
    assert purchases["by_currency"] == {"EUR": {"count": 6, "total": "1000020.4001"},
                                        "USD": {"count": 1, "total": "5.00"}}
    assert (purchases["total"], purchases["average"], purchases["currency"]) == (None, None, None)
    assert purchases["count"] == 7


def test_interactions_count_by_channel_and_last_contact_by_business_time(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))
    world.interaction(cid, day(5), "call", "inbound", subject="Hello", body="private notes")
    world.interaction(cid, day(7), "email", "outbound")
    world.interaction(cid, day(3), "call", "outbound")  # back-dated
    world.interaction(cid, day(6), "note", "internal")
    interactions = doc_of(world, store, cid)["interactions"]
    assert interactions["count"] == 4
    assert interactions["by_channel"] == {"call": 2, "email": 1, "note": 1}
    assert interactions["by_direction"] == {"inbound": 1, "outbound": 2, "internal": 1}
    assert interactions["last_at"] == day(7).isoformat(timespec="microseconds")
    assert interactions["first_at"] == day(3).isoformat(timespec="microseconds")
    assert interactions["last_inbound_at"] == day(5).isoformat(timespec="microseconds")


def test_tickets_count_open_ones_and_average_resolution(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))
    svc = world.service

    def ticket(at: datetime, subject: str) -> UUID:
        result = svc.open_ticket(world.ctx(at), cid, subject=subject, priority="high")
        return UUID(result.ids["ticket_id"])

    quick, reopened, waiting = (ticket(day(1), "Login"), ticket(day(2), "Invoice"),
                                ticket(day(3), "Delivery"))
    svc.change_ticket_status(world.ctx(day(1, hours=2)), quick, "resolved")
    svc.change_ticket_status(world.ctx(day(1, hours=3)), quick, "closed")
    svc.change_ticket_status(world.ctx(day(2, hours=1)), reopened, "resolved")
    svc.change_ticket_status(world.ctx(day(2, hours=2)), reopened, "open")  # becomes reopened
    svc.change_ticket_status(world.ctx(day(2, hours=6)), reopened, "resolved")
    svc.change_ticket_status(world.ctx(day(3, hours=1)), waiting, "pending")
    tickets = doc_of(world, store, cid)["tickets"]
    assert (tickets["open"], tickets["total"]) == (1, 3)
    # quick: 2 h; reopened: 1 h from opening to its first resolution, which a reopening does
    # not undo (the service analytics count it the same way)
    assert (tickets["resolution_seconds_sum"], tickets["resolved_count"]) == (3 * 3600, 2)
    assert tickets["avg_resolution_hours"] == 1.5
    assert [item["reopened"] for item in tickets["items"]] == [0, 1, 0]
    status = {item["subject"]: item["status"] for item in tickets["items"]}
    assert status == {"Login": "closed", "Invoice": "resolved", "Delivery": "pending"}
    assert tickets["items"][2]["first_response_seconds"] == 3600.0


def test_a_priority_change_moves_the_tickets_priority(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))
    svc = world.service
    escalated, calm = (UUID(svc.open_ticket(world.ctx(day(1)), cid, subject=subject,
                                            priority="normal").ids["ticket_id"])
                       for subject in ("Login", "Invoice"))
    svc.change_ticket_priority(world.ctx(day(1, 1)), calm, "low", reason="cosmetic")
    svc.record_sla_breach(world.ctx(day(2), "rule:sla"), escalated, sla="first_response",
                          target_seconds=3600, deadline=day(1, 1), raise_priority=True,
                          reassign_to=None, alert=None)
    items = {i["subject"]: i for i in doc_of(world, store, cid)["tickets"]["items"]}
    assert (items["Login"]["priority"], items["Login"]["sla_breached"]) == \
        ("high", ["first_response"])
    assert items["Invoice"]["priority"] == "low"


def test_a_pending_discount_shows_the_approver_it_waits_for(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))
    lead = world.lead(cid, day(1))
    svc = world.service
    small = svc.request_discount(world.ctx(day(2)), lead, "5").ids["discount_id"]
    assert _discount(world, store, cid) == {"discount_id": small, "percent": "5",
                                            "status": "applied", "approver": None}
    big = UUID(svc.request_discount(world.ctx(day(3)), lead, "25").ids["discount_id"])
    assert _discount(world, store, cid)["approver"] is None
    svc.request_discount_approval(world.ctx(day(3, 1), "rule:discounts"), lead, big, "maria",
                                  alert=None)
    assert _discount(world, store, cid) == {"discount_id": str(big), "percent": "25",
                                            "status": "pending", "approver": "maria"}
    svc.approve_discount(world.ctx(day(4), "maria"), lead, big)
    assert _discount(world, store, cid) == {"discount_id": str(big), "percent": "25",
                                            "status": "approved", "approver": "maria"}


def _discount(world: World, store: SqlReadStore, cid: UUID) -> dict[str, Any]:
    [lead] = doc_of(world, store, cid)["leads"]
    return lead["discount"]  # type: ignore[no-any-return]


def test_dormancy_and_alerts_leave_the_document_alone(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))
    lead = world.lead(cid, day(1))
    before = doc_of(world, store, cid)
    svc = world.service
    alert = alert_id_for(f"follow-up:{lead}")
    svc.mark_follow_up_overdue(
        world.ctx(day(10), "rule:follow-up"), lead, manager=None, days_without_contact=9,
        repeat=False, alert=AlertSpec(alert, "follow_up_overdue", ["rep-1"], "No contact"))
    svc.acknowledge_alert(world.ctx(day(11)), alert)
    svc.resolve_alert(world.ctx(day(12)), alert)
    svc.mark_customer_dormant(world.ctx(day(100), "rule:lifecycle"), cid,
                              last_activity_at=day(1), dormant_after_days=90)
    after = doc_of(world, store, cid)
    # only the follow-up flag (FollowUpOverdue) changed the document
    assert after["leads"][0]["follow_up_overdue"] is True
    assert after["version"] == before["version"] + 1
    after["leads"][0]["follow_up_overdue"] = False
    strip = ("version", "last_position", "updated_at")
    assert {k: v for k, v in after.items() if k not in strip} == \
        {k: v for k, v in before.items() if k not in strip}


def test_lifecycle_stage_comes_from_the_lifecycle_model_in_the_same_store(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))
    world.purchase(cid, day(1))
    world.project(LifecycleProjection(), store)
    world.project(Customer360Projection(), store)
    def stage(**options: Any) -> str | None:
        doc = read_customer_360(store, str(cid), **options)
        assert doc is not None
        return doc["lifecycle_stage"]  # type: ignore[no-any-return]

    assert stage(as_of=day(2)) == "customer"
    assert stage(as_of=day(200)) == "dormant"
    assert stage(lifecycle_stage="loyal") == "loyal"
    assert read_customer_360(store, str(uuid4())) is None


def _busy_customer(world: World) -> UUID:
    cid = world.customer(day(0), tags=["vip"], source="web", owner="rep-1")
    lead = world.lead(cid, day(1), amount="250.00")
    world.walk(lead, "qualified", day(2))
    world.interaction(cid, day(3), "meeting", "inbound")
    world.purchase(cid, day(4), "99.99")
    world.service.tag_customer(world.ctx(day(5)), cid, "newsletter")
    svc = world.service
    discount = UUID(svc.request_discount(world.ctx(day(5, 1)), lead, "30").ids["discount_id"])
    svc.request_discount_approval(world.ctx(day(5, 2), "rule:discounts"), lead, discount, "boss",
                                  alert=None)
    ticket = UUID(svc.open_ticket(world.ctx(day(5, 3)), cid, subject="Login",
                                  priority="low").ids["ticket_id"])
    svc.change_ticket_priority(world.ctx(day(5, 4)), ticket, "urgent")
    return cid


def test_point_in_time_fold_equals_the_live_document_at_that_position(world: World) -> None:
    store = world.sqlite()
    cid = _busy_customer(world)
    other = world.customer(day(1), name="Grace Hopper")
    world.purchase(other, day(2), "1.00")
    runner = world.project(Customer360Projection(), store)
    world.project(LifecycleProjection(), store)
    position = world.position()
    live_then = read_customer_360(store, str(cid), as_of=day(5), vault=world.events.vault)

    lead = world.lead(cid, day(6), title="Later deal")
    world.walk(lead, "won", day(7))
    world.purchase(cid, day(3), "0.01")  # back-dated, recorded after the snapshot position
    runner.catch_up(max_idle_polls=1, timeout_s=0)

    assert customer_360_as_of(world.consumed(cid, up_to=position), as_of=day(5)) == live_then
    world.project(LifecycleProjection(), store)
    assert customer_360_as_of(world.consumed(cid), as_of=day(9)) == \
        read_customer_360(store, str(cid), as_of=day(9), vault=world.events.vault)
    assert customer_360_as_of([]) is None


def opened_rows(world: World, store: SqlReadStore) -> list[dict[str, Any]]:
    return [{**row, "doc": open_document(store.from_db("json", row["doc"]), world.events.vault)}
            for row in table_rows(store, "customer_360")]


def test_rebuilding_from_scratch_into_a_fresh_store_gives_identical_rows(world: World) -> None:
    live = world.sqlite("live")
    runner = world.runner(Customer360Projection(), live)
    cid = _busy_customer(world)
    runner.catch_up(max_idle_polls=1, timeout_s=0)  # live: in several catch-ups
    world.purchase(cid, day(1), "3.33")
    world.customer(day(2), name="Grace Hopper")
    runner.catch_up(max_idle_polls=1, timeout_s=0)

    rebuilt = world.sqlite("rebuilt")
    world.project(Customer360Projection(), rebuilt)
    # Sealed values differ byte for byte (a fresh nonce each time); opened, they are the same.
    assert opened_rows(world, rebuilt) == opened_rows(world, live)
    assert len(table_rows(live, "customer_360")) == 2


def test_erasure_drops_personal_data_and_the_search_columns() -> None:
    cid = uuid4()
    envelope: dict[str, Any] = {
        "aggregate_id": cid, "customer_id": cid, "tenant_id": "default", "actor": "dpo",
        "occurred_at": T0, "recorded_at": T0, "correlation_id": uuid4()}
    registered = CustomerRegistered(event_id=uuid4(), aggregate_version=1, **envelope,
                                    personal=CustomerPersonal(name="Ada", email="a@x.org"))
    erased = CustomerErased(event_id=uuid4(), aggregate_version=2, **envelope, reason="request")
    events = [ConsumedEvent(0, 1, 1, registered), ConsumedEvent(0, 2, 2, erased)]
    doc = customer_360_as_of(events)
    assert doc is not None
    assert (doc["personal"], doc["erased"], doc["version"]) == ({}, True, 2)
    row = fold(Customer360Projection(), events).get("customer_360", str(cid))
    assert row is not None
    assert (row["search"], row["erased"]) == (None, True)
