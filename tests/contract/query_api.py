"""The query API's behaviour over HTTP, written once and run against each composition
(embedded SQLite/DuckDB; PostgreSQL + Kafka with the relay).

Writes go through the command API, reads through the query routes of the same app — composed
as `crm serve` composes them — with the write's `position` as `min_position`, so every read
sees its write without sleeping. The app is built once per class; each test works in a tenant
of its own, which keeps lists and analytics figures exact without cleaning up.

Subclasses provide a class-scoped `settings` fixture and may start a relay (`start_relay`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from services.bootstrap import Chronicle, Parts
from services.command.domain.aggregate import CommandContext
from services.command.service import AlertSpec
from services.common.settings import Settings
from services.projections.registry import NAMES
from services.query.read_models import ReadModels
from tests.errors import error_shaped
from tests.harness.auth import fastapi_app, keys_of

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
"""Business time of the scenarios: in the past, so every `occurred_at` is accepted."""
READY_TIMEOUT_S = 120.0
"""Bounded wait for the projectors' first catch-up (consumer-group joins on Kafka)."""


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> str:
    return (T0 + timedelta(days=days, hours=hours, minutes=minutes)).isoformat()


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def cursor_of(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


class Crm:
    """One tenant's view of the app: writes through the command API remember the latest
    position, reads pass it as `min_position` and check `X-Projection-Position`."""

    def __init__(self, client: TestClient, tenant: str) -> None:
        self.client, self.tenant = client, tenant
        self.keys = keys_of(client.app)
        self.position = 0

    def auth(self, actor: str = "rep-1", roles: tuple[str, ...] = ("admin",)) -> dict[str, str]:
        """Credentials of `actor` in this tenant."""
        return self.keys.headers(self.tenant, actor, roles)

    def post(self, path: str, body: Any = None, actor: str = "rep-1") -> dict[str, Any]:
        response = self.client.post(path, json=body, headers=self.auth(actor))
        assert response.status_code in (200, 201), response.text
        answer: dict[str, Any] = response.json()
        self.position = max(self.position, int(answer["position"]))
        return answer

    def customer(self, name: str = "Ada Lovelace", **fields: Any) -> str:
        personal = {"name": name, "email": f"{name.split()[0].lower()}@example.com"}
        body = {"personal": personal, "occurred_at": at(), **fields}
        return str(self.post("/v1/customers", body)["customer_id"])

    def lead(self, customer_id: str, occurred_at: str, **fields: Any) -> str:
        body = {"customer_id": customer_id, "title": "Difference engine upgrade",
                "amount": "12000.00", "currency": "EUR", "occurred_at": occurred_at, **fields}
        return str(self.post("/v1/leads", body)["lead_id"])

    def stage(self, lead_id: str, stage: str, occurred_at: str, **fields: Any) -> None:
        extra = {"budget_confirmed": True} if stage == "qualified" else {}
        self.post(f"/v1/leads/{lead_id}/stage",
                  {"stage": stage, "occurred_at": occurred_at, **extra, **fields})

    def purchase(self, customer_id: str, amount: str, occurred_at: str) -> None:
        self.post(f"/v1/customers/{customer_id}/purchases",
                  {"amount": amount, "currency": "EUR", "occurred_at": occurred_at})

    def interaction(self, customer_id: str, channel: str, occurred_at: str,
                    direction: str = "outbound") -> None:
        self.post(f"/v1/customers/{customer_id}/interactions",
                  {"channel": channel, "direction": direction, "occurred_at": occurred_at})

    def ticket(self, customer_id: str, priority: str, occurred_at: str) -> str:
        body = {"subject": "Printer on fire", "priority": priority, "occurred_at": occurred_at}
        return str(self.post(f"/v1/customers/{customer_id}/tickets", body)["ticket_id"])

    def get_raw(self, path: str, params: Any = None, headers: dict[str, str] | None = None
                ) -> Any:
        return self.client.get(path, params=params, headers={**self.auth(), **(headers or {})})

    def get(self, path: str, **params: Any) -> Any:
        """Read as of the latest write: 200, the write's position reached, the body."""
        response = self.get_raw(path, {**params, "min_position": self.position})
        assert response.status_code == 200, response.text
        assert int(response.headers["X-Projection-Position"]) >= self.position
        return response.json()


def compose_serve(stack: ExitStack, settings: Settings) -> tuple[TestClient, ReadModels]:
    """The app `crm serve` runs, without the policies: the command API with the query routes,
    every projector, and the relay when Kafka is configured."""
    crm = stack.enter_context(Chronicle(settings, Parts(
        commands=True, read_models=NAMES, relay=bool(settings.kafka_bootstrap), queries=True)))
    client = stack.enter_context(TestClient(crm.api(), raise_server_exceptions=False))
    return client, crm.reads


class QueryApiContract:
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls) -> Settings:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def client(cls, settings: Settings) -> Iterator[TestClient]:
        with ExitStack() as stack:
            client, read_models = compose_serve(stack, settings)
            # Readiness: one write in a tenant of its own, applied by every read model.
            warm_up = Crm(client, f"warmup-{uuid4().hex[:8]}")
            warm_up.customer()
            assert read_models.wait_for(NAMES, warm_up.position, READY_TIMEOUT_S), \
                "the projectors did not catch up"
            yield client

    @pytest.fixture
    def crm(self, client: TestClient) -> Crm:
        return Crm(client, f"t-{uuid4().hex[:12]}")

    # -- customer-360 -------------------------------------------------------------------------

    def test_customer_360_after_a_realistic_sequence_shows_every_part(self, crm: Crm) -> None:
        customer = crm.customer(company="Analytical Engines Ltd", region="EMEA", source="web",
                                owner="rep-7", tags=["vip"])
        lead = crm.lead(customer, at(1), owner="rep-7", source="web")
        for day, stage in enumerate(("contacted", "qualified", "proposal", "negotiation",
                                     "won"), start=2):
            crm.stage(lead, stage, at(day))
        other = crm.lead(customer, at(3), amount="500.00")
        crm.stage(other, "lost", at(4), reason="price")
        crm.purchase(customer, "100.00", at(8))
        crm.purchase(customer, "50.50", at(20))
        crm.interaction(customer, "call", at(2))
        crm.interaction(customer, "call", at(5))
        crm.interaction(customer, "email", at(21), direction="inbound")
        ticket = crm.ticket(customer, "high", at(10))
        crm.post(f"/v1/tickets/{ticket}/status", {"status": "resolved", "occurred_at": at(10, 6)})
        crm.post(f"/v1/customers/{customer}/tags", {"tag": "gold"})

        doc = crm.get(f"/v1/customers/{customer}")
        assert doc["customer_id"] == customer
        assert doc["personal"]["name"] == "Ada Lovelace"
        assert doc["company"] == "Analytical Engines Ltd" and doc["owner"] == "rep-7"
        assert sorted(doc["tags"]) == ["gold", "vip"]
        # a win and two purchases within a year made them loyal; months without a purchase
        # or an interaction since (judged as of now) made them dormant
        assert doc["lifecycle_stage"] == "dormant"
        leads = {item["lead_id"]: item for item in doc["leads"]}
        assert (leads[lead]["stage"], leads[lead]["amount"], leads[lead]["currency"],
                leads[lead]["owner"]) == ("won", "12000.00", "EUR", "rep-7")
        assert leads[other]["stage"] == "lost"
        purchases = doc["purchases"]
        assert (purchases["count"], purchases["total"], purchases["average"],
                purchases["currency"]) == (2, "150.50", "75.25", "EUR")
        assert moment(purchases["first_at"]) == moment(at(8))
        assert moment(purchases["last_at"]) == moment(at(20))
        interactions = doc["interactions"]
        assert interactions["count"] == 3
        assert interactions["by_channel"] == {"call": 2, "email": 1}
        assert moment(interactions["last_at"]) == moment(at(21))
        tickets = doc["tickets"]
        assert (tickets["open"], tickets["total"], tickets["avg_resolution_hours"]) == (0, 1, 6.0)
        times = [moment(entry["occurred_at"]) for entry in doc["timeline"]]
        assert 0 < len(times) <= 20 and times == sorted(times, reverse=True)
        history = crm.get_raw(f"/v1/customers/{customer}/history").json()["events"]
        facts = [e for e in history if e["type"] != "crm.customer.record_linked"]
        assert doc["version"] == len(facts)  # one per fact about the customer

    def test_lifecycle_stage_as_of_the_data_follows_the_customers_activity(self, crm: Crm
                                                                            ) -> None:
        now = datetime.now(UTC)
        buyer = crm.customer("Grace Hopper", occurred_at=(now - timedelta(days=3)).isoformat())
        crm.purchase(buyer, "10.00", (now - timedelta(days=2)).isoformat())
        prospect = crm.customer("Alan Turing", occurred_at=(now - timedelta(days=3)).isoformat())
        assert crm.get(f"/v1/customers/{buyer}")["lifecycle_stage"] == "customer"
        assert crm.get(f"/v1/customers/{prospect}")["lifecycle_stage"] == "prospect"

    def test_min_position_header_also_reads_the_write(self, crm: Crm) -> None:
        customer = crm.customer()
        crm.post(f"/v1/customers/{customer}/owner", {"owner": "rep-9"})
        response = crm.get_raw(f"/v1/customers/{customer}",
                               headers={"X-Min-Position": str(crm.position)})
        assert response.status_code == 200, response.text
        assert int(response.headers["X-Projection-Position"]) >= crm.position
        assert response.json()["owner"] == "rep-9"

    # -- the list -----------------------------------------------------------------------------

    def _three_customers(self, crm: Crm) -> dict[str, str]:
        ada = crm.customer("Ada Lovelace", company="Analytical Engines", owner="rep-1",
                           region="EMEA", source="web", tags=["vip"])
        grace = crm.customer("Grace Hopper", company="US Navy", owner="rep-2", region="NA",
                             source="referral")
        alan = crm.customer("Alan Turing", company="Bletchley Park", owner="rep-1",
                            region="EMEA", source="referral", tags=["vip", "research"])
        recent = datetime.now(UTC) - timedelta(days=1)
        crm.purchase(ada, "10.00", recent.isoformat())
        crm.interaction(alan, "email", recent.isoformat(), direction="inbound")
        return {"ada": ada, "grace": grace, "alan": alan}

    def test_list_filters_select_exactly_the_matching_customers(self, crm: Crm) -> None:
        ids = self._three_customers(crm)
        names = {v: k for k, v in ids.items()}

        def found(**params: Any) -> set[str]:
            page = crm.get("/v1/customers", **params)
            return {names[item["customer_id"]] for item in page["items"]}

        assert found() == {"ada", "grace", "alan"}
        assert found(owner="rep-1") == {"ada", "alan"}
        assert found(tag="vip") == {"ada", "alan"}
        assert found(tag="research") == {"alan"}
        assert found(region="NA") == {"grace"}
        assert found(source="referral") == {"grace", "alan"}
        assert found(owner="rep-1", source="referral") == {"alan"}
        assert found(q="HOPPER") == {"grace"}            # a word of the name, any case
        assert found(q="hop") == {"grace"}               # the start of a word
        assert found(q="grace hopper") == {"grace"}      # the whole name
        assert found(q="oppe") == set()                  # not the middle: names are sealed
        assert found(q="alan@example.com") == {"alan"}   # e-mail
        assert found(q="example.com") == {"ada", "grace", "alan"}  # its domain
        assert found(q="analytical") == {"ada"}          # company
        assert found(q="%") == set()                     # a wildcard is literal text
        assert found(lifecycle_stage="customer") == {"ada"}
        assert found(lifecycle_stage="engaged") == {"alan"}
        assert found(lifecycle_stage="prospect") == {"grace"}
        assert found(owner="nobody") == set()
        item = next(i for i in crm.get("/v1/customers", q="ada")["items"])
        assert (item["name"], item["email"], item["company"], item["owner"], item["region"],
                item["source"], item["lifecycle_stage"], item["tags"]) == (
            "Ada Lovelace", "ada@example.com", "Analytical Engines", "rep-1", "EMEA", "web",
            "customer", ["vip"])

    def test_list_keyset_pagination_walks_every_customer_once_in_each_sort_order(
            self, crm: Crm) -> None:
        people = [("Zoe Zeta", "Acme", 0), ("Bob Beta", None, 1), ("Cid Gamma", "Delta", 1),
                  ("Dan Delta", "Zenith", 2), ("Eve Epsilon", None, 3), ("Fay Phi", "Beta", 4),
                  ("Gus Gamma", "Corp", 4)]
        made = {crm.customer(name, company=company, occurred_at=at(day)): (name, company, day)
                for name, company, day in people}

        def walk(sort: str, order: str) -> list[str]:
            seen: list[str] = []
            cursor = None
            for _ in range(len(made) + 1):  # bounded: one page more than there are customers
                params: dict[str, Any] = {"sort": sort, "order": order, "limit": 2}
                if cursor is not None:
                    params["cursor"] = cursor
                page = crm.get("/v1/customers", **params)
                assert len(page["items"]) <= 2
                seen += [item["customer_id"] for item in page["items"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    return seen
            raise AssertionError("the cursor never ended")

        keys = {"name": lambda c: made[c][0].lower(), "company": lambda c: made[c][1] or "",
                "created_at": lambda c: at(made[c][2])}
        for sort in ("created_at", "company", "updated_at"):
            for order in ("asc", "desc"):
                seen = walk(sort, order)
                assert len(seen) == len(set(seen)) == len(made), (sort, order, seen)
                assert set(seen) == set(made)
                if sort in keys:
                    key = keys[sort]
                    values = [key(c) for c in seen]
                    assert values == sorted(values, reverse=order == "desc"), (sort, order)
                    ties = [(key(c), c) for c in seen]
                    for (k1, id1), (k2, id2) in zip(ties, ties[1:], strict=False):
                        if k1 == k2:  # ties are ordered by id in the same direction
                            assert (id1 < id2) == (order == "asc"), (sort, order)

    def test_list_include_total_counts_every_match_not_just_the_page(self, crm: Crm) -> None:
        self._three_customers(crm)
        page = crm.get("/v1/customers", limit=1, include_total="true")
        assert len(page["items"]) == 1 and page["total"] == 3 and page["next_cursor"]
        assert crm.get("/v1/customers", owner="rep-1", include_total="true")["total"] == 2
        assert crm.get("/v1/customers", limit=1)["total"] is None

    # -- the timeline -------------------------------------------------------------------------

    def test_timeline_pages_newest_first_and_filters_by_kind(self, crm: Crm) -> None:
        customer = crm.customer()
        for day in (1, 3, 5):
            crm.purchase(customer, "10.00", at(day))
        for day in (2, 4):
            crm.interaction(customer, "call", at(day))
        crm.ticket(customer, "low", at(6))
        everything = crm.get(f"/v1/customers/{customer}/timeline", limit=200)
        assert everything["next_cursor"] is None
        keys = [(moment(e["occurred_at"]), e["position"]) for e in everything["items"]]
        assert keys == sorted(keys, reverse=True)
        assert len({e["event_id"] for e in everything["items"]}) == len(keys)

        pages: list[dict[str, Any]] = []
        cursor = None
        for _ in range(len(keys) + 1):
            params: dict[str, Any] = {"limit": 2}
            if cursor is not None:
                params["cursor"] = cursor
            page = crm.get(f"/v1/customers/{customer}/timeline", **params)
            pages += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [e["event_id"] for e in pages] == [e["event_id"] for e in everything["items"]]

        purchases = crm.get(f"/v1/customers/{customer}/timeline", kind="purchase")["items"]
        assert [moment(e["occurred_at"]) for e in purchases] == [moment(at(d)) for d in (5, 3, 1)]
        assert {e["kind"] for e in purchases} == {"purchase"}
        both = crm.get(f"/v1/customers/{customer}/timeline", kind=["purchase", "interaction"])
        assert len(both["items"]) == 5

    # -- point in time ------------------------------------------------------------------------

    MEANINGFUL = ("personal", "company", "region", "owner", "tags", "leads", "lead_counts",
                  "purchases", "interactions", "tickets", "lifecycle_stage", "version")

    def test_as_of_business_time_equals_the_live_document_at_that_moment(self, crm: Crm
                                                                          ) -> None:
        customer = crm.customer(owner="rep-1", occurred_at=at(0))
        lead = crm.lead(customer, at(1))
        crm.stage(lead, "contacted", at(2))
        crm.purchase(customer, "40.00", at(3))
        crm.interaction(customer, "call", at(4))
        live_then = crm.get(f"/v1/customers/{customer}")
        crm.purchase(customer, "60.00", at(30))  # later business time
        crm.stage(lead, "qualified", at(31))
        crm.post(f"/v1/customers/{customer}/tags", {"tag": "gold", "occurred_at": at(32)})
        live_now = crm.get(f"/v1/customers/{customer}")
        assert live_now["purchases"]["count"] == 2

        past = crm.get(f"/v1/customers/{customer}", as_of=at(10))
        assert moment(past["as_of"]) == moment(at(10))
        for name in self.MEANINGFUL:
            if name == "lifecycle_stage":
                continue  # the live one is judged as of now, this one as of day 10
            assert past[name] == live_then[name], name
        assert past["purchases"]["count"] == 1 and past["tags"] == []
        assert moment(past["timeline"][0]["occurred_at"]) == moment(at(4))
        latest = crm.get(f"/v1/customers/{customer}", as_of=datetime.now(UTC).isoformat())
        for name in self.MEANINGFUL:
            assert latest[name] == live_now[name], name

    def test_as_of_recorded_shows_what_the_crm_knew_then_even_of_backdated_facts(
            self, crm: Crm) -> None:
        customer = crm.customer(occurred_at=at(0))
        crm.purchase(customer, "40.00", at(5))
        live_then = crm.get(f"/v1/customers/{customer}")
        between = datetime.now(UTC)
        crm.purchase(customer, "60.00", at(1))  # back-dated: earlier business time, recorded later
        recorded = crm.get(f"/v1/customers/{customer}", as_of_recorded=between.isoformat())
        for name in self.MEANINGFUL:
            if name != "lifecycle_stage":
                assert recorded[name] == live_then[name], name
        by_business_time = crm.get(f"/v1/customers/{customer}", as_of=at(2))
        assert by_business_time["purchases"]["count"] == 1
        assert by_business_time["purchases"]["total"] == "60.00"

    def test_as_of_before_the_customer_existed_is_404(self, crm: Crm) -> None:
        customer = crm.customer(occurred_at=at(5))
        response = crm.get_raw(f"/v1/customers/{customer}",
                               {"as_of": at(1), "min_position": crm.position})
        error_shaped(response, 404, "not_found")

    def test_as_of_and_as_of_recorded_together_are_refused(self, crm: Crm) -> None:
        customer = crm.customer()
        response = crm.get_raw(f"/v1/customers/{customer}",
                               {"as_of": at(1), "as_of_recorded": at(1)})
        error_shaped(response, 422)

    # -- audit history ------------------------------------------------------------------------

    def test_history_lists_every_event_of_the_customer_in_store_order(self, crm: Crm) -> None:
        customer = crm.customer()
        crm.purchase(customer, "10.00", at(1))
        crm.post(f"/v1/customers/{customer}/tags", {"tag": "gold"}, actor="manager-1")
        response = crm.get_raw(f"/v1/customers/{customer}/history")
        assert response.status_code == 200, response.text
        events = response.json()["events"]
        assert [e["type"] for e in events] == [
            "crm.customer.registered", "crm.purchase.recorded", "crm.customer.record_linked",
            "crm.customer.tagged"]
        assert events[-1]["position"] == crm.position and events[-1]["actor"] == "manager-1"
        first = crm.get_raw(f"/v1/customers/{customer}/history", {"limit": 2}).json()
        rest = crm.get_raw(f"/v1/customers/{customer}/history",
                           {"after_position": first["next_after_position"]}).json()
        assert first["events"] + rest["events"] == events
        assert rest["next_after_position"] is None

    def test_history_shows_what_each_event_changed_field_by_field(self, crm: Crm) -> None:
        customer = crm.customer(owner="rep-1", company="Engines Ltd", occurred_at=at(0))
        lead = crm.lead(customer, at(1))
        crm.stage(lead, "contacted", at(2))
        crm.post(f"/v1/customers/{customer}/profile",
                 {"company": "Analytical Engines", "occurred_at": at(3),
                  "personal": {"email": "countess@example.com"}}, actor="manager-1")
        crm.post(f"/v1/customers/{customer}/tags", {"tag": "gold", "occurred_at": at(4)})
        events = crm.get_raw(f"/v1/customers/{customer}/history").json()["events"]
        changes = {e["type"]: {c["field"]: (c["before"], c["after"]) for c in e["changes"]}
                   for e in events}
        registered = changes["crm.customer.registered"]
        assert registered["name"] == (None, "Ada Lovelace")
        assert registered["company"] == (None, "Engines Ltd")
        assert registered["owner"] == (None, "rep-1")
        assert registered["lifecycle_stage"] == (None, "prospect")
        created = changes["crm.lead.created"]
        assert created["lead.amount"] == (None, "12000.00")
        assert created["lead.status"] == (None, "open")
        assert created["lead.stage"][0] is None
        moved = changes["crm.lead.stage_changed"]
        assert moved["lead.stage"] == (created["lead.stage"][1], "contacted")
        assert "lead.amount" not in moved and "company" not in moved
        profile = next(e for e in events if e["type"] == "crm.customer.profile_changed")
        assert profile["actor"] == "manager-1"
        assert changes["crm.customer.profile_changed"] == {
            "company": ("Engines Ltd", "Analytical Engines"),
            "email": ("ada@example.com", "countess@example.com")}
        assert changes["crm.customer.tagged"] == {"tags": ([], ["gold"])}
        assert changes["crm.customer.record_linked"] == {}

        crm.post(f"/v1/customers/{customer}/erase", {
            "legal_basis": "gdpr_art_17", "request_reference": "DSR-1", "reason": "Asked"},
            actor="dpo")
        after = crm.get_raw(f"/v1/customers/{customer}/history").json()["events"]
        fields = [(e["type"], c["field"]) for e in after for c in e["changes"]]
        assert not any(field in ("name", "email", "phone") for _, field in fields)
        assert ("crm.customer.erased", "erased") in fields
        assert ("crm.customer.profile_changed", "company") in fields
        assert "Ada Lovelace" not in json.dumps(after)

    def test_history_of_an_unknown_or_another_tenants_customer_is_404(self, crm: Crm) -> None:
        customer = crm.customer()
        error_shaped(crm.get_raw(f"/v1/customers/{uuid4()}/history"), 404)
        other_tenant = Crm(crm.client, f"other-{uuid4().hex[:8]}").get_raw(
            f"/v1/customers/{customer}/history")
        error_shaped(other_tenant, 404)

    # -- analytics ----------------------------------------------------------------------------

    def _pipeline(self, crm: Crm) -> dict[str, str]:
        """Three leads created on day 0: one won on day 10, one lost on day 5, one still new."""
        won = crm.lead(crm.customer("Ada Lovelace"), at(0), source="web", owner="rep-1",
                       region="EMEA")
        for day, stage in ((1, "contacted"), (3, "qualified"), (4, "proposal"),
                           (6, "negotiation"), (10, "won")):
            crm.stage(won, stage, at(day))
        lost = crm.lead(crm.customer("Grace Hopper"), at(0), source="web", owner="rep-2",
                        region="NA")
        crm.stage(lost, "contacted", at(2))
        crm.stage(lost, "lost", at(5), reason="price")
        waiting = crm.lead(crm.customer("Alan Turing"), at(0), source="referral",
                           owner="rep-1", region="EMEA")
        return {"won": won, "lost": lost, "waiting": waiting}

    def test_funnel_figures_match_the_pipeline_moves_written(self, crm: Crm) -> None:
        self._pipeline(crm)
        funnel = crm.get("/v1/analytics/funnel")
        stages = {s["stage"]: s for s in funnel["stages"]}
        assert [s["stage"] for s in funnel["stages"]] == [
            "new", "contacted", "qualified", "proposal", "negotiation", "won"]
        assert [stages[s]["reached"] for s in stages] == [3, 2, 1, 1, 1, 1]
        assert [stages[s]["reached_in_order"] for s in stages] == [3, 2, 1, 1, 1, 1]
        assert stages["new"]["conversion_to_next"] == pytest.approx(2 / 3)
        assert stages["contacted"]["conversion_to_next"] == pytest.approx(1 / 2)
        assert stages["won"]["conversion_to_next"] is None
        day = 86400.0
        # new: stays of 1 and 2 days (the waiting lead's stay is not over); contacted: 2 and 3.
        assert stages["new"]["median_time_in_stage_s"] == pytest.approx(1.5 * day)
        assert stages["contacted"]["median_time_in_stage_s"] == pytest.approx(2.5 * day)
        assert stages["qualified"]["median_time_in_stage_s"] == pytest.approx(1 * day)
        assert funnel["win_rate"] == pytest.approx(0.5)
        assert funnel["median_sales_cycle_s"] == pytest.approx(10 * day)
        assert funnel["groups"] == []

    def test_funnel_by_source_and_range_split_and_select_the_leads(self, crm: Crm) -> None:
        self._pipeline(crm)
        grouped = crm.get("/v1/analytics/funnel", group_by="source")
        by_key = {g["key"]: g for g in grouped["groups"]}
        assert list(by_key) == ["referral", "web"]
        assert by_key["web"]["stages"][0]["reached"] == 2
        assert by_key["referral"]["stages"][0]["reached"] == 1
        assert by_key["referral"]["win_rate"] is None
        by_owner = crm.get("/v1/analytics/funnel", owner="rep-2")
        assert by_owner["stages"][0]["reached"] == 1 and by_owner["win_rate"] == 0.0
        later = crm.get("/v1/analytics/funnel", **{"from": at(1), "to": at(30)})
        assert later["stages"][0]["reached"] == 0 and later["win_rate"] is None
        covering = crm.get("/v1/analytics/funnel", **{"from": at(0), "to": at(1)})
        assert covering["stages"][0]["reached"] == 3

    def test_sales_figures_count_the_leads_and_sum_their_money_per_currency(self, crm: Crm
                                                                            ) -> None:
        self._pipeline(crm)  # won 12000.00 EUR (rep-1, web), lost (rep-2), open (rep-1)
        extra = crm.lead(crm.customer("Edsger Dijkstra"), at(1), source="web", owner="rep-1",
                         region="EMEA", amount="99.5", currency="USD")
        crm.stage(extra, "contacted", at(2))
        crm.lead(crm.customer("Barbara Liskov"), at(1), source="web", owner="rep-2",
                 amount="0.125", currency="EUR")
        sales = crm.get("/v1/analytics/sales")
        day = 86400.0
        assert {k: sales[k] for k in ("leads", "won", "lost", "open")} == {
            "leads": 5, "won": 1, "lost": 1, "open": 3}
        assert sales["win_rate"] == pytest.approx(0.5)
        assert sales["conversion_to_won"] == pytest.approx(1 / 5)
        assert sales["median_sales_cycle_s"] == pytest.approx(10 * day)
        assert sales["open_value"] == [{"currency": "EUR", "amount": "12000.125"},
                                       {"currency": "USD", "amount": "99.50"}], sales
        assert sales["won_amount"] == [{"currency": "EUR", "amount": "12000.00"}]
        assert sales["groups"] == []

        by_owner = {g["key"]: g for g in crm.get("/v1/analytics/sales", group_by="owner")["groups"]}
        assert list(by_owner) == ["rep-1", "rep-2"]
        rep_1, rep_2 = by_owner["rep-1"], by_owner["rep-2"]
        assert (rep_1["leads"], rep_1["won"], rep_1["lost"], rep_1["open"]) == (3, 1, 0, 2)
        assert rep_1["win_rate"] == 1.0 and rep_1["median_sales_cycle_s"] == pytest.approx(10 * day)
        assert rep_1["open_value"] == [{"currency": "EUR", "amount": "12000.00"},
                                       {"currency": "USD", "amount": "99.50"}]
        assert rep_1["won_amount"] == [{"currency": "EUR", "amount": "12000.00"}]
        assert (rep_2["leads"], rep_2["won"], rep_2["lost"], rep_2["open"]) == (2, 0, 1, 1)
        assert rep_2["win_rate"] == 0.0 and rep_2["median_sales_cycle_s"] is None
        assert rep_2["open_value"] == [{"currency": "EUR", "amount": "0.125"}]
        assert rep_2["won_amount"] == []

        by_source = {g["key"]: g for g in crm.get("/v1/analytics/sales",
                                                   group_by="source")["groups"]}
        assert [(k, g["leads"], g["won"]) for k, g in by_source.items()] == [
            ("referral", 1, 0), ("web", 4, 1)]
        assert by_source["web"]["conversion_to_won"] == pytest.approx(1 / 4)
        assert by_source["referral"]["open_value"] == [{"currency": "EUR", "amount": "12000.00"}]

        # The funnel's filters select the same leads.
        funnel = crm.get("/v1/analytics/funnel", group_by="owner", **{"from": at(1)})
        later = crm.get("/v1/analytics/sales", group_by="owner", **{"from": at(1)})
        assert [g["key"] for g in later["groups"]] == [g["key"] for g in funnel["groups"]]
        assert later["leads"] == funnel["stages"][0]["reached"] == 2
        only = crm.get("/v1/analytics/sales", owner="rep-2", source="web", region="NA")
        assert (only["leads"], only["lost"], only["open_value"]) == (1, 1, [])
        months = crm.get("/v1/analytics/sales", group_by="period", period="month")
        assert [(g["key"], g["leads"]) for g in months["groups"]] == [("2025-03", 5)]

    def test_sales_figures_of_a_rep_are_their_own_book(self, crm: Crm) -> None:
        self._pipeline(crm)
        answer = crm.get_raw("/v1/analytics/sales", {"group_by": "owner",
                                                      "min_position": crm.position},
                             headers=crm.auth("rep-2", ("sales_rep",)))
        assert answer.status_code == 200, answer.text
        sales = answer.json()
        assert (sales["leads"], sales["lost"]) == (1, 1)
        assert [g["key"] for g in sales["groups"]] == ["rep-2"]
        assert sales["open_value"] == [] and sales["won_amount"] == []

    def test_lifecycle_counts_and_transitions_match_the_customers_written(self, crm: Crm
                                                                         ) -> None:
        buyer = crm.customer("Ada Lovelace", occurred_at=at(0))
        crm.purchase(buyer, "10.00", at(2))
        engaged = crm.customer("Alan Turing", occurred_at=at(0))
        crm.interaction(engaged, "call", at(3), direction="inbound")
        crm.customer("Grace Hopper", occurred_at=at(0))
        answer = crm.get("/v1/analytics/lifecycle", as_of=at(10))
        assert moment(answer["as_of"]) == moment(at(10))
        assert answer["counts"] == {"prospect": 1, "engaged": 1, "customer": 1, "loyal": 0,
                                    "dormant": 0}
        before = crm.get("/v1/analytics/lifecycle", as_of=at(-1))
        assert set(before["counts"].values()) == {0}
        transitions = crm.get("/v1/analytics/lifecycle", as_of=at(10),
                              **{"from": at(1), "to": at(10)})["transitions"]
        assert sorted((t["from"], t["to"], t["count"]) for t in transitions["transitions"]) == [
            ("prospect", "customer", 1), ("prospect", "engaged", 1)]
        dormant_at = at(2 + 91)
        later = crm.get("/v1/analytics/lifecycle", as_of=dormant_at)
        assert later["counts"]["dormant"] == 1 and later["counts"]["customer"] == 0

    def test_retention_matrix_matches_the_purchases_written(self, crm: Crm) -> None:
        january, february, april = (datetime(2025, m, 10, tzinfo=UTC).isoformat()
                                    for m in (1, 2, 4))
        first = datetime(2024, 12, 1, tzinfo=UTC).isoformat()
        ada = crm.customer("Ada Lovelace", occurred_at=first)
        grace = crm.customer("Grace Hopper", occurred_at=first)
        alan = crm.customer("Alan Turing", occurred_at=first)
        for customer, when in ((ada, january), (ada, february), (ada, april),
                               (grace, january), (alan, february)):
            crm.purchase(customer, "10.00", when)
        crm.interaction(grace, "call", april)
        answer = crm.get("/v1/analytics/retention", activity="purchase")
        assert (answer["cohort"], answer["activity"]) == ("month", "purchase")
        assert answer["cohorts"] == [
            {"cohort": "2025-01", "size": 2, "retained": [2, 1, 0, 1],
             "retained_pct": [100.0, 50.0, 0.0, 50.0]},
            {"cohort": "2025-02", "size": 1, "retained": [1, 0, 0],
             "retained_pct": [100.0, 0.0, 0.0]},
        ]
        interactions = crm.get("/v1/analytics/retention", activity="interaction")
        assert [(c["cohort"], c["retained"]) for c in interactions["cohorts"]] == [
            ("2025-04", [1])]
        anything = crm.get("/v1/analytics/retention", activity="any")
        assert anything["cohorts"][0]["retained"] == [2, 1, 0, 2]
        only_february = crm.get("/v1/analytics/retention", **{
            "from": datetime(2025, 2, 1, tzinfo=UTC).isoformat(),
            "to": datetime(2025, 3, 1, tzinfo=UTC).isoformat()})
        assert [c["cohort"] for c in only_february["cohorts"]] == ["2025-02"]

    def test_service_percentiles_and_breach_rate_match_the_tickets_written(self, crm: Crm
                                                                          ) -> None:
        customer = crm.customer()
        urgent = crm.ticket(customer, "urgent", at(1))
        crm.post(f"/v1/tickets/{urgent}/comments",
                 {"personal": {"body": "On it"}, "occurred_at": at(1, minutes=30)})
        crm.post(f"/v1/tickets/{urgent}/status", {"status": "resolved", "occurred_at": at(1, 2)})
        slow = crm.ticket(customer, "normal", at(2))
        crm.post(f"/v1/tickets/{slow}/status", {"status": "resolved", "occurred_at": at(2, 100)})
        crm.ticket(customer, "low", at(3))  # still open
        answer = crm.get("/v1/analytics/service")
        rows = {row["priority"]: row for row in answer["by_priority"]}
        assert [row["priority"] for row in answer["by_priority"]] == [
            "urgent", "high", "normal", "low"]
        assert (rows["urgent"]["tickets"], rows["urgent"]["responded"],
                rows["urgent"]["resolved"]) == (1, 1, 1)
        assert rows["urgent"]["first_response_s"]["p50"] == pytest.approx(1800.0)
        assert rows["urgent"]["resolution_s"]["p50"] == pytest.approx(7200.0)
        assert rows["urgent"]["sla_breach_rate"] == 0.0
        assert rows["normal"]["resolution_s"]["p50"] == pytest.approx(100 * 3600.0)
        assert rows["normal"]["sla_breach_rate"] == 1.0
        assert rows["high"]["tickets"] == 0 and rows["high"]["sla_breach_rate"] is None
        assert rows["low"]["resolved"] == 0 and rows["low"]["resolution_s"]["p50"] is None
        overall = answer["overall"]
        assert (overall["tickets"], overall["resolved"]) == (3, 2)
        assert overall["sla_breach_rate"] == pytest.approx(1 / 3)
        assert overall["resolution_s"]["p50"] == pytest.approx((7200.0 + 360000.0) / 2)

    # -- operations ---------------------------------------------------------------------------

    def test_projections_report_each_read_model_at_or_past_the_write_it_waited_for(
            self, crm: Crm) -> None:
        crm.customer()
        crm.get("/v1/customers")  # waits for customer_360 and lifecycle
        crm.get("/v1/analytics/funnel")  # waits for funnel
        answer = crm.get_raw("/v1/projections").json()
        assert answer["head_position"] >= crm.position
        statuses = {p["projection"]: p for p in answer["projections"]}
        assert set(statuses) == set(NAMES)
        for name in ("customer_360", "lifecycle", "funnel"):
            assert statuses[name]["position"] >= crm.position, name
        assert all(status["dead_letters"] == 0 for status in statuses.values())

    def test_health_readiness_and_metrics_answer(self, crm: Crm) -> None:
        crm.customer()
        crm.get("/v1/customers")
        assert crm.get_raw("/health").json() == {"status": "ok"}
        ready = crm.get_raw("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
        assert ready.json()["checks"]["read_models_sql"] == "ok"
        metrics = crm.get_raw("/metrics").text
        for name in NAMES:
            assert f'chronicle_projection_position{{projection="{name}"}}' in metrics

    # -- errors and limits --------------------------------------------------------------------

    def test_unknown_customer_is_404_on_every_customer_route(self, crm: Crm) -> None:
        missing = uuid4()
        for path, params in ((f"/v1/customers/{missing}", {}),
                             (f"/v1/customers/{missing}", {"as_of": at(1)}),
                             (f"/v1/customers/{missing}", {"as_of_recorded": at(1)}),
                             (f"/v1/customers/{missing}/timeline", {}),
                             (f"/v1/customers/{missing}/history", {})):
            error_shaped(crm.get_raw(path, params), 404, "not_found")

    def test_customer_of_another_tenant_is_404_on_every_customer_route(self, crm: Crm,
                                                                      client: TestClient
                                                                      ) -> None:
        customer = crm.customer()
        crm.purchase(customer, "1.00", at(1))
        assert crm.get(f"/v1/customers/{customer}")["customer_id"] == customer
        stranger = Crm(client, f"other-{uuid4().hex[:8]}")
        stranger.position = crm.position
        for path, params in ((f"/v1/customers/{customer}", {}),
                             (f"/v1/customers/{customer}", {"as_of": at(5)}),
                             (f"/v1/customers/{customer}", {"as_of_recorded":
                                                            datetime.now(UTC).isoformat()}),
                             (f"/v1/customers/{customer}/timeline", {}),
                             (f"/v1/customers/{customer}/history", {})):
            error_shaped(stranger.get_raw(path, {**params, "min_position": crm.position}), 404,
                         "not_found")
        assert stranger.get("/v1/customers")["items"] == []
        assert stranger.get("/v1/analytics/retention")["cohorts"] == []

    @pytest.mark.parametrize(("path", "params"), [
        ("/v1/customers", {"limit": 0}),
        ("/v1/customers", {"limit": 201}),
        ("/v1/customers", {"sort": "shoe_size"}),
        ("/v1/customers", {"order": "sideways"}),
        ("/v1/customers", {"lifecycle_stage": "vip"}),
        ("/v1/customers", {"q": ""}),
        ("/v1/customers", {"include_total": "perhaps"}),
        ("/v1/customers", {"min_position": -1}),
        ("/v1/customers/not-a-uuid", {}),
        ("/v1/customers/{id}", {"as_of": "yesterday"}),
        ("/v1/customers/{id}", {"as_of": "2025-13-01"}),  # no such month
        ("/v1/customers/{id}/timeline", {"limit": 201}),
        ("/v1/customers/{id}/timeline", {"kind": "gossip"}),
        ("/v1/customers/{id}/history", {"limit": 0}),
        ("/v1/customers/{id}/history", {"after_position": -1}),
        ("/v1/analytics/funnel", {"group_by": "weather"}),
        ("/v1/analytics/funnel", {"from": at(2), "to": at(1)}),
        ("/v1/analytics/funnel", {"period": "fortnight"}),
        ("/v1/analytics/sales", {"group_by": "weather"}),
        ("/v1/analytics/sales", {"from": at(2), "to": at(1)}),
        ("/v1/analytics/sales", {"owner": "rep\x00"}),
        ("/v1/analytics/lifecycle", {"as_of": "soon"}),
        ("/v1/analytics/retention", {"activity": "gossip"}),
        ("/v1/analytics/retention", {"cohort": "week"}),
        ("/v1/analytics/service", {"from": at(1), "to": at(1)}),
        # regressions: moments without a UTC equivalent, or too near the calendar's ends, and
        # text PostgreSQL cannot hold, answered 500
        ("/v1/customers/{id}", {"as_of": "0001-01-01T00:00:00+14:00"}),
        ("/v1/customers/{id}", {"as_of_recorded": "9999-12-31T23:59:59-14:00"}),
        ("/v1/analytics/lifecycle", {"as_of": "0001-01-01T00:00:00Z"}),
        ("/v1/analytics/funnel", {"from": "0001-01-01T00:00:00+14:00"}),
        ("/v1/analytics/retention", {"to": "0001-01-01T00:00:00Z"}),
        ("/v1/analytics/service", {"to": "9999-12-31T23:59:59-14:00"}),
        ("/v1/customers", {"q": "ada\x00"}),
        ("/v1/customers", {"owner": "rep\x00"}),
        ("/v1/analytics/funnel", {"source": "web\x00"}),
    ])
    def test_invalid_parameters_get_422_in_the_error_shape(self, crm: Crm, path: str,
                                                           params: dict[str, Any]) -> None:
        customer = crm.customer()
        error_shaped(crm.get_raw(path.replace("{id}", customer), params), 422)

    def test_page_sizes_are_capped_at_200(self, crm: Crm) -> None:
        customer = crm.customer()
        assert len(crm.get("/v1/customers", limit=200)["items"]) == 1
        for path in ("/v1/customers", f"/v1/customers/{customer}/timeline"):
            body = error_shaped(crm.get_raw(path, {"limit": 201}), 422, "invalid_request")
            assert body["details"]["errors"][0]["loc"][-1] == "limit"

    @pytest.mark.parametrize("cursor", [
        "not base64 at all!", cursor_of("a string"), cursor_of([1]), cursor_of([1, 2, 3]),
        cursor_of([None, None]), cursor_of([1, "x"]), cursor_of(["not a time", 3]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(), "x" * 1025,
        cursor_of(["2025-03-03T09:00:00+00:00", 2**70]), cursor_of([2**70, "x"]),
        cursor_of(["ada\x00", "x\x00"]),
    ])
    def test_a_cursor_this_api_did_not_return_gets_422(self, crm: Crm, cursor: str) -> None:
        customer = crm.customer()
        for path in ("/v1/customers", f"/v1/customers/{customer}/timeline"):
            error_shaped(crm.get_raw(path, {"cursor": cursor, "min_position": crm.position}),
                         422)

    def test_min_position_beyond_the_log_is_refused_at_once_naming_the_last_position(
            self, crm: Crm) -> None:
        crm.customer()
        beyond = crm.position + 1_000_000
        for path in ("/v1/customers", "/v1/analytics/funnel", "/v1/alerts"):
            for where in ({"min_position": beyond}, {"headers": {"X-Min-Position": str(beyond)}}):
                params = where.get("min_position")
                response = crm.get_raw(path, {"min_position": params} if params else None,
                                       headers=where.get("headers"))  # type: ignore[arg-type]
                body = error_shaped(response, 422, "position_beyond_log")
                assert body["details"]["min_position"] == beyond
                assert crm.position <= body["details"]["last_position"] < beyond

    def test_a_cursor_of_another_sort_or_order_gets_422_not_a_silent_restart(
            self, crm: Crm) -> None:
        for name in ("Ada Lovelace", "Grace Hopper", "Alan Turing"):
            crm.customer(name)
        by_name = crm.get("/v1/customers", sort="company", limit=1)["next_cursor"]
        assert by_name
        assert crm.get("/v1/customers", sort="company", limit=1, cursor=by_name)["items"]
        for other in ({"sort": "created_at"}, {"sort": "company", "order": "desc"}):
            body = error_shaped(crm.get_raw("/v1/customers", {"cursor": by_name, **other,
                                                              "min_position": crm.position}),
                                422, "invalid_cursor")
            assert "sort=" in body["message"]
        shaped_like_before = cursor_of(["Ada", str(uuid4())])  # base64 JSON, made up
        error_shaped(crm.get_raw("/v1/customers", {"cursor": shaped_like_before,
                                                   "sort": "company"}), 422, "invalid_cursor")
        not_an_id = cursor_of(["company", "asc", "ada", "not-an-id"])
        error_shaped(crm.get_raw("/v1/customers", {"cursor": not_an_id, "sort": "company"}),
                     422, "invalid_cursor")

    def test_companies_sort_a_to_z_and_times_newest_first_by_default_and_names_not_at_all(
            self, crm: Crm) -> None:
        for name, company, day in (("Grace Hopper", "Navy", 1), ("Ada Lovelace", "Engines", 2),
                                   ("Alan Turing", "Bletchley", 3)):
            crm.customer(name, company=company, occurred_at=at(day))
        companies = [c["company"] for c in crm.get("/v1/customers", sort="company")["items"]]
        assert companies == ["Bletchley", "Engines", "Navy"]
        newest = [c["name"] for c in crm.get("/v1/customers")["items"]]
        assert newest == ["Alan Turing", "Ada Lovelace", "Grace Hopper"]
        assert [c["company"] for c in crm.get("/v1/customers", sort="company",
                                              order="desc")["items"]] == companies[::-1]
        # Names are sealed under each customer's key: no index can order them.
        error_shaped(crm.get_raw("/v1/customers", {"sort": "name"}), 422, "invalid_request")

    def test_bad_headers_get_400(self, crm: Crm) -> None:
        error_shaped(crm.get_raw("/v1/customers", headers={"X-Min-Position": "soon"}), 400,
                     "invalid_header")
        error_shaped(crm.get_raw("/v1/customers", headers={"X-Tenant-ID": "Not A Tenant"}),
                     400, "invalid_header")

    def test_a_date_alone_is_the_start_of_that_day_in_utc_on_every_date_parameter(
            self, crm: Crm) -> None:
        customer = crm.customer()
        lead = crm.lead(customer, at(0))
        crm.stage(lead, "contacted", at(1))
        dates = {"from": "2025-03-01", "to": "2025-04-01"}
        stamps = {"from": "2025-03-01T00:00:00+00:00", "to": "2025-04-01T00:00:00+00:00"}
        for path in ("/v1/analytics/funnel", "/v1/analytics/retention",
                     "/v1/analytics/service"):
            assert crm.get(path, **dates) == crm.get(path, **stamps), path
        assert crm.get("/v1/analytics/lifecycle", as_of="2025-04-01", **dates) == \
            crm.get("/v1/analytics/lifecycle", as_of=stamps["to"], **stamps)
        funnel = crm.get("/v1/analytics/funnel", **{"from": "2025-03-03", "to": "2025-03-04"})
        assert funnel["stages"][0]["reached"] == 1  # created on 3 March, 09:00 UTC
        excluded = crm.get("/v1/analytics/funnel", **{"from": "2025-03-02", "to": "2025-03-03"})
        assert excluded["stages"][0]["reached"] == 0  # `to` is exclusive
        as_of = crm.get("/v1/analytics/lifecycle", as_of="2025-03-04")
        assert as_of["as_of"] == "2025-03-04T00:00:00.000000+00:00"
        naive = crm.get("/v1/analytics/lifecycle", as_of="2025-03-04T12:00:00")  # read as UTC
        assert naive["as_of"] == "2025-03-04T12:00:00.000000+00:00"
        error_shaped(crm.get_raw("/v1/analytics/funnel", {"from": "March 2025"}), 422,
                     "invalid_request")

    def test_health_and_readiness_answer_head_as_load_balancers_probe(self, crm: Crm) -> None:
        for path in ("/health", "/ready"):
            response = crm.client.head(path)
            assert response.status_code == 200, path
            assert response.content == b""

    # -- answers that agree ---------------------------------------------------------------------

    def test_a_reopened_ticket_is_resolved_once_and_open_again_in_every_model(
            self, crm: Crm) -> None:
        customer = crm.customer()
        ticket = crm.ticket(customer, "high", at(1))
        for hours, status in ((6, "resolved"), (7, "closed"), (30, "reopened")):
            crm.post(f"/v1/tickets/{ticket}/status",
                     {"status": status, "occurred_at": at(1, hours)})
        doc = crm.get(f"/v1/customers/{customer}")["tickets"]
        (item,) = doc["items"]
        assert (item["status"], item["reopened"], item["resolution_seconds"]) == \
            ("reopened", 1, 6 * 3600.0)
        assert (doc["open"], doc["resolved_count"], doc["avg_resolution_hours"]) == (1, 1, 6.0)
        service = crm.get("/v1/analytics/service")["overall"]
        assert (service["tickets"], service["resolved"]) == (1, 1)
        assert service["resolution_s"]["p50"] == 6 * 3600.0
        # the resolution was the ticket's first response, in both models as in the domain
        assert item["first_response_seconds"] == service["first_response_s"]["p50"] == 6 * 3600.0

    def test_a_zero_value_purchase_is_kept_but_counts_nowhere_as_buying(self, crm: Crm) -> None:
        customer = crm.customer()
        for day in (10, 20, 30):
            crm.purchase(customer, "0.00", at(day))
        doc = crm.get(f"/v1/customers/{customer}")
        purchases = doc["purchases"]
        assert (purchases["count"], purchases["total"], purchases["first_at"],
                purchases["zero_value"]) == (0, None, None, 3)
        assert doc["lifecycle_stage"] == "prospect"  # three free orders make no customer
        assert crm.get("/v1/analytics/retention", activity="purchase")["cohorts"] == []
        shown = crm.get(f"/v1/customers/{customer}/timeline", kind="purchase")["items"]
        assert len(shown) == 3  # the facts are kept and shown
        crm.purchase(customer, "12.50", at(40))
        doc = crm.get(f"/v1/customers/{customer}")
        assert (doc["purchases"]["count"], doc["purchases"]["total"]) == (1, "12.50")
        transitions = crm.get("/v1/analytics/lifecycle", as_of=at(41), **{"from": at(0),
                                                                         "to": at(41)})
        assert transitions["counts"]["customer"] == 1 and transitions["counts"]["loyal"] == 0
        cohorts = crm.get("/v1/analytics/retention", activity="purchase")["cohorts"]
        assert [(c["cohort"], c["size"]) for c in cohorts] == [("2025-04", 1)]

    # -- alerts -------------------------------------------------------------------------------

    def test_alerts_inbox_lists_each_persons_alerts_newest_first_by_status(self, crm: Crm
                                                                           ) -> None:
        rules = Rules(crm)
        customer = crm.customer()
        lead = crm.lead(customer, at(0))
        ticket = crm.ticket(customer, "normal", at(1))
        follow_up = rules.follow_up(lead, at(3), assignees=("rep-1", "manager-1"))
        approval = rules.discount_approval(lead, at(4), approver="manager-1")
        breach = rules.sla_breach(ticket, at(5), assignees=("agent-1",))

        def ids(**params: Any) -> list[str]:
            return [item["alert_id"] for item in crm.get("/v1/alerts", **params)["items"]]

        assert ids() == [breach, approval, follow_up]
        assert ids(assignee="manager-1") == [approval, follow_up]
        assert ids(assignee="rep-1") == [follow_up]
        assert ids(assignee="nobody") == []
        assert ids(kind="sla_breached") == [breach]
        assert ids(subject_id=ticket) == [breach]
        assert ids(customer_id=customer, assignee="manager-1") == [approval, follow_up]
        crm.post(f"/v1/alerts/{approval}/acknowledge", {"note": "looking"}, actor="manager-1")
        crm.post(f"/v1/alerts/{breach}/resolve", None, actor="agent-1")
        assert ids(assignee="manager-1") == [approval, follow_up]  # active: open or acknowledged
        assert ids(status="open") == [follow_up]
        assert ids(status="acknowledged") == [approval]
        assert ids(status="resolved") == [breach]
        item = crm.get("/v1/alerts", status="acknowledged")["items"][0]
        assert (item["status"], item["acknowledged_by"], item["note"], item["kind"],
                item["subject_kind"], item["subject_id"], item["customer_id"],
                item["assignees"], item["raised_by"]) == (
            "acknowledged", "manager-1", "looking", "discount_approval", "lead", lead, customer,
            ["manager-1"], "rule:discount-approval")
        assert moment(item["raised_at"]) == moment(at(4))

    def test_alerts_pages_walk_every_alert_once_newest_first(self, crm: Crm) -> None:
        rules = Rules(crm)
        lead = crm.lead(crm.customer(), at(0))
        raised = [rules.follow_up(lead, at(day)) for day in (1, 2, 2, 3, 5)]
        expected = [raised[4], raised[3], raised[2], raised[1], raised[0]]  # ties: later first
        seen: list[str] = []
        cursor = None
        for _ in range(len(raised) + 1):
            params: dict[str, Any] = {"limit": 2, "assignee": "rep-1"}
            if cursor is not None:
                params["cursor"] = cursor
            page = crm.get("/v1/alerts", **params)
            assert len(page["items"]) <= 2
            seen += [item["alert_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == expected

    def test_alerts_of_another_tenant_are_neither_listed_nor_changeable(self, crm: Crm,
                                                                       client: TestClient
                                                                       ) -> None:
        alert = Rules(crm).follow_up(crm.lead(crm.customer(), at(0)), at(2))
        stranger = Crm(client, f"other-{uuid4().hex[:8]}")
        stranger.position = crm.position
        assert stranger.get("/v1/alerts", status="open")["items"] == []
        for action in ("acknowledge", "resolve"):
            response = client.post(f"/v1/alerts/{alert}/{action}", json={"note": "mine now"},
                                   headers=stranger.auth("rep-9"))
            error_shaped(response, 404, "not_found")
        assert [item["status"] for item in crm.get("/v1/alerts")["items"]] == ["open"]

    @pytest.mark.parametrize("params", [
        {"status": "closed"}, {"status": ""}, {"kind": "gossip"}, {"customer_id": "nope"},
        {"subject_id": "1234"}, {"assignee": ""}, {"assignee": "rep\x00"}, {"limit": 0},
        {"limit": 201}, {"cursor": "not base64 at all!"}, {"cursor": cursor_of([1, 2])},
        {"cursor": cursor_of(["2025-03-03T09:00:00", 3])},  # no time zone
        {"cursor": cursor_of(["0001-01-01T00:00:00+14:00", 3])},  # no UTC equivalent
        {"cursor": cursor_of(["2025-03-03T09:00:00+00:00", -1])},
        {"min_position": -1},
    ])
    def test_invalid_alert_filters_get_422_in_the_error_shape(self, crm: Crm,
                                                             params: dict[str, Any]) -> None:
        error_shaped(crm.get_raw("/v1/alerts", params), 422)


class Rules:
    """Raises alerts as the rules' policies do: a command on the service, actor `rule:<id>`,
    caused by the event the rule reacted to (here a made-up id, checked as `cause_event_id`)."""

    def __init__(self, crm: Crm) -> None:
        self.crm = crm
        self.service = fastapi_app(crm.client.app).state.command_service

    def _context(self, rule: str, occurred_at: str) -> CommandContext:
        return CommandContext(actor=f"rule:{rule}", tenant_id=self.crm.tenant,
                              causation_id=uuid4(), occurred_at=moment(occurred_at))

    def _raised(self, result: Any, spec: AlertSpec) -> str:
        self.crm.position = max(self.crm.position, result.position)
        return str(spec.alert_id)

    def follow_up(self, lead_id: str, occurred_at: str,
                  assignees: tuple[str, ...] = ("rep-1", "manager-1")) -> str:
        spec = AlertSpec(uuid4(), "follow_up_overdue", list(assignees),
                         "Lead 'Difference engine upgrade' without contact for 8 days",
                         due_at=moment(occurred_at) - timedelta(days=1))
        result = self.service.mark_follow_up_overdue(
            self._context("follow-up", occurred_at), UUID(lead_id), manager="manager-1",
            days_without_contact=8, repeat=False, alert=spec)
        return self._raised(result, spec)

    def discount_approval(self, lead_id: str, occurred_at: str, approver: str) -> str:
        requested = self.crm.post(f"/v1/leads/{lead_id}/discounts",
                                  {"percent": "30", "occurred_at": occurred_at})
        assert requested["status"] == "pending", requested
        spec = AlertSpec(uuid4(), "discount_approval", [approver],
                         "Discount of 30% on lead 'Difference engine upgrade' needs approval")
        result = self.service.request_discount_approval(
            self._context("discount-approval", occurred_at), UUID(lead_id),
            UUID(requested["discount_id"]), approver, alert=spec)
        return self._raised(result, spec)

    def sla_breach(self, ticket_id: str, occurred_at: str,
                   assignees: tuple[str, ...] = ("agent-1",)) -> str:
        deadline = moment(occurred_at) - timedelta(hours=1)
        spec = AlertSpec(uuid4(), "sla_breached", list(assignees),
                         "Ticket 'Printer on fire' breached its first_response SLA",
                         due_at=deadline)
        result = self.service.record_sla_breach(
            self._context("sla", occurred_at), UUID(ticket_id), sla="first_response",
            target_seconds=3600, deadline=deadline, raise_priority=True, reassign_to=None,
            alert=spec)
        return self._raised(result, spec)
