"""The command API's behaviour, written once and run against every event-store backend.

Subclasses provide a `settings` fixture pointing at their backend (see test_command_api_*.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from services.bootstrap import Chronicle, Parts, at_the_edge
from services.command.api.app import command_app
from services.command.service import CommandService
from services.common.auth.keys import KeyRing
from services.common.event_store import ChronicleStore, EventLog
from services.common.events.catalog import BY_TYPE
from services.common.settings import Settings
from services.query.api.history import MAX_HISTORY_PAGE, history_page
from tests.errors import error_shaped
from tests.harness.auth import Keys, keys_of

ADA = {
    "personal": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0000"},
    "company": "Analytical Engines Ltd", "region": "EMEA", "industry": "manufacturing",
    "tags": ["vip"],
}


ACTORS = ("rep-1", "rep-2", "manager-1", "agent-1", "erp:sync", "fuzz")


class Api:
    """A test client that speaks as a named actor and can count stored events."""

    def __init__(self, client: TestClient, store: ChronicleStore, keys: Keys) -> None:
        self.client, self.store, self.keys = client, store, keys
        self.log = EventLog(store)
        for actor in ACTORS:  # issued up front: every test counts the events it writes
            keys.token(subject=actor)
        keys.token("acme", "rep-1")

    def auth(self, actor: str = "rep-1", tenant: str = "default") -> dict[str, str]:
        return self.keys.headers(tenant, actor)

    def post(self, path: str, body: Any = None, actor: str = "rep-1", tenant: str = "default",
             **headers: str) -> Any:
        return self.client.post(path, json=body, headers={**self.auth(actor, tenant), **headers})

    def stored(self) -> int:
        return self.log.max_position()

    def customer(self, **overrides: Any) -> str:
        response = self.post("/v1/customers", {**ADA, **overrides})
        assert response.status_code == 201, response.text
        return str(response.json()["customer_id"])

    def lead(self, amount: str | None = "12000.00", **overrides: Any) -> str:
        body: dict[str, Any] = {"customer_id": self.customer(), "title": "Difference engine upgrade",
                                "source": "web", "owner": "rep-7", **overrides}
        if amount is not None:
            body |= {"amount": amount, "currency": "EUR"}
        response = self.post("/v1/leads", body)
        assert response.status_code == 201, response.text
        return str(response.json()["lead_id"])

    def stage(self, lead_id: str, stage: str, **fields: Any) -> Any:
        return self.post(f"/v1/leads/{lead_id}/stage", {"stage": stage, **fields})

    def to_negotiation(self, lead_id: str) -> None:
        for stage, extra in (("contacted", {}), ("qualified", {"budget_confirmed": True}),
                             ("proposal", {}), ("negotiation", {})):
            response = self.stage(lead_id, stage, **extra)
            assert response.status_code == 200, response.text

    def history(self, customer_id: str, tenant: str = "default") -> list[dict[str, Any]]:
        """The customer's audit history as the query API serves it, read from the store."""
        events = self.log.customer_history(UUID(customer_id), tenant)
        assert events is not None, f"no customer {customer_id} in tenant {tenant}"
        page = history_page(UUID(customer_id), events, 0, MAX_HISTORY_PAGE)
        return [item.model_dump(mode="json") for item in page.events]


class CommandApiContract:
    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def api(self, settings: Settings) -> Iterator[Api]:
        with Chronicle(settings, Parts(commands=True)) as crm, \
                TestClient(crm.command_api(), raise_server_exceptions=False) as client:
            assert crm.store is not None
            yield Api(client, crm.store, keys_of(client.app))

    # -- creating things ----------------------------------------------------------------------

    def test_register_customer_answers_id_version_and_position(self, api: Api) -> None:
        before = api.stored()
        response = api.post("/v1/customers", ADA)
        assert response.status_code == 201
        body = response.json()
        UUID(body["customer_id"])
        assert body["version"] == 1
        assert body["position"] == before + 1 == api.stored()
        assert response.headers["ETag"] == '"1"'

    def test_lead_with_inline_new_customer_saves_both_atomically(self, api: Api) -> None:
        before = api.stored()
        response = api.post("/v1/leads", {"customer": ADA, "title": "Upgrade", "amount": "5.00",
                                          "currency": "EUR"})
        assert response.status_code == 201, response.text
        body = response.json()
        events = api.history(body["customer_id"])
        assert [e["type"] for e in events] == [
            "crm.customer.registered", "crm.lead.created", "crm.customer.record_linked"]
        assert events[1]["aggregate_id"] == body["lead_id"]
        assert body["position"] == api.stored() == before + 3

    def test_lead_needs_exactly_one_customer(self, api: Api) -> None:
        before = api.stored()
        error_shaped(api.post("/v1/leads", {"title": "x"}), 422, code="invalid_request")
        error_shaped(api.post("/v1/leads", {"title": "x", "customer": ADA,
                                       "customer_id": str(uuid4())}), 422, code="invalid_request")
        assert api.stored() == before

    def test_unknown_ids_get_404(self, api: Api) -> None:
        missing = str(uuid4())
        error_shaped(api.post("/v1/leads", {"customer_id": missing, "title": "x"}), 404, code="not_found")
        error_shaped(api.stage(missing, "contacted"), 404, code="not_found")
        error_shaped(api.post(f"/v1/tickets/{missing}/status", {"status": "pending"}), 404)
        error_shaped(api.post(f"/v1/customers/{missing}/purchases",
                         {"amount": "1.00", "currency": "EUR"}), 404)

    def test_a_lead_id_is_not_a_ticket_id(self, api: Api) -> None:
        lead_id = api.lead()
        error_shaped(api.post(f"/v1/tickets/{lead_id}/status", {"status": "pending"}), 404)

    def test_other_tenants_cannot_see_or_change_a_customer(self, api: Api) -> None:
        customer_id = api.customer()
        error_shaped(api.post(f"/v1/customers/{customer_id}/tags", {"tag": "x"},
                         tenant="acme"), 404)
        assert api.log.customer_history(UUID(customer_id), "acme") is None

    # -- pipeline rules -----------------------------------------------------------------------

    def test_qualified_needs_a_confirmed_budget(self, api: Api) -> None:
        lead_id = api.lead()
        assert api.stage(lead_id, "contacted").status_code == 200
        before = api.stored()
        error_shaped(api.stage(lead_id, "qualified"), 422, rule="qualified_requires_confirmed_budget")
        error_shaped(api.stage(lead_id, "qualified", budget_confirmed=False), 422,
                rule="qualified_requires_confirmed_budget")
        assert api.stored() == before
        assert api.stage(lead_id, "qualified", budget_confirmed=True).status_code == 200

    def test_proposal_needs_an_amount(self, api: Api) -> None:
        lead_id = api.lead(amount=None)
        api.stage(lead_id, "contacted")
        api.stage(lead_id, "qualified", budget_confirmed=True)
        error_shaped(api.stage(lead_id, "proposal"), 422, rule="proposal_requires_amount")
        response = api.post(f"/v1/leads/{lead_id}/amount", {"amount": "900", "currency": "EUR"})
        assert response.status_code == 200, response.text
        assert api.stage(lead_id, "proposal").status_code == 200

    def test_skipping_forward_is_refused_but_moving_back_is_recorded(self, api: Api) -> None:
        lead_id = api.lead()
        error_shaped(api.stage(lead_id, "proposal"), 422, rule="transition_not_allowed")
        error_shaped(api.stage(lead_id, "won"), 422, rule="transition_not_allowed")
        error_shaped(api.stage(lead_id, "no-such-stage"), 422, rule="unknown_stage")
        error_shaped(api.stage(lead_id, "new"), 422, rule="same_stage")
        api.stage(lead_id, "contacted")
        api.stage(lead_id, "qualified", budget_confirmed=True)
        back = api.stage(lead_id, "contacted")
        assert back.status_code == 200, back.text
        moves = [(e["data"]["from_stage"], e["data"]["to_stage"])
                 for e in api.history(self._customer_of(api, lead_id))
                 if e["type"] == "crm.lead.stage_changed"]
        assert moves == [("new", "contacted"), ("contacted", "qualified"),
                         ("qualified", "contacted")]

    @staticmethod
    def _customer_of(api: Api, lead_id: str) -> str:
        return str(api.log.events_of([UUID(lead_id)])[0].event.customer_id)

    def test_lost_needs_a_reason_and_closes_the_lead(self, api: Api) -> None:
        lead_id = api.lead()
        error_shaped(api.stage(lead_id, "lost"), 422, rule="lost_requires_reason")
        response = api.stage(lead_id, "lost", reason="price")
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 3  # stage change + LeadLost
        error_shaped(api.stage(lead_id, "contacted"), 422, rule="lead_closed")
        error_shaped(api.post(f"/v1/leads/{lead_id}/assign", {"owner": "rep-2"}), 422, rule="lead_closed")
        error_shaped(api.post(f"/v1/leads/{lead_id}/payments", {"amount": "1.00", "currency": "EUR"}),
                422, rule="lead_closed")

    def test_won_with_a_large_discount_needs_an_approval(self, api: Api) -> None:
        lead_id = api.lead()
        api.to_negotiation(lead_id)
        response = api.post(f"/v1/leads/{lead_id}/discounts", {"percent": "25"})
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "pending"
        discount_id = response.json()["discount_id"]
        error_shaped(api.stage(lead_id, "won"), 422, rule="won_requires_discount_approval")
        error_shaped(api.post(f"/v1/leads/{lead_id}/discounts/{discount_id}/approve", {}),
                422, rule="approver_is_requester")
        approved = api.post(f"/v1/leads/{lead_id}/discounts/{discount_id}/approve", {},
                            actor="manager-1")
        assert approved.status_code == 200, approved.text
        won = api.stage(lead_id, "won")
        assert won.status_code == 200, won.text
        customer_id = self._customer_of(api, lead_id)
        won_event = [e for e in api.history(customer_id) if e["type"] == "crm.lead.won"][0]
        assert won_event["data"]["discount_percent"] == "25"
        assert won_event["data"]["amount"] == "12000.00"
        error_shaped(api.stage(lead_id, "negotiation"), 422, rule="lead_closed")
        paid = api.post(f"/v1/leads/{lead_id}/payments", {"amount": "100.00", "currency": "EUR"})
        assert paid.status_code == 201, paid.text

    def test_a_small_discount_needs_no_approval(self, api: Api) -> None:
        lead_id = api.lead()
        api.to_negotiation(lead_id)
        response = api.post(f"/v1/leads/{lead_id}/discounts", {"percent": "5"})
        assert response.json()["status"] == "applied"
        assert api.stage(lead_id, "won").status_code == 200

    def test_a_rejected_discount_does_not_block_the_win(self, api: Api) -> None:
        lead_id = api.lead()
        api.to_negotiation(lead_id)
        discount_id = api.post(f"/v1/leads/{lead_id}/discounts", {"percent": "40"}).json()[
            "discount_id"]
        error_shaped(api.post(f"/v1/leads/{lead_id}/discounts", {"percent": "30"}), 422,
                rule="discount_pending")
        rejected = api.post(f"/v1/leads/{lead_id}/discounts/{discount_id}/reject",
                            {"reason": "too deep"}, actor="manager-1")
        assert rejected.status_code == 200
        error_shaped(api.post(f"/v1/leads/{lead_id}/discounts/{discount_id}/approve", {},
                         actor="manager-1"), 422, rule="discount_not_pending")
        assert api.stage(lead_id, "won").status_code == 200

    def test_an_unknown_discount_is_404_and_writes_nothing(self, api: Api) -> None:
        lead_id = api.lead()
        api.to_negotiation(lead_id)
        before = api.stored()
        for decision in ("approve", "reject"):
            body = error_shaped(api.post(f"/v1/leads/{lead_id}/discounts/{uuid4()}/{decision}",
                                         {}, actor="manager-1"), 404, "not_found")
            assert body["details"]["kind"] == "discount"
        assert api.stored() == before

    # -- tickets ------------------------------------------------------------------------------

    def _ticket(self, api: Api) -> tuple[str, str]:
        customer_id = api.customer()
        response = api.post(f"/v1/customers/{customer_id}/tickets",
                            {"subject": "Cannot log in", "priority": "high", "channel": "email"})
        assert response.status_code == 201, response.text
        return customer_id, str(response.json()["ticket_id"])

    def test_ticket_status_machine(self, api: Api) -> None:
        customer_id, ticket_id = self._ticket(api)

        def move(status: str) -> Any:
            return api.post(f"/v1/tickets/{ticket_id}/status", {"status": status})

        error_shaped(move("closed"), 422, rule="status_transition_not_allowed")
        error_shaped(move("open"), 422, rule="same_status")
        assert move("pending").status_code == 200
        assert move("resolved").status_code == 200
        assert move("closed").status_code == 200
        error_shaped(api.post(f"/v1/tickets/{ticket_id}/comments", {"personal": {"body": "hi"}}),
                422, rule="ticket_closed")
        error_shaped(api.post(f"/v1/tickets/{ticket_id}/assign", {"assignee": "agent-2"}), 422,
                rule="ticket_closed")
        error_shaped(move("pending"), 422, rule="status_transition_not_allowed")
        assert move("reopened").status_code == 200
        assert move("resolved").status_code == 200
        types = [e["type"] for e in api.history(customer_id)]
        assert types.count("crm.ticket.first_responded") == 1
        statuses = [e["data"]["to_status"] for e in api.history(customer_id)
                    if e["type"] == "crm.ticket.status_changed"]
        assert statuses == ["pending", "resolved", "closed", "reopened", "resolved"]

    def test_resolving_straight_from_open_is_allowed_and_is_the_first_response(
            self, api: Api) -> None:
        customer_id, ticket_id = self._ticket(api)
        opened = next(e for e in api.history(customer_id) if e["type"] == "crm.ticket.opened")
        resolved_at = (datetime.fromisoformat(opened["occurred_at"]) + timedelta(hours=2))
        moved = api.post(f"/v1/tickets/{ticket_id}/status",
                         {"status": "resolved", "occurred_at": resolved_at.isoformat()})
        assert moved.status_code == 200, moved.text
        (responded,) = [e for e in api.history(customer_id)
                        if e["type"] == "crm.ticket.first_responded"]
        assert responded["data"]["response_seconds"] == 7200.0

    def test_first_agent_comment_is_the_first_response(self, api: Api) -> None:
        customer_id, ticket_id = self._ticket(api)
        api.post(f"/v1/tickets/{ticket_id}/comments",
                 {"personal": {"body": "still broken"}, "author_type": "customer"})
        api.post(f"/v1/tickets/{ticket_id}/comments", {"personal": {"body": "on it"}},
                 actor="agent-1")
        api.post(f"/v1/tickets/{ticket_id}/comments", {"personal": {"body": "fixed"}},
                 actor="agent-1")
        responded = [e for e in api.history(customer_id)
                     if e["type"] == "crm.ticket.first_responded"]
        assert len(responded) == 1
        assert responded[0]["data"]["responded_by"] == "agent-1"

    # -- customers ----------------------------------------------------------------------------

    def test_tags_are_added_once_and_removed_once(self, api: Api) -> None:
        customer_id = api.customer()
        error_shaped(api.post(f"/v1/customers/{customer_id}/tags", {"tag": "vip"}), 422,
                rule="tag_already_present")
        assert api.post(f"/v1/customers/{customer_id}/tags", {"tag": "Churn-Risk"}).status_code == 200
        removed = api.client.delete(f"/v1/customers/{customer_id}/tags/churn-risk",
                                    headers=api.auth())
        assert removed.status_code == 200, removed.text
        error_shaped(api.client.delete(f"/v1/customers/{customer_id}/tags/churn-risk",
                                       headers=api.auth()), 422,
                rule="tag_not_present")

    def test_duplicate_purchase_reference_is_refused(self, api: Api) -> None:
        customer_id = api.customer()
        body = {"amount": "99.90", "currency": "EUR", "occurred_at": "2026-01-05T10:00:00Z",
                "reference": "INV-1"}
        first = api.post(f"/v1/customers/{customer_id}/purchases", body)
        assert first.status_code == 201, first.text
        before = api.stored()
        error_shaped(api.post(f"/v1/customers/{customer_id}/purchases", body), 409, code="duplicate")
        assert api.stored() == before

    def test_purchase_items_must_add_up(self, api: Api) -> None:
        customer_id = api.customer()
        error_shaped(api.post(f"/v1/customers/{customer_id}/purchases", {
            "amount": "10.00", "currency": "EUR",
            "items": [{"name": "widget", "quantity": 3, "unit_price": "3.00"}]}),
            422, rule="items_do_not_add_up")

    # -- business time ------------------------------------------------------------------------

    def test_occurred_at_is_kept_and_recorded_at_is_never_accepted(self, api: Api) -> None:
        customer_id = api.customer()
        response = api.post(f"/v1/customers/{customer_id}/interactions", {
            "channel": "call", "direction": "outbound", "subject": "Discovery call",
            "duration_s": 900, "personal": {"body": "…"}, "occurred_at": "2026-03-02T10:00:00Z"})
        assert response.status_code == 201, response.text
        logged = [e for e in api.history(customer_id) if e["type"] == "crm.interaction.logged"][0]
        assert logged["occurred_at"].startswith("2026-03-02T10:00:00")
        assert logged["recorded_at"] > logged["occurred_at"]
        assert logged["data"]["personal"] == {"subject": "Discovery call", "body": "…"}
        before = api.stored()
        error_shaped(api.post(f"/v1/customers/{customer_id}/interactions", {
            "channel": "call", "recorded_at": "2026-03-02T10:00:00Z"}), 422,
            code="invalid_request")
        assert api.stored() == before

    # -- optimistic concurrency ---------------------------------------------------------------

    def test_stale_expected_version_gets_409_and_writes_nothing(self, api: Api) -> None:
        lead_id = api.lead()
        before = api.stored()
        response = api.stage(lead_id, "contacted", expected_version=5)
        error_shaped(response, 409, code="version_conflict")
        assert response.json()["details"]["current_version"] == 1
        assert response.headers["ETag"] == '"1"'
        assert api.stored() == before
        error_shaped(api.post(f"/v1/leads/{lead_id}/stage", {"stage": "contacted"}, **{"If-Match": '"0"'}),
                409, code="version_conflict")
        ok = api.post(f"/v1/leads/{lead_id}/stage", {"stage": "contacted"}, **{"If-Match": '"1"'})
        assert ok.status_code == 200 and ok.json()["version"] == 2
        error_shaped(api.post(f"/v1/leads/{lead_id}/stage", {"stage": "new", "expected_version": 2},
                         **{"If-Match": '"1"'}), 400, code="conflicting_conditions")

    def test_two_concurrent_changes_on_one_version_one_wins_one_gets_409(
        self, api: Api, settings: Settings
    ) -> None:
        lead_id = api.lead()
        both_loaded = threading.Barrier(2, timeout=10)

        class LoadTogether(CommandService):
            """Both requests read the lead before either writes: a true lost-update race."""

            def _load(self, cls, aggregate_id, ctx, expected_version=None):  # type: ignore[no-untyped-def]
                aggregate = super()._load(cls, aggregate_id, ctx, expected_version)
                both_loaded.wait()
                return aggregate

        # Two command services on one store, as two API processes would be: commands on one
        # aggregate take turns within a process, so the race is between processes.
        services = [LoadTogether(api.store, settings) for _ in range(2)]
        with ExitStack() as stack, ThreadPoolExecutor(2) as pool:
            for service in services:
                stack.callback(service.close)
            racers = [Api(stack.enter_context(TestClient(
                at_the_edge(command_app(settings, service), settings, api.store,
                            KeyRing(api.store)),
                raise_server_exceptions=False)), api.store, api.keys) for service in services]
            for racer in racers:
                # Each app builds its request models on its first request; two apps doing that
                # at once in two threads race inside pydantic, so each answers one first.
                error_shaped(racer.stage(str(uuid4()), "contacted"), 404)
            futures = [
                pool.submit(client.stage, lead_id, stage, expected_version=1, **extra)
                for client, (stage, extra) in zip(
                    racers, (("contacted", {}), ("lost", {"reason": "price"})), strict=True)
            ]
            responses = [f.result() for f in futures]
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 409], [r.text for r in responses]
        loser = next(r for r in responses if r.status_code == 409)
        assert loser.json()["details"]["current_version"] >= 2
        winner = next(r for r in responses if r.status_code == 200)
        events = api.log.events_of([UUID(lead_id)])
        assert [e.event.aggregate_version for e in events] == list(range(1, len(events) + 1))
        assert events[-1].position == winner.json()["position"]
        assert len([e for e in events if e.event.event_type == "crm.lead.stage_changed"]) == 1

    def test_unconditional_concurrent_links_are_all_kept(self, api: Api) -> None:
        customer_id = api.customer()
        with ThreadPoolExecutor(4) as pool:
            responses = list(pool.map(
                lambda n: api.post(f"/v1/customers/{customer_id}/interactions",
                                   {"channel": "note", "subject": f"note {n}"}), range(12)))
        assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
        events = api.history(customer_id)
        assert len([e for e in events if e["type"] == "crm.interaction.logged"]) == 12
        assert len([e for e in events if e["type"] == "crm.customer.record_linked"]) == 12

    # -- idempotency --------------------------------------------------------------------------

    def test_idempotent_retry_returns_the_first_result_and_writes_nothing(self, api: Api) -> None:
        customer_id = api.customer()
        body = {"channel": "call", "subject": "Follow-up"}
        path = f"/v1/customers/{customer_id}/interactions"
        first = api.post(path, body, **{"Idempotency-Key": "retry-1"})
        assert first.status_code == 201
        after_first = api.stored()
        again = api.post(path, body, **{"Idempotency-Key": "retry-1"})
        assert again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        assert api.stored() == after_first
        logged = [e for e in api.history(customer_id) if e["type"] == "crm.interaction.logged"]
        assert len(logged) == 1
        error_shaped(api.post(path, {**body, "subject": "Other"}, **{"Idempotency-Key": "retry-1"}),
                422, code="idempotency_key_reused")

    def test_concurrent_retries_with_one_key_write_once(self, api: Api) -> None:
        lead_id = api.lead()
        with ThreadPoolExecutor(4) as pool:
            responses = list(pool.map(
                lambda _: api.post(f"/v1/leads/{lead_id}/stage", {"stage": "contacted"},
                                   **{"Idempotency-Key": f"k-{lead_id}"}),
                range(4)))
        assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
        assert len({r.json()["position"] for r in responses}) == 1
        changes = [e for e in api.log.events_of([UUID(lead_id)])
                   if e.event.event_type == "crm.lead.stage_changed"]
        assert len(changes) == 1

    # -- audit history ------------------------------------------------------------------------

    def test_history_returns_every_event_with_its_actor_in_store_order(self, api: Api) -> None:
        created = api.post("/v1/leads", {"customer": ADA, "title": "Deal", "amount": "10.00",
                                         "currency": "EUR"}, actor="rep-1").json()
        customer_id, lead_id = created["customer_id"], created["lead_id"]
        api.post(f"/v1/leads/{lead_id}/stage", {"stage": "contacted"}, actor="rep-2")
        api.post(f"/v1/customers/{customer_id}/purchases", {"amount": "1.00", "currency": "EUR"},
                 actor="erp:sync")
        api.post(f"/v1/customers/{customer_id}/tags", {"tag": "gold"}, actor="manager-1")
        events = api.history(customer_id)
        assert [(e["type"], e["actor"]) for e in events] == [
            ("crm.customer.registered", "rep-1"),
            ("crm.lead.created", "rep-1"),
            ("crm.customer.record_linked", "rep-1"),
            ("crm.lead.stage_changed", "rep-2"),
            ("crm.purchase.recorded", "erp:sync"),
            ("crm.customer.record_linked", "erp:sync"),
            ("crm.customer.tagged", "manager-1"),
        ]
        positions = [e["position"] for e in events]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)
        for event in events:
            assert event["version"] == BY_TYPE[event["type"]].schema_version
            assert event["occurred_at"] and event["recorded_at"]
