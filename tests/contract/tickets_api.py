"""`GET /v1/tickets` and `GET /v1/tickets/{id}` over HTTP, written once and run on each
composition (embedded SQLite; PostgreSQL + Kafka with the relay).

Tickets are written through the command API with business times in the past and read with an
explicit `as_of`, so every clock, deadline and breach is exact and no answer depends on when
the test runs. Each test works in a tenant of its own. Subclasses provide a class-scoped
`settings` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.common.settings import Settings
from services.projections.rebuild import rebuild
from services.projections.registry import NAMES, build
from services.projections.tickets import reads as tickets_model
from services.query.read_models import ReadModels
from tests.contract.query_api import READY_TIMEOUT_S, Crm, Rules, at, compose_serve, cursor_of
from tests.errors import error_shaped
from tests.waiting import eventually

AS_OF = at(0, 10)
"""The moment the world below is read at: ten hours after its first ticket."""


@dataclass
class World:
    """Five tickets of two customers whose clocks at AS_OF (default targets: first response
    urgent 1 h, high 4 h, normal 24 h, low 72 h; resolution urgent 8 h, high 48 h, normal
    120 h, low 240 h) are, with their due moments:

    - fire: urgent, never answered, first response overdue since 1 h → breached, due +1 h
    - login: high, opened at 8 h, never answered → due at 12 h
    - invoice: normal, answered (pending) at 2 h → waiting on the customer, due at 121 h
    - password: low, resolved at 3 h → nothing due, not breached
    - jams: high, answered at 5h20 (target 4 h: late) → breached, resolution due at 48h20
    """

    ada: str
    grace: str
    fire: str
    login: str
    invoice: str
    password: str
    jams: str

    @property
    def all(self) -> set[str]:
        return {self.fire, self.login, self.invoice, self.password, self.jams}


def open_ticket(crm: Crm, customer: str, subject: str, priority: str, occurred_at: str,
                actor: str = "rep-1", **fields: Any) -> str:
    body = {"subject": subject, "priority": priority, "occurred_at": occurred_at, **fields}
    return str(crm.post(f"/v1/customers/{customer}/tickets", body, actor=actor)["ticket_id"])


def comment(crm: Crm, ticket: str, body: str, occurred_at: str, *, public: bool = True,
            author_type: str = "agent", actor: str = "rep-1") -> None:
    crm.post(f"/v1/tickets/{ticket}/comments", {
        "personal": {"body": body}, "public": public, "author_type": author_type,
        "occurred_at": occurred_at}, actor=actor)


def status(crm: Crm, ticket: str, to: str, occurred_at: str, reason: str | None = None) -> None:
    crm.post(f"/v1/tickets/{ticket}/status", {"status": to, "occurred_at": occurred_at,
                                              **({"reason": reason} if reason else {})})


def world(crm: Crm) -> World:
    ada = crm.customer("Ada Lovelace", company="Analytical Engines")
    grace = crm.customer("Grace Hopper", company="Navy Compilers")
    fire = open_ticket(crm, ada, "Printer on fire", "urgent", at(0), assignee="agent-1")
    password = open_ticket(crm, grace, "Password reset", "low", at(0, minutes=10),
                           external_ref="ZD-4711")
    status(crm, password, "resolved", at(0, 3))
    jams = open_ticket(crm, grace, "Printer jams daily", "high", at(0, minutes=20),
                       assignee="agent-2")
    comment(crm, jams, "Ordered a new roller", at(0, 5, 20))
    invoice = open_ticket(crm, ada, "Invoice shows wrong amount", "normal", at(0, 1),
                          assignee="agent-1")
    status(crm, invoice, "pending", at(0, 2))
    login = open_ticket(crm, ada, "Cannot log in", "high", at(0, 8), assignee="agent-2")
    return World(ada, grace, fire, login, invoice, password, jams)


def ids(page: dict[str, Any]) -> list[str]:
    return [item["ticket_id"] for item in page["items"]]


def read_as(crm: Crm, path: str, actor: str, roles: tuple[str, ...], **params: Any) -> Any:
    """A read as `actor` with `roles`, as of the latest write."""
    return crm.client.get(path, params={**params, "min_position": crm.position},
                          headers=crm.auth(actor, roles))


class TicketsApiContract:
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls) -> Settings:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def served(cls, settings: Settings) -> Iterator[tuple[TestClient, ReadModels]]:
        with ExitStack() as stack:
            client, read_models = compose_serve(stack, settings)
            warm_up = Crm(client, f"warmup-{uuid4().hex[:8]}")
            warm_up.customer()
            assert read_models.wait_for(NAMES, warm_up.position, READY_TIMEOUT_S), \
                "the projectors did not catch up"
            yield client, read_models

    @pytest.fixture
    def crm(self, served: tuple[TestClient, ReadModels]) -> Crm:
        return Crm(served[0], f"t-{uuid4().hex[:12]}")

    # -- the list: filters ---------------------------------------------------------------------

    def test_each_ticket_is_listed_with_its_customer_due_moment_and_breach(self, crm: Crm
                                                                          ) -> None:
        w = world(crm)
        items = {item["ticket_id"]: item for item in
                 crm.get("/v1/tickets", as_of=AS_OF, limit=200)["items"]}
        assert set(items) == w.all
        fire = items[w.fire]
        assert (fire["subject"], fire["customer_name"], fire["customer_company"],
                fire["customer_id"]) == ("Printer on fire", "Ada Lovelace",
                                         "Analytical Engines", w.ada)
        assert (fire["status"], fire["priority"], fire["assignee"], fire["opened_by"]) == (
            "open", "urgent", "agent-1", "rep-1")
        assert (_moment(fire["due_at"]), fire["due_sla"], fire["breached"], fire["breaches"]) == (
            _moment(at(0, 1)), "first_response", True, 0)
        expected = {w.login: (at(0, 12), "first_response", False),
                    w.invoice: (at(5, 1), "resolution", False),
                    w.password: (None, None, False),
                    w.jams: (at(2, minutes=20), "resolution", True)}
        for ticket, (due, sla, breached) in expected.items():
            item = items[ticket]
            assert (_moment(item["due_at"]), item["due_sla"], item["breached"]) == (
                _moment(due), sla, breached), item
        assert items[w.password]["external_ref"] == "ZD-4711"
        assert items[w.password]["resolved_at"] is not None
        assert items[w.jams]["first_response_at"] is not None

    def test_filters_narrow_the_list(self, crm: Crm) -> None:
        w = world(crm)

        def listed(**params: Any) -> set[str]:
            return set(ids(crm.get("/v1/tickets", limit=200, **{"as_of": AS_OF, **params})))

        assert listed(assignee="agent-1") == {w.fire, w.invoice}
        assert listed(status="resolved") == {w.password}
        assert listed(status=["open", "pending"]) == {w.fire, w.login, w.invoice, w.jams}
        assert listed(priority="high") == {w.login, w.jams}
        assert listed(priority=["urgent", "low"]) == {w.fire, w.password}
        assert listed(customer_id=w.grace) == {w.password, w.jams}
        assert listed(breached="true") == {w.fire, w.jams}
        assert listed(breached="false") == {w.login, w.invoice, w.password}
        assert listed(due_within="3h") == {w.login}
        assert listed(due_within="1h") == set()
        assert listed(due_within="2d") == {w.login, w.jams}
        # clocks read earlier: the first response of `fire` is not due yet
        assert listed(due_within="1d1h", as_of=at(0, 0, 30)) == {w.fire, w.login}
        assert listed(priority="high", breached="true") == {w.jams}
        assert listed(customer_id=str(uuid4())) == set()

    def test_q_finds_tickets_by_subject_words_customer_name_company_and_references(
            self, crm: Crm) -> None:
        w = world(crm)

        def found(q: str) -> set[str]:
            return set(ids(crm.get("/v1/tickets", q=q, limit=200)))

        assert found("printer") == {w.fire, w.jams}
        assert found("PRIN") == {w.fire, w.jams}  # a word's start, any case
        assert found("printer fire") == {w.fire}  # every word
        assert found("Printer on fire") == {w.fire}  # the whole subject
        assert found("ada") == {w.fire, w.login, w.invoice}
        assert found("Grace Hopper") == {w.password, w.jams}
        assert found("engines") == {w.fire, w.login, w.invoice}  # text in the company
        assert found("zd-4711") == {w.password}
        assert found("4711") == {w.password}  # text in a reference
        assert found("fire printer") == {w.fire}
        assert found("toaster") == set()
        assert found("rinter") == set()  # blind tokens match words and their starts only

    def test_a_customer_without_a_name_is_known_by_its_reference(self, crm: Crm) -> None:
        customer = str(crm.post("/v1/customers", {
            "personal": {"email": "nameless@example.com"}, "external_ref": "ERP-0042",
            "occurred_at": at(0)})["customer_id"])
        ticket = open_ticket(crm, customer, "Printer on fire", "low", at(0))
        [item] = crm.get("/v1/tickets")["items"]
        assert (item["ticket_id"], item["customer_name"], item["customer_external_ref"]) == (
            ticket, "ERP-0042", "ERP-0042")
        assert ids(crm.get("/v1/tickets", q="erp-00")) == [ticket]
        analyst = read_as(crm, "/v1/tickets", "analyst-1", ("analyst",)).json()["items"][0]
        assert (analyst["customer_name"], analyst["subject"]) == ("ERP-0042", None)

    def test_assignee_me_is_the_caller(self, crm: Crm) -> None:
        w = world(crm)
        mine = read_as(crm, "/v1/tickets", "agent-2", ("support_agent",), assignee="me")
        assert mine.status_code == 200, mine.text
        assert set(ids(mine.json())) == {w.login, w.jams}

    # -- sorts and pages -----------------------------------------------------------------------

    @pytest.mark.parametrize(("sort", "order", "expected"), [
        ("opened_at", None, ["login", "invoice", "jams", "password", "fire"]),
        ("opened_at", "asc", ["fire", "password", "jams", "invoice", "login"]),
        ("priority", None, ["fire", "login", "jams", "invoice", "password"]),
        ("priority", "asc", ["password", "invoice", "jams", "login", "fire"]),
        ("due_at", None, ["fire", "login", "jams", "invoice", "password"]),
        ("due_at", "desc", ["invoice", "jams", "login", "fire", "password"]),
        ("updated_at", None, ["login", "jams", "password", "invoice", "fire"]),
        ("updated_at", "asc", ["fire", "invoice", "password", "jams", "login"]),
    ])
    def test_every_sort_orders_and_pages_without_gap_or_duplicate(
            self, crm: Crm, sort: str, order: str | None, expected: list[str]) -> None:
        w = world(crm)
        order_params = {"order": order} if order else {}
        whole = crm.get("/v1/tickets", as_of=AS_OF, sort=sort, limit=200, **order_params)
        assert ids(whole) == [getattr(w, name) for name in expected]
        assert whole["next_cursor"] is None and whole["total"] is None
        seen: list[str] = []
        cursor = None
        for _ in range(5):
            page = crm.get("/v1/tickets", as_of=AS_OF, sort=sort, limit=2, include_total="true",
                           **order_params, **({"cursor": cursor} if cursor else {}))
            assert page["total"] == 5
            seen += ids(page)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ids(whole)

    def test_a_ticket_written_between_pages_shifts_no_later_page(self, crm: Crm) -> None:
        w = world(crm)
        first = crm.get("/v1/tickets", as_of=AS_OF, limit=2)
        newer = open_ticket(crm, w.ada, "Newest of all", "low", at(1))
        rest = crm.get("/v1/tickets", as_of=AS_OF, limit=200, cursor=first["next_cursor"])
        assert newer not in ids(rest)
        assert ids(first) + ids(rest) == [w.login, w.invoice, w.jams, w.password, w.fire]

    def test_include_total_counts_every_match_of_the_filters(self, crm: Crm) -> None:
        w = world(crm)
        page = crm.get("/v1/tickets", as_of=AS_OF, limit=1, include_total="true",
                       breached="true")
        assert page["total"] == 2 and len(page["items"]) == 1
        assert crm.get("/v1/tickets", customer_id=w.grace, include_total="true")["total"] == 2

    # -- the ticket page -----------------------------------------------------------------------

    def test_the_ticket_page_has_its_history_comments_and_clocks(self, crm: Crm) -> None:
        customer = crm.customer("Ada Lovelace", company="Analytical Engines")
        ticket = open_ticket(crm, customer, "Printer on fire", "high", at(0), channel="email",
                             assignee="agent-1", external_ref="ZD-1")
        comment(crm, ticket, "Checked the fuse box", at(0, 1), public=False)
        comment(crm, ticket, "It smokes again", at(0, 2), author_type="customer")
        crm.post(f"/v1/tickets/{ticket}/assign", {"assignee": "agent-2",
                                                  "occurred_at": at(0, 3)})
        crm.post(f"/v1/tickets/{ticket}/priority", {"priority": "urgent",
                                                    "reason": "Whole floor affected",
                                                    "occurred_at": at(0, 3, 30)})
        status(crm, ticket, "pending", at(0, 5), reason="Waiting for photos")
        status(crm, ticket, "open", at(0, 6))

        page = crm.get(f"/v1/tickets/{ticket}", as_of=at(0, 7))
        assert (page["ticket_id"], page["customer_id"], page["subject"], page["channel"],
                page["external_ref"], page["status"], page["priority"], page["assignee"]) == (
            ticket, customer, "Printer on fire", "email", "ZD-1", "open", "urgent", "agent-2")
        assert (page["customer_name"], page["customer_company"], page["customer_erased"]) == (
            "Ada Lovelace", "Analytical Engines", False)
        assert [(h["from_status"], h["to_status"], h["reason"]) for h in
                page["status_history"]] == [(None, "open", None),
                                            ("open", "pending", "Waiting for photos"),
                                            ("pending", "open", None)]
        assert [_moment(h["at"]) for h in page["status_history"]] == [
            _moment(at(0)), _moment(at(0, 5)), _moment(at(0, 6))]
        assert [(c["author_type"], c["public"], c["body"]) for c in page["comments"]] == [
            ("agent", False, "Checked the fuse box"), ("customer", True, "It smokes again")]
        assert page["comments_total"] == 2 and page["changes_total"] == 5
        assert [(a["from_assignee"], a["to_assignee"]) for a in page["assignments"]] == [
            ("agent-1", "agent-2")]
        assert [(p["from_priority"], p["to_priority"], p["reason"]) for p in
                page["priority_changes"]] == [("high", "urgent", "Whole floor affected")]
        assert page["escalations"] == [] and page["alerts"] == []
        assert page["version"] == 8  # seven changes and the first response the move recorded

        clocks = page["clocks"]
        assert _moment(clocks["as_of"]) == _moment(at(0, 7))
        # The internal comment and the customer's did not answer; the move to pending did,
        # after 5 h: late against the 1 h target of the urgent priority now in force.
        first = clocks["first_response"]
        assert (first["target_seconds"], first["elapsed_seconds"], first["state"],
                first["remaining_seconds"]) == (3600, 5 * 3600.0, "missed", None)
        assert _moment(first["stopped_at"]) == _moment(at(0, 5))
        assert _moment(first["deadline"]) == _moment(at(0, 1))
        resolution = clocks["resolution"]
        assert (resolution["target_seconds"], resolution["elapsed_seconds"],
                resolution["remaining_seconds"], resolution["state"]) == (
            8 * 3600, 7 * 3600.0, 3600.0, "running")
        assert _moment(resolution["deadline"]) == _moment(at(0, 8))
        assert page["breached"] is True and page["due_sla"] == "resolution"

        later = crm.get(f"/v1/tickets/{ticket}", as_of=at(0, 9))["clocks"]["resolution"]
        assert (later["state"], later["remaining_seconds"]) == ("overdue", -3600.0)

    def test_clocks_stop_at_resolution_and_restart_on_reopening(self, crm: Crm) -> None:
        customer = crm.customer()
        ticket = open_ticket(crm, customer, "Printer on fire", "normal", at(0))
        comment(crm, ticket, "On my way", at(0, 2))
        status(crm, ticket, "pending", at(0, 3))
        waiting = crm.get(f"/v1/tickets/{ticket}", as_of=at(9))
        assert waiting["clocks"]["resolution"]["state"] == "waiting_on_customer"
        assert waiting["breached"] is False  # pending: the rule flags no resolution breach
        status(crm, ticket, "resolved", at(1))
        status(crm, ticket, "closed", at(2))
        page = crm.get(f"/v1/tickets/{ticket}", as_of=at(30))
        first, resolution = page["clocks"]["first_response"], page["clocks"]["resolution"]
        assert (first["state"], first["elapsed_seconds"]) == ("met", 2 * 3600.0)
        assert (resolution["state"], resolution["elapsed_seconds"]) == ("met", 86400.0)
        assert (page["due_at"], page["breached"]) == (None, False)
        assert _moment(page["resolved_at"]) == _moment(at(1))
        assert _moment(page["closed_at"]) == _moment(at(2))

        status(crm, ticket, "open", at(10))  # reopens: a new resolution clock from here
        reopened = crm.get(f"/v1/tickets/{ticket}", as_of=at(11))
        assert (reopened["status"], reopened["reopened"], reopened["closed_at"]) == (
            "reopened", 1, None)
        assert _moment(reopened["clocks"]["resolution"]["started_at"]) == _moment(at(10))
        assert reopened["clocks"]["resolution"]["state"] == "running"
        assert _moment(reopened["due_at"]) == _moment(at(15))
        assert _moment(reopened["resolved_at"]) == _moment(at(1))  # its first resolution
        assert crm.get(f"/v1/tickets/{ticket}", as_of=at(16))["breached"] is True

    def test_clocks_follow_the_sla_targets_in_force(self, crm: Crm) -> None:
        customer = crm.customer()
        ticket = open_ticket(crm, customer, "Printer on fire", "urgent", at(0))
        before = crm.get(f"/v1/tickets/{ticket}", as_of=at(0, 0, 45))
        assert before["clocks"]["first_response"]["target_seconds"] == 3600
        assert (before["clocks"]["first_response"]["state"], before["breached"]) == (
            "running", False)
        rules = '[sla]\nfirst_response = { urgent = "30m" }\nresolution = { urgent = "2h" }\n'
        applied = crm.client.put("/v1/rules", content=rules, headers={
            **crm.auth(), "Content-Type": "application/toml"})
        assert applied.status_code == 200, applied.text
        after = crm.get(f"/v1/tickets/{ticket}", as_of=at(0, 0, 45))
        first = after["clocks"]["first_response"]
        assert (first["target_seconds"], first["state"], first["remaining_seconds"]) == (
            1800, "overdue", -900.0)
        assert after["clocks"]["resolution"]["target_seconds"] == 7200
        assert after["breached"] is True
        assert ids(crm.get("/v1/tickets", as_of=at(0, 0, 45), breached="true")) == [ticket]
        crm.client.put("/v1/rules", content="[sla]\nenabled = false\n", headers={
            **crm.auth(), "Content-Type": "application/toml"})
        off = crm.get(f"/v1/tickets/{ticket}", as_of=at(0, 0, 45))
        assert off["clocks"]["first_response"]["target_seconds"] is None
        assert (off["clocks"]["first_response"]["state"], off["due_at"], off["breached"]) == (
            "running", None, False)

    def test_a_recorded_breach_shows_as_escalation_with_its_alert(self, crm: Crm) -> None:
        customer = crm.customer()
        ticket = open_ticket(crm, customer, "Printer on fire", "high", at(0),
                             assignee="agent-1")
        alert = Rules(crm).sla_breach(ticket, at(0, 5))
        page = crm.get(f"/v1/tickets/{ticket}", as_of=at(0, 6))
        assert page["breaches"] == 1 and page["breached"] is True
        [escalation] = page["escalations"]
        assert (escalation["sla"], escalation["priority"], escalation["target_seconds"],
                escalation["by"]) == ("first_response", "high", 3600, "rule:sla")
        assert _moment(escalation["deadline"]) == _moment(at(0, 4))
        # the rule raised the priority one step
        assert [(p["from_priority"], p["to_priority"], p["by"]) for p in
                page["priority_changes"]] == [("high", "urgent", "rule:sla")]
        assert page["clocks"]["first_response"]["breach_recorded"] is True
        assert page["clocks"]["first_response"]["state"] == "overdue"
        [raised] = page["alerts"]
        assert (raised["alert_id"], raised["kind"], raised["status"], raised["assignees"],
                raised["raised_by"]) == (alert, "sla_breached", "open", ["agent-1"], "rule:sla")
        crm.post(f"/v1/alerts/{alert}/acknowledge", {"note": "on it"}, actor="agent-1")
        acknowledged = crm.get(f"/v1/tickets/{ticket}", as_of=at(0, 6))["alerts"][0]
        assert (acknowledged["status"], acknowledged["acknowledged_by"]) == (
            "acknowledged", "agent-1")
        assert "note" not in acknowledged

    def test_an_unknown_ticket_or_another_tenants_is_404(self, crm: Crm,
                                                        served: tuple[TestClient, ReadModels]
                                                        ) -> None:
        customer = crm.customer()
        ticket = open_ticket(crm, customer, "Printer on fire", "low", at(0))
        error_shaped(crm.get_raw(f"/v1/tickets/{uuid4()}", {"min_position": crm.position}),
                     404, "not_found")
        stranger = Crm(served[0], f"other-{uuid4().hex[:8]}")
        stranger.position = crm.position
        error_shaped(stranger.get_raw(f"/v1/tickets/{ticket}", {"min_position": crm.position}),
                     404, "not_found")
        assert stranger.get("/v1/tickets")["items"] == []

    # -- who sees what -------------------------------------------------------------------------

    def test_a_rep_sees_the_tickets_of_their_book_only(self, crm: Crm) -> None:
        theirs = crm.customer("Ada Lovelace", owner="rep-z")
        own = crm.customer("Grace Hopper", owner="rep-a")
        assigned = open_ticket(crm, theirs, "Assigned to the rep", "low", at(0),
                               actor="agent-9", assignee="rep-a")
        opened = open_ticket(crm, theirs, "Opened by the rep", "low", at(0, 1),
                             actor="rep-a", assignee="agent-9")
        of_customer = open_ticket(crm, own, "On the rep's customer", "low", at(0, 2),
                                  actor="agent-9", assignee="agent-9")
        other = open_ticket(crm, theirs, "Nothing to do with the rep", "low", at(0, 3),
                            actor="agent-9", assignee="agent-9")
        rep = ("rep-a", ("sales_rep",))
        page = read_as(crm, "/v1/tickets", *rep, include_total="true")
        assert page.status_code == 200, page.text
        assert set(ids(page.json())) == {assigned, opened, of_customer}
        assert page.json()["total"] == 3
        assert ids(read_as(crm, "/v1/tickets", *rep, assignee="me").json()) == [assigned]
        assert ids(read_as(crm, "/v1/tickets", *rep, q="nothing").json()) == []
        assert read_as(crm, f"/v1/tickets/{of_customer}", *rep).status_code == 200
        error_shaped(read_as(crm, f"/v1/tickets/{other}", *rep), 404, "not_found")
        agent = read_as(crm, "/v1/tickets", "agent-1", ("support_agent",))
        assert set(ids(agent.json())) == {assigned, opened, of_customer, other}

    def test_an_analyst_reads_tickets_without_personal_values(self, crm: Crm) -> None:
        customer = crm.customer("Ada Lovelace", company="Analytical Engines")
        ticket = open_ticket(crm, customer, "Printer on fire", "low", at(0))
        comment(crm, ticket, "Checked the fuse box", at(0, 1))
        status(crm, ticket, "pending", at(0, 2), reason="Waiting for photos")
        listed = read_as(crm, "/v1/tickets", "analyst-1", ("analyst",)).json()["items"][0]
        assert (listed["subject"], listed["customer_name"], listed["customer_company"]) == (
            None, None, "Analytical Engines")
        page = read_as(crm, f"/v1/tickets/{ticket}", "analyst-1", ("analyst",)).json()
        assert page["subject"] is None and page["comments"][0]["body"] is None
        assert page["status_history"][1]["reason"] is None
        assert page["status"] == "pending" and page["comments_total"] == 1
        for secret in ("Ada", "Printer", "fuse", "photos"):
            assert secret not in repr(page), secret

    def test_reading_a_ticket_page_is_in_the_access_log(self, crm: Crm) -> None:
        customer = crm.customer()
        ticket = open_ticket(crm, customer, "Printer on fire", "low", at(0))
        crm.get(f"/v1/tickets/{ticket}")

        def logged() -> list[dict[str, Any]]:
            entries = crm.get_raw("/v1/audit/access", {"customer_id": customer}).json()
            return [e for e in entries["items"] if e["what"] == "ticket"]

        [entry] = eventually(logged, 10, "the ticket read was not logged")
        assert entry["route"] == "GET /v1/tickets/{ticket_id}"

    # -- erasure and rebuilds ------------------------------------------------------------------

    def test_erasure_redacts_the_tickets_model(self, crm: Crm) -> None:
        erased = crm.customer("Zebulon Quartermaine", company="Kept Company Ltd")
        kept = crm.customer("Philippa Oakenshield")
        gone = open_ticket(crm, erased, "Zebulon cannot reach the portal", "high", at(0))
        comment(crm, gone, "Zebulon mentioned a daughter Quilla", at(0, 1))
        status(crm, gone, "pending", at(0, 2), reason="Zebulon is travelling")
        stays = open_ticket(crm, kept, "Philippa cannot reach the portal", "high", at(0))
        assert set(ids(crm.get("/v1/tickets", q="portal"))) == {gone, stays}
        crm.post(f"/v1/customers/{erased}/erase", {
            "legal_basis": "gdpr_art_17", "request_reference": "DSR-7",
            "reason": "Erasure request"}, actor="dpo")

        page = crm.get(f"/v1/tickets/{gone}", as_of=at(0, 3))
        assert (page["subject"], page["customer_name"], page["customer_company"],
                page["customer_erased"]) == ("[erased]", "[erased]", "Kept Company Ltd", True)
        assert page["comments"][0]["body"] == "[erased]"
        assert page["status_history"][1]["reason"] == "[erased]"
        assert page["status"] == "pending" and page["priority"] == "high"  # the facts stay
        listed = {item["ticket_id"]: item for item in crm.get("/v1/tickets")["items"]}
        assert listed[gone]["subject"] == "[erased]"
        assert listed[stays]["subject"] == "Philippa cannot reach the portal"
        for q in ("portal", "zebulon", "quartermaine", "daughter"):
            assert gone not in ids(crm.get("/v1/tickets", q=q)), q
        assert ids(crm.get("/v1/tickets", q="philippa")) == [stays]
        shown = repr([page, listed])
        for value in ("Zebulon", "Quartermaine", "Quilla", "travelling"):
            assert value not in shown, value

    def test_a_rebuild_answers_as_the_live_model(
            self, crm: Crm, settings: Settings, served: tuple[TestClient, ReadModels]) -> None:
        w = world(crm)
        Rules(crm).sla_breach(w.fire, at(0, 2))
        comment(crm, w.login, "Reset the token", at(0, 9), public=False)
        gone = crm.customer("Zebulon Quartermaine")
        erased_ticket = open_ticket(crm, gone, "Zebulon cannot reach the portal", "low", at(0))
        crm.post(f"/v1/customers/{gone}/erase", {"legal_basis": "other",
                                                 "request_reference": "DSR-8", "reason": "Asked"})

        def answers() -> list[Any]:
            return [crm.get("/v1/tickets", as_of=AS_OF, limit=200, include_total="true"),
                    crm.get("/v1/tickets", as_of=AS_OF, q="printer"),
                    *(crm.get(f"/v1/tickets/{t}", as_of=AS_OF)
                      for t in sorted(w.all | {erased_ticket}))]

        live = answers()
        _, read_models = served
        host = read_models.host
        result = rebuild(build(tickets_model.NAME, settings),
                         host.store_for(host.projections[tickets_model.NAME]), settings,
                         event_store=read_models.event_store)
        assert result.previous_generation is not None and result.events > 0
        assert answers() == live

    # -- bad input -----------------------------------------------------------------------------

    @pytest.mark.parametrize("params", [
        {"status": "stuck"}, {"priority": "critical"}, {"breached": "perhaps"},
        {"due_within": "2x"}, {"due_within": "0s"}, {"due_within": "3651d"},
        {"due_within": "2"}, {"due_within": "h"}, {"due_within": ""}, {"limit": 0},
        {"limit": 201}, {"sort": "subject"}, {"order": "sideways"}, {"q": ""},
        {"customer_id": "not-a-uuid"}, {"as_of": "yesterday"}, {"assignee": "a\x00b"},
        {"include_total": "perhaps"}, {"min_position": -1},
    ])
    def test_bad_list_parameters_are_422_in_the_error_shape(self, crm: Crm,
                                                            params: dict[str, Any]) -> None:
        error_shaped(crm.get_raw("/v1/tickets", params), 422)

    def test_a_cursor_not_from_this_query_is_refused(self, crm: Crm) -> None:
        w = world(crm)
        by_due = crm.get("/v1/tickets", as_of=AS_OF, sort="due_at", limit=1)["next_cursor"]
        assert by_due is not None
        for cursor, params in (
                ("not-a-cursor", {}), (by_due, {}), (by_due, {"order": "desc", "sort": "due_at"}),
                (cursor_of(["opened_at", "desc", "x", w.fire]), {}),
                (cursor_of(["opened_at", "desc", True, w.fire]), {}),
                (cursor_of(["opened_at", "desc", 1, "not-a-uuid"]), {}),
                (cursor_of(["opened_at", "desc", 2**70, w.fire]), {}),
                (cursor_of(["priority", "desc", 1, w.fire]), {"sort": "priority"})):
            answer = crm.get_raw("/v1/tickets", {"cursor": cursor, **params})
            error_shaped(answer, 422, "invalid_cursor")

    def test_bad_ticket_page_parameters_are_refused(self, crm: Crm) -> None:
        error_shaped(crm.get_raw("/v1/tickets/not-a-uuid"), 422)
        error_shaped(crm.get_raw(f"/v1/tickets/{uuid4()}", {"as_of": "2025-13-01"}), 422)

    def test_a_position_beyond_the_log_is_refused_at_once(self, crm: Crm) -> None:
        crm.customer()
        beyond = {"min_position": 2**40}
        error_shaped(crm.get_raw("/v1/tickets", beyond), 422, "position_beyond_log")
        error_shaped(crm.get_raw(f"/v1/tickets/{uuid4()}", beyond), 422, "position_beyond_log")


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
