"""`GET /v1/leads` and `GET /v1/leads/{id}` over HTTP, and the customer search and filters
that find anyone (`q` on external references and phones, the `lead_*` filters behind a funnel
figure, a reference as the name of a customer an import met first) — written once and run on
each composition (embedded SQLite; PostgreSQL + Kafka with the relay).

Writes go through the command API (alerts and overdue flags as the policies issue them),
reads through the query routes of the same app with the write's position as `min_position`.
Business times are days before the test runs, so staleness and follow-up deadlines are days
away from any boundary. Each test works in a tenant of its own. Subclasses provide a
class-scoped `settings` fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.command.importing import import_file
from services.common.settings import Settings
from services.projections.rebuild import rebuild
from services.projections.registry import NAMES, build
from services.query.read_models import ReadModels
from tests.contract.query_api import READY_TIMEOUT_S, Crm, Rules, at, compose_serve, cursor_of
from tests.errors import error_shaped

NOW = datetime.now(UTC)
DAY = 86400.0


def ago(days: float, hours: float = 0) -> str:
    return (NOW - timedelta(days=days, hours=hours)).isoformat()


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def customer(crm: Crm, name: str, **fields: Any) -> str:
    personal = {"name": name, "email": f"{name.split()[0].lower()}@example.com",
                **fields.pop("personal", {})}
    return str(crm.post("/v1/customers", {"personal": personal, "occurred_at": at(),
                                          **fields})["customer_id"])


def lead(crm: Crm, customer_id: str, title: str, occurred_at: str, actor: str = "rep-1",
         **fields: Any) -> str:
    body = {"customer_id": customer_id, "title": title, "occurred_at": occurred_at, **fields}
    return str(crm.post("/v1/leads", body, actor=actor)["lead_id"])


def walk(crm: Crm, lead_id: str, *steps: tuple[str, str], reason: str | None = None) -> None:
    for stage, occurred_at in steps:
        crm.stage(lead_id, stage, occurred_at, **({"reason": reason} if reason else {}))


@dataclass
class World:
    """Five leads of two customers (ada: ERP-0042, phone +44 20 7946 0958; grace: ERP-0077):

    - l1 ada, rep-1, web, EMEA, 12000.00 EUR, OPP-1: new 30 days ago, contacted 29, qualified
      20 (its last contact)
    - l2 ada, rep-2, referral, EMEA, 500.00 EUR: new 10, contacted 9, lost 8 ("price")
    - l3 grace, rep-1, web, NA, 99.50 USD: new 3, an interaction for it 1 day ago
    - l4 grace, unassigned, event, NA, no amount: new 5 (grace contacted 1 day ago, by l3's
      interaction)
    - l5 ada, rep-2, web, EMEA, 3000.00 EUR: new 40, through every stage to won 35
    """

    ada: str
    grace: str
    l1: str
    l2: str
    l3: str
    l4: str
    l5: str

    @property
    def all(self) -> set[str]:
        return {self.l1, self.l2, self.l3, self.l4, self.l5}

    def name(self, lead_id: str) -> str:
        return next(name for name in ("l1", "l2", "l3", "l4", "l5")
                    if getattr(self, name) == lead_id)


def world(crm: Crm) -> World:
    ada = customer(crm, "Ada Lovelace", company="Analytical Engines", external_ref="ERP-0042",
                   personal={"phone": "+44 20 7946 0958"})
    grace = customer(crm, "Grace Hopper", company="US Navy", external_ref="ERP-0077")
    l1 = lead(crm, ada, "Difference engine upgrade", ago(30), owner="rep-1", source="web",
              region="EMEA", amount="12000.00", currency="EUR", external_ref="OPP-1")
    walk(crm, l1, ("contacted", ago(29)), ("qualified", ago(20)))
    l2 = lead(crm, ada, "Analytical engine service", ago(10), owner="rep-2",
              source="referral", region="EMEA", amount="500.00", currency="EUR")
    walk(crm, l2, ("contacted", ago(9)))
    walk(crm, l2, ("lost", ago(8)), reason="price")
    l3 = lead(crm, grace, "Compiler licence", ago(3), owner="rep-1", source="web",
              region="NA", amount="99.50", currency="USD")
    crm.post(f"/v1/customers/{grace}/interactions", {
        "channel": "call", "direction": "outbound", "lead_id": l3, "occurred_at": ago(1)})
    l4 = lead(crm, grace, "Navy training", ago(5), source="event", region="NA")
    l5 = lead(crm, ada, "Punched cards", ago(40), owner="rep-2", source="web",
              region="EMEA", amount="3000.00", currency="EUR")
    walk(crm, l5, ("contacted", ago(39)), ("qualified", ago(38)), ("proposal", ago(37)),
         ("negotiation", ago(36)), ("won", ago(35)))
    return World(ada, grace, l1, l2, l3, l4, l5)


def ids(page: dict[str, Any]) -> list[str]:
    return [item["lead_id"] for item in page["items"]]


def read_as(crm: Crm, path: str, actor: str, roles: tuple[str, ...], **params: Any) -> Any:
    """A read as `actor` with `roles`, as of the latest write."""
    return crm.client.get(path, params={**params, "min_position": crm.position},
                          headers=crm.auth(actor, roles))


def put_rules(crm: Crm, text: str) -> None:
    answer = crm.client.put("/v1/rules", content=f"{text}\n# {uuid4()}\n", headers={
        **crm.auth("boss"), "Content-Type": "application/toml"})
    assert answer.status_code == 200, answer.text


def without_clock(page: dict[str, Any]) -> dict[str, Any]:
    """A lead page without what moves with the clock (the current stay's length)."""
    history = [{k: v for k, v in stay.items() if not (stay["current"] and k == "seconds")}
               for stay in page["stage_history"]]
    return {**page, "stage_history": history,
            "time_in_stage": None if page["open"] else page["time_in_stage"]}


class LeadsApiContract:
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

    def test_each_lead_is_listed_with_its_customer_stage_amount_and_last_contact(
            self, crm: Crm) -> None:
        w = world(crm)
        items = {item["lead_id"]: item for item in crm.get("/v1/leads", limit=200)["items"]}
        assert set(items) == w.all
        l1 = items[w.l1]
        assert (l1["title"], l1["pipeline"], l1["stage"], l1["status"], l1["open"],
                l1["owner"], l1["created_by"], l1["source"], l1["region"], l1["amount"],
                l1["currency"], l1["external_ref"]) == (
            "Difference engine upgrade", "default", "qualified", "open", True, "rep-1", "rep-1",
            "web", "EMEA", "12000.00", "EUR", "OPP-1")
        assert (l1["customer_id"], l1["customer_name"], l1["customer_company"],
                l1["customer_external_ref"], l1["customer_erased"]) == (
            w.ada, "Ada Lovelace", "Analytical Engines", "ERP-0042", False)
        assert moment(l1["created_at"]) == moment(ago(30))
        assert moment(l1["stage_entered_at"]) == moment(ago(20))
        assert moment(l1["last_contact_at"]) == moment(ago(20))
        # default follow-up window: 7 days after the last contact
        assert moment(l1["next_follow_up_at"]) == moment(ago(13))
        assert l1["follow_up_overdue"] is True and l1["closed_at"] is None
        # the interaction for l3 touched it; the same contact counts for grace's l4
        assert moment(items[w.l3]["last_contact_at"]) == moment(ago(1))
        assert moment(items[w.l4]["last_contact_at"]) == moment(ago(1))
        assert items[w.l4]["owner"] is None and items[w.l4]["amount"] is None
        lost, won = items[w.l2], items[w.l5]
        assert (lost["status"], lost["open"], lost["next_follow_up_at"]) == ("lost", False, None)
        assert moment(lost["closed_at"]) == moment(ago(8))
        assert (won["status"], won["stage"]) == ("won", "won")

    def test_every_filter_selects_exactly_the_matching_leads(self, crm: Crm) -> None:
        w = world(crm)

        def found(**params: Any) -> set[str]:
            page = crm.get("/v1/leads", limit=200, **params)
            return {w.name(lead_id) for lead_id in ids(page)}

        assert found() == {"l1", "l2", "l3", "l4", "l5"}
        assert found(owner="rep-1") == {"l1", "l3"}
        assert found(owner="me") == {"l1", "l3"}  # the caller is rep-1
        assert found(owner="rep-2") == {"l2", "l5"}
        assert found(owner="nobody") == set()
        assert found(stage="qualified") == {"l1"}
        assert found(stage=["new", "lost"]) == {"l2", "l3", "l4"}
        assert found(open="true") == {"l1", "l3", "l4"}
        assert found(open="false") == {"l2", "l5"}
        assert found(pipeline="default") == {"l1", "l2", "l3", "l4", "l5"}
        assert found(source="web") == {"l1", "l3", "l5"}
        assert found(region="NA") == {"l3", "l4"}
        assert found(customer_id=w.grace) == {"l3", "l4"}
        assert found(min_amount="500") == {"l1", "l2", "l5"}
        assert found(max_amount="500.00") == {"l2", "l3"}
        assert found(min_amount="99.5", max_amount="99.50") == {"l3"}
        assert found(min_amount="100", max_amount="3000") == {"l2", "l5"}
        assert found(currency="USD") == {"l3"}
        assert found(created_from=ago(11)) == {"l2", "l3", "l4"}
        assert found(created_to=ago(11)) == {"l1", "l5"}
        assert found(created_from=ago(31), created_to=ago(4)) == {"l1", "l2", "l4"}
        assert found(created_from=ago(30)) >= {"l1"}  # `from` is inclusive
        assert "l2" not in found(created_to=ago(10))  # `to` is exclusive
        # last contact: l1 20 days ago, l2 8 (its loss), l5 35; l3 and l4 1 day ago
        assert found(stale_for="7d") == {"l1", "l2", "l5"}
        assert found(stale_for="7d", open="true") == {"l1"}
        assert found(stale_for="25d") == {"l5"}
        assert found(stale_for="1d12h") == {"l1", "l2", "l5"}
        assert found(reached="qualified") == {"l1", "l5"}
        assert found(reached="contacted") == {"l1", "l2", "l5"}
        assert found(reached="new") == {"l1", "l2", "l3", "l4", "l5"}
        assert found(owner="rep-1", open="true", stage="qualified") == {"l1"}

    def test_search_matches_title_company_references_and_the_customers_name_email_and_phone(
            self, crm: Crm) -> None:
        w = world(crm)

        def found(q: str) -> set[str]:
            return {w.name(lead_id) for lead_id in ids(crm.get("/v1/leads", q=q, limit=200))}

        ada, grace = {"l1", "l2", "l5"}, {"l3", "l4"}
        assert found("difference") == {"l1"}          # the title, anywhere, any case
        assert found("ENGINE") == {"l1", "l2"} | ada  # titles and ada's company
        assert found("navy") == grace                 # the company (and l4's title)
        assert found("OPP-1") == {"l1"}               # the lead's external reference
        assert found("erp-0077") == grace             # the customer's external reference
        assert found("ERP-0042") == ada
        assert found("lovelace") == ada               # a word of the name
        assert found("grace hopper") == grace         # the whole name
        assert found("hop") == grace                  # the start of a word
        assert found("oppe") == set()                 # not the middle: names are sealed
        assert found("ada@example.com") == ada        # the e-mail address
        assert found("+44 20 7946 0958") == ada       # the phone, as written
        assert found("442079460958") == ada           # its digits
        assert found("7946 0958") == ada              # its last digits
        assert found("%") == set()                    # a wildcard is literal text
        assert found("zzz") == set()

    def test_include_total_counts_every_match_not_just_the_page(self, crm: Crm) -> None:
        world(crm)
        page = crm.get("/v1/leads", limit=1, include_total="true")
        assert len(page["items"]) == 1 and page["total"] == 5 and page["next_cursor"]
        assert crm.get("/v1/leads", owner="rep-1", include_total="true")["total"] == 2
        assert crm.get("/v1/leads", stale_for="7d", q="ada", include_total="true")["total"] == 3
        assert crm.get("/v1/leads", limit=1)["total"] is None

    # -- the list: sorts and pages -------------------------------------------------------------

    def test_every_sort_pages_through_every_lead_once_in_order(self, crm: Crm) -> None:
        w = world(crm)
        keys: dict[str, Callable[[dict[str, Any]], Any]] = {
            "created_at": lambda item: moment(item["created_at"]),
            "amount": lambda item: Decimal(item["amount"] or "-1"),
            "stage_entered_at": lambda item: moment(item["stage_entered_at"]),
            "last_contact_at": lambda item: moment(item["last_contact_at"]),
        }
        for sort, key in keys.items():
            for order in ("asc", "desc"):
                seen: list[dict[str, Any]] = []
                cursor = None
                for _ in range(len(w.all) + 1):  # bounded: one page more than there are leads
                    params: dict[str, Any] = {"sort": sort, "order": order, "limit": 2}
                    if cursor is not None:
                        params["cursor"] = cursor
                    page = crm.get("/v1/leads", **params)
                    assert len(page["items"]) <= 2
                    seen += page["items"]
                    cursor = page["next_cursor"]
                    if cursor is None:
                        break
                lead_ids = [item["lead_id"] for item in seen]
                assert len(lead_ids) == len(set(lead_ids)) == 5 and set(lead_ids) == w.all
                values = [key(item) for item in seen]
                assert values == sorted(values, reverse=order == "desc"), (sort, order)
                for first, second in zip(seen, seen[1:], strict=False):
                    if key(first) == key(second):  # ties are ordered by id the same way
                        assert (first["lead_id"] < second["lead_id"]) == (order == "asc")
        # l3 and l4 share their last contact (grace's call): a tie the walk crossed
        by_contact = ids(crm.get("/v1/leads", sort="last_contact_at", order="asc"))
        assert by_contact[:3] == [w.l5, w.l1, w.l2]
        assert by_contact[3:] == sorted([w.l3, w.l4])
        assert ids(crm.get("/v1/leads", sort="amount"))[-1] == w.l4  # no amount: last

    def test_pages_neither_skip_nor_repeat_a_lead_while_leads_are_created(self, crm: Crm
                                                                        ) -> None:
        w = world(crm)
        first = crm.get("/v1/leads", limit=2)  # newest first: l3, l4
        assert ids(first) == [w.l3, w.l4]
        # one newer than every page (before the cursor), one older than every lead (after it)
        newest = lead(crm, w.ada, "Arrived meanwhile", ago(0, 1))
        oldest = lead(crm, w.grace, "Back-dated meanwhile", ago(100))
        seen, cursor = ids(first), first["next_cursor"]
        for _ in range(5):
            page = crm.get("/v1/leads", limit=2, cursor=cursor)
            seen += ids(page)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [w.l3, w.l4, w.l2, w.l1, w.l5, oldest]
        assert newest not in seen
        assert ids(crm.get("/v1/leads", limit=1)) == [newest]

    # -- the lead page -------------------------------------------------------------------------

    def test_the_lead_page_shows_history_durations_discounts_payments_follow_up_and_alerts(
            self, crm: Crm) -> None:
        put_rules(crm, '[follow_up]\nstages = { proposal = "3d" }')
        rules = Rules(crm)
        ada = customer(crm, "Ada Lovelace", company="Analytical Engines")
        deal = lead(crm, ada, "Difference engine upgrade", ago(10), owner="rep-1",
                    amount="12000.00", currency="EUR")
        walk(crm, deal, ("contacted", ago(9)), ("qualified", ago(6)))
        walk(crm, deal, ("proposal", ago(5)), reason="sent the quote")
        small = crm.post(f"/v1/leads/{deal}/discounts", {
            "percent": "5", "reason": "loyal customer", "occurred_at": ago(4)})["discount_id"]
        crm.post(f"/v1/leads/{deal}/payments", {"amount": "1000.00", "currency": "EUR",
                                                "reference": "INV-1", "occurred_at": ago(3)})
        crm.post(f"/v1/customers/{ada}/interactions", {
            "channel": "meeting", "lead_id": deal, "occurred_at": ago(2)})
        follow_up = rules.follow_up(deal, ago(1), assignees=("rep-1", "manager-1"))
        approval = rules.discount_approval(deal, ago(0, 12), approver="manager-1")

        page = crm.get(f"/v1/leads/{deal}")
        assert (page["lead_id"], page["customer_name"], page["customer_company"],
                page["stage"], page["status"], page["stays"]) == (
            deal, "Ada Lovelace", "Analytical Engines", "proposal", "open", 4)
        history = page["stage_history"]
        assert [(s["stage"], s["seconds"], s["current"], s["by"]) for s in history[:3]] == [
            ("new", 1 * DAY, False, "rep-1"), ("contacted", 3 * DAY, False, "rep-1"),
            ("qualified", 1 * DAY, False, "rep-1")]
        current = history[3]
        assert (current["stage"], current["reason"], current["current"], current["left_at"]) \
            == ("proposal", "sent the quote", True, None)
        assert 5 * DAY <= current["seconds"] < 6 * DAY  # counts up to now
        assert [moment(s["entered_at"]) for s in history] == \
            [moment(ago(d)) for d in (10, 9, 6, 5)]
        assert page["time_in_stage"]["contacted"] == 3 * DAY
        assert page["time_in_stage"]["proposal"] == current["seconds"]
        discounts = {d["discount_id"]: d for d in page["discounts"]}
        assert (discounts[small]["percent"], discounts[small]["status"],
                discounts[small]["reason"], discounts[small]["requires_approval"]) == (
            "5", "applied", "loyal customer", False)
        pending = next(d for d in page["discounts"] if d["discount_id"] != small)
        assert (pending["percent"], pending["status"], pending["approver"],
                pending["requires_approval"], pending["threshold_percent"]) == (
            "30", "pending", "manager-1", True, "10")
        payments = page["payments"]
        assert (payments["count"], payments["by_currency"]) == (1, {"EUR": "1000.00"})
        assert payments["items"][0]["reference"] == "INV-1"
        # the follow-up window of `proposal` is 3 days, from the overdue flag a day ago
        assert moment(page["last_contact_at"]) == moment(ago(2))
        assert moment(page["next_follow_up_at"]) == moment(ago(1)) + timedelta(days=3)
        assert page["follow_up_overdue"] is False and page["follow_ups_overdue"] == 1
        assert [(a["alert_id"], a["kind"], a["status"]) for a in page["alerts"]] == [
            (approval, "discount_approval", "open"), (follow_up, "follow_up_overdue", "open")]

        # The approval is decided; the follow-up alert is resolved: it leaves the page.
        crm.post(f"/v1/leads/{deal}/discounts/{pending['discount_id']}/approve",
                 {"note": "fine for three years"}, actor="manager-1")
        crm.post(f"/v1/alerts/{follow_up}/resolve", None, actor="rep-1")
        page = crm.get(f"/v1/leads/{deal}")
        decided = next(d for d in page["discounts"] if d["discount_id"] != small)
        assert (decided["status"], decided["decided_by"], decided["note"]) == (
            "approved", "manager-1", "fine for three years")
        assert [a["alert_id"] for a in page["alerts"]] == [approval]

    def test_stale_counts_from_the_last_contact_by_the_stage_window_in_force(
            self, crm: Crm) -> None:
        put_rules(crm, '[follow_up]\nstages = { contacted = "3d", proposal = "10d" }')
        ada = customer(crm, "Ada Lovelace")
        quiet = lead(crm, ada, "Quiet", ago(6), owner="rep-1")
        walk(crm, quiet, ("contacted", ago(5)))
        Rules(crm).follow_up(quiet, ago(1))  # flagged a day ago: not overdue again yet
        long_window = lead(crm, ada, "Long window", ago(6), owner="rep-1", amount="10.00",
                           currency="EUR")
        walk(crm, long_window, ("contacted", ago(5)), ("qualified", ago(5)),
             ("proposal", ago(5)))
        fresh = lead(crm, ada, "Fresh", ago(6), owner="rep-1")
        walk(crm, fresh, ("contacted", ago(2)))
        closed = lead(crm, ada, "Closed", ago(9), owner="rep-1")
        walk(crm, closed, ("lost", ago(8)), reason="price")
        items = {item["title"]: item for item in crm.get("/v1/leads", limit=200)["items"]}
        assert {title: (item["stale"], item["follow_up_overdue"])
                for title, item in items.items()} == {
            "Quiet": (True, False), "Long window": (False, False), "Fresh": (False, False),
            "Closed": (False, False)}
        assert crm.get(f"/v1/leads/{quiet}")["stale"] is True
        # A contact makes it fresh again.
        crm.post(f"/v1/customers/{ada}/interactions", {
            "channel": "call", "lead_id": quiet, "occurred_at": ago(0, 1)})
        (again,) = [item for item in crm.get("/v1/leads", limit=200)["items"]
                    if item["lead_id"] == quiet]
        assert again["stale"] is False

    def test_the_listed_version_is_the_one_a_change_expects(self, crm: Crm) -> None:
        ada = customer(crm, "Ada Lovelace")
        deal = lead(crm, ada, "Versioned", ago(3), owner="rep-1")
        walk(crm, deal, ("contacted", ago(2)))
        (listed,) = crm.get("/v1/leads", customer_id=ada)["items"]
        assert listed["version"] == crm.get(f"/v1/leads/{deal}")["version"] == 2
        crm.post(f"/v1/leads/{deal}/stage", {"stage": "new", "expected_version": 2})
        stale = crm.client.post(f"/v1/leads/{deal}/stage", json={
            "stage": "contacted", "expected_version": 2}, headers=crm.auth("rep-1"))
        assert stale.status_code == 409, stale.text
        (listed,) = crm.get("/v1/leads", customer_id=ada)["items"]
        assert listed["version"] == 3

    def test_a_closed_lead_has_its_reason_and_final_times_and_no_follow_up(self, crm: Crm
                                                                           ) -> None:
        ada = customer(crm, "Ada Lovelace")
        lost = lead(crm, ada, "Too expensive", ago(10), amount="100.00", currency="EUR")
        walk(crm, lost, ("contacted", ago(8)))
        walk(crm, lost, ("lost", ago(5)), reason="went with a competitor")
        won = lead(crm, ada, "Signed", ago(10), amount="100.00", currency="EUR")
        walk(crm, won, *((stage, ago(9 - i)) for i, stage in enumerate(
            ("contacted", "qualified", "proposal", "negotiation", "won"))))
        crm.post(f"/v1/leads/{won}/payments", {"amount": "60.00", "currency": "EUR"})
        crm.post(f"/v1/leads/{won}/payments", {"amount": "40.00", "currency": "EUR"})

        page = crm.get(f"/v1/leads/{lost}")
        assert (page["status"], page["lost_reason"], page["next_follow_up_at"],
                page["follow_up_overdue"]) == ("lost", "went with a competitor", None, False)
        assert page["time_in_stage"] == {"new": 2 * DAY, "contacted": 3 * DAY}
        final = page["stage_history"][-1]
        assert (final["stage"], final["seconds"], final["current"], final["reason"]) == (
            "lost", None, False, "went with a competitor")
        page = crm.get(f"/v1/leads/{won}")
        assert page["won"] == {"amount": "100.00", "currency": "EUR", "discount_percent": None}
        assert page["payments"]["by_currency"] == {"EUR": "100.00"}
        assert moment(page["closed_at"]) == moment(ago(5))

    def test_a_lead_of_another_tenant_or_none_at_all_is_404(self, crm: Crm) -> None:
        deal = lead(crm, customer(crm, "Ada Lovelace"), "Mine", ago(1))
        stranger = Crm(crm.client, f"other-{uuid4().hex[:8]}")
        stranger.position = crm.position
        error_shaped(read_as(stranger, f"/v1/leads/{deal}", "rep-1", ("admin",)), 404,
                     "not_found")
        assert stranger.get("/v1/leads")["items"] == []
        error_shaped(read_as(crm, f"/v1/leads/{uuid4()}", "rep-1", ("admin",)), 404,
                     "not_found")

    # -- scope ---------------------------------------------------------------------------------

    def test_a_rep_sees_the_leads_of_their_book_and_a_manager_those_of_the_team(
            self, crm: Crm) -> None:
        put_rules(crm, '[org]\nmanagers = { rep-a = "mgr-n", rep-b = "mgr-n" }\n'
                       '[[assignment.teams]]\nid = "north"\nmembers = ["rep-a", "rep-b"]')
        ada = customer(crm, "Ada Lovelace")
        own = lead(crm, ada, "Own", ago(5), actor="setup", owner="rep-a")
        created = lead(crm, ada, "Created for rep-b", ago(4), actor="rep-a", owner="rep-b")
        waiting = lead(crm, ada, "Waiting", ago(3), actor="setup")
        teammate = lead(crm, ada, "Teammate's", ago(2), actor="setup", owner="rep-b")
        other = lead(crm, ada, "Someone else's", ago(1), actor="setup", owner="rep-c")

        def listed(actor: str, role: str, **params: Any) -> dict[str, Any]:
            answer = read_as(crm, "/v1/leads", actor, (role,), include_total="true", **params)
            assert answer.status_code == 200, answer.text
            page: dict[str, Any] = answer.json()
            return page

        rep = listed("rep-a", "sales_rep")
        assert set(ids(rep)) == {own, created, waiting} and rep["total"] == 3
        assert ids(listed("rep-a", "sales_rep", owner="me")) == [own]
        assert ids(listed("rep-a", "sales_rep", owner="rep-c")) == []
        team = listed("mgr-n", "sales_manager")
        assert set(ids(team)) == {own, created, waiting, teammate} and team["total"] == 4
        assert set(ids(listed("an-1", "analyst"))) == {own, created, waiting, teammate, other}
        for lead_id, code in ((own, 200), (created, 200), (waiting, 200), (teammate, 404),
                              (other, 404)):
            answer = read_as(crm, f"/v1/leads/{lead_id}", "rep-a", ("sales_rep",))
            assert answer.status_code == code, answer.text
            if code == 404:
                error_shaped(answer, 404, "not_found")
        assert read_as(crm, f"/v1/leads/{teammate}", "mgr-n", ("sales_manager",)
                       ).status_code == 200
        error_shaped(read_as(crm, f"/v1/leads/{other}", "mgr-n", ("sales_manager",)), 404)
        refused = error_shaped(read_as(crm, "/v1/leads", "agent-1", ("support_agent",)), 403,
                               "forbidden")
        assert refused["details"]["action"] == "leads.read"

    def test_an_analyst_reads_leads_without_the_customers_name_or_free_text(self, crm: Crm
                                                                            ) -> None:
        named = customer(crm, "Ada Lovelace", external_ref="ERP-0042")
        unnamed = customer(crm, "Grace Hopper")
        lost = lead(crm, named, "Lost one", ago(5))
        walk(crm, lost, ("lost", ago(4)), reason="went with a competitor")
        lead(crm, unnamed, "Another", ago(3))
        answer = read_as(crm, "/v1/leads", "an-1", ("analyst",))
        assert answer.status_code == 200, answer.text
        names = {item["customer_id"]: item["customer_name"] for item in answer.json()["items"]}
        assert names == {named: "ERP-0042", unnamed: None}  # the reference is not personal
        page = read_as(crm, f"/v1/leads/{lost}", "an-1", ("analyst",)).json()
        assert (page["customer_name"], page["lost_reason"]) == ("ERP-0042", None)
        assert {stay["reason"] for stay in page["stage_history"]} == {None}
        assert "Ada" not in repr(page) and "competitor" not in repr(page)
        # customer reads call them the same way
        listed = read_as(crm, "/v1/customers", "an-1", ("analyst",)).json()["items"]
        assert {item["customer_id"]: item["display_name"] for item in listed} == names
        document = read_as(crm, f"/v1/customers/{named}", "an-1", ("analyst",)).json()
        assert (document["display_name"], document["personal"]) == ("ERP-0042", {})

    # -- bad input -----------------------------------------------------------------------------

    @pytest.mark.parametrize(("params", "code"), [
        ({"stage": "nonsense"}, "unknown_stage"), ({"reached": "nonsense"}, "unknown_stage"),
        ({"stage": "Bad Stage"}, "invalid_request"), ({"pipeline": "enterprise"},
                                                     "unknown_pipeline"),
        ({"stale_for": "7x"}, "invalid_request"), ({"stale_for": "7"}, "invalid_request"),
        ({"stale_for": "0d"}, "invalid_request"), ({"stale_for": "-1d"}, "invalid_request"),
        ({"stale_for": "99999d"}, "invalid_request"), ({"limit": 0}, "invalid_request"),
        ({"limit": 201}, "invalid_request"), ({"cursor": "not base64 at all!"},
                                              "invalid_cursor"),
        ({"cursor": cursor_of([1, 2])}, "invalid_cursor"),
        ({"cursor": cursor_of(["created_at", "desc", "yesterday", str(uuid4())])},
         "invalid_cursor"),
        ({"cursor": cursor_of(["created_at", "desc", 5, "not-an-id"])}, "invalid_cursor"),
        ({"cursor": cursor_of(["amount", "desc", 5, str(uuid4())])}, "invalid_cursor"),
        ({"cursor": cursor_of(["created_at", "asc", 5, str(uuid4())])}, "invalid_cursor"),
        ({"cursor": cursor_of(["created_at", "desc", 2**70, str(uuid4())])}, "invalid_cursor"),
        ({"min_amount": "1e5"}, "invalid_request"), ({"max_amount": "-3"}, "invalid_request"),
        ({"min_amount": "10", "max_amount": "9.99"}, "invalid_range"),
        ({"currency": "eur"}, "invalid_request"), ({"customer_id": "nope"}, "invalid_request"),
        ({"created_from": "2025-03-02", "created_to": "2025-03-01"}, "invalid_range"),
        ({"created_from": "March 2025"}, "invalid_request"), ({"open": "maybe"},
                                                               "invalid_request"),
        ({"sort": "name"}, "invalid_request"), ({"order": "up"}, "invalid_request"),
        ({"owner": "rep\x00"}, "invalid_request"), ({"q": ""}, "invalid_request"),
        ({"min_position": -1}, "invalid_request"),
    ])
    def test_bad_input_gets_a_4xx_in_the_error_shape(self, crm: Crm, params: dict[str, Any],
                                                     code: str) -> None:
        lead(crm, customer(crm, "Ada Lovelace"), "Something", ago(1))
        error_shaped(crm.get_raw("/v1/leads", params), 422, code)

    def test_a_stage_the_rules_dropped_still_filters_while_a_lead_is_in_it(self, crm: Crm
                                                                           ) -> None:
        deal = lead(crm, customer(crm, "Ada Lovelace"), "Demo due", ago(3))
        walk(crm, deal, ("contacted", ago(2)))
        put_rules(crm, '[pipeline]\nstages = ["new", "demo", "proposal"]\n'
                       '[pipeline.gates]\nproposal = ["amount"]')
        assert ids(crm.get("/v1/leads", stage="contacted")) == [deal]  # dropped, still in use
        assert ids(crm.get("/v1/leads", stage="demo")) == []           # new, nobody in it yet
        error_shaped(crm.get_raw("/v1/leads", {"stage": "qualified"}), 422, "unknown_stage")
        page = crm.get(f"/v1/leads/{deal}")
        assert page["next_follow_up_at"] is None  # no window for a stage the rules dropped
        error_shaped(crm.get_raw(f"/v1/leads/{deal}x"), 422, "invalid_request")

    # -- erasure and rebuild -------------------------------------------------------------------

    def test_erasure_redacts_the_leads_model_and_keeps_the_figures(
            self, crm: Crm, served: tuple[TestClient, ReadModels], settings: Settings) -> None:
        erased = customer(crm, "Zebulon Quartermaine", company="Kept Company Ltd",
                          external_ref="ERP-0999", personal={"phone": "+44 20 7946 0111"})
        lost = lead(crm, erased, "Renewal deal", ago(10), amount="700.00", currency="EUR")
        crm.post(f"/v1/leads/{lost}/discounts", {"percent": "5", "reason": "Zebulon's plea"})
        walk(crm, lost, ("lost", ago(5)), reason="Zebulon chose Competitorix")
        assert ids(crm.get("/v1/leads", q="zebulon")) == [lost]
        crm.post(f"/v1/customers/{erased}/erase", {
            "legal_basis": "gdpr_art_17", "request_reference": "DSR-1", "reason": "Asked"})

        def shown() -> dict[str, Any]:
            return {"list": crm.get("/v1/leads"), "page": crm.get(f"/v1/leads/{lost}"),
                    "by_name": [ids(crm.get("/v1/leads", q=q)) for q in
                                ("zebulon", "quartermaine", "0111", "zebulon@example.com")]}

        after = shown()
        (item,) = after["list"]["items"]
        assert (item["customer_name"], item["customer_erased"], item["amount"],
                item["customer_company"], item["title"]) == (
            None, True, "700.00", "Kept Company Ltd", "Renewal deal")
        assert after["by_name"] == [[], [], [], []]
        assert ids(crm.get("/v1/leads", q="kept company")) == [lost]  # not personal
        page = after["page"]
        assert page["lost_reason"] == "[erased]"
        assert page["discounts"][0]["reason"] == "[erased]"
        assert page["stage_history"][-1]["reason"] == "[erased]"
        assert "Zebulon" not in repr(after) and "Competitorix" not in repr(after)

        # Rebuilt from the log, the model holds nothing of the person either.
        client, read_models = served
        crm.position = rebuild_leads(read_models, settings, crm.position)
        rebuilt = shown()
        assert rebuilt["list"] == after["list"] and rebuilt["by_name"] == after["by_name"]
        assert rebuilt["page"]["lost_reason"] == "[erased]"
        assert "Zebulon" not in repr(rebuilt) and "Competitorix" not in repr(rebuilt)

    def test_a_rebuild_from_the_log_equals_the_live_model(
            self, crm: Crm, served: tuple[TestClient, ReadModels], settings: Settings) -> None:
        w = world(crm)
        crm.post(f"/v1/leads/{w.l1}/discounts", {"percent": "4", "reason": "volume"})
        crm.post(f"/v1/leads/{w.l5}/payments", {"amount": "3000.00", "currency": "EUR"})
        crm.post(f"/v1/customers/{w.ada}/profile", {"company": "Engines Reborn",
                                                     "personal": {"name": "Ada King"}})

        def everything() -> dict[str, Any]:
            pages = {lead_id: without_clock(crm.get(f"/v1/leads/{lead_id}"))
                     for lead_id in sorted(w.all)}
            lists = {sort: crm.get("/v1/leads", sort=sort, include_total="true")
                     for sort in ("created_at", "amount", "stage_entered_at",
                                  "last_contact_at")}
            return {"pages": pages, "lists": lists,
                    "search": ids(crm.get("/v1/leads", q="king"))}

        live = everything()
        assert live["pages"][w.l1]["customer_name"] == "Ada King"
        assert live["pages"][w.l1]["customer_company"] == "Engines Reborn"
        assert sorted(live["search"]) == sorted([w.l1, w.l2, w.l5])
        _, read_models = served
        crm.position = rebuild_leads(read_models, settings, crm.position)
        assert everything() == live

    # -- finding anyone ------------------------------------------------------------------------

    def test_customers_are_found_by_external_reference_and_phone(self, crm: Crm) -> None:
        ada = customer(crm, "Ada Lovelace", external_ref="ERP-0042", company="Engines",
                       personal={"phone": "+44 20 7946 0958"})
        customer(crm, "Grace Hopper", external_ref="CRM-7")

        def found(q: str) -> list[str]:
            return [item["customer_id"] for item in crm.get("/v1/customers", q=q)["items"]]

        for q in ("ERP-0042", "erp-0042", "0042", "+44 20 7946 0958", "442079460958",
                  "7946 0958", "0958", "(20) 7946-0958"):
            assert found(q) == [ada], q
        item = crm.get("/v1/customers", q="ERP-0042")["items"][0]
        assert (item["external_ref"], item["display_name"], item["erased"]) == (
            "ERP-0042", "Ada Lovelace", False)

    def test_the_lead_filters_of_the_lists_reproduce_the_funnel_figures(self, crm: Crm
                                                                        ) -> None:
        w = world(crm)
        window = {"from": ago(35), "to": ago(4)}  # l1, l2, l4 (l5 before, l3 after)
        for group_by, values in (("source", ("web", "referral", "event")),
                                 ("owner", ("rep-1", "rep-2")), ("region", ("EMEA", "NA"))):
            groups = {g["key"]: g for g in crm.get("/v1/analytics/funnel", group_by=group_by,
                                                   **window)["groups"]}
            for value in values:
                figures = groups[value]["stages"] if value in groups else []
                for figure in figures:
                    total = crm.get("/v1/leads", reached=figure["stage"], include_total="true",
                                    created_from=window["from"], created_to=window["to"],
                                    **{group_by: value})["total"]
                    assert total == figure["reached"], (group_by, value, figure)
        overall = crm.get("/v1/analytics/funnel")["stages"]
        for figure in overall:
            assert crm.get("/v1/leads", reached=figure["stage"],
                           include_total="true")["total"] == figure["reached"]

        def customers(**params: Any) -> set[str]:
            page = crm.get("/v1/customers", limit=200, **params)
            return {item["customer_id"] for item in page["items"]}

        assert customers(lead_reached="qualified") == {w.ada}
        assert customers(lead_source="web", lead_region="NA") == {w.grace}
        assert customers(lead_owner="rep-2", lead_reached="lost") == {w.ada}
        # one and the same lead: rep-1's leads were never lost (rep-2's was)
        assert customers(lead_owner="rep-1", lead_reached="lost") == set()
        assert customers(lead_owner="me", lead_region="NA") == {w.grace}  # the caller: rep-1
        assert customers(lead_created_from=ago(6), lead_created_to=ago(4)) == {w.grace}
        assert customers(lead_created_from=ago(11)) == {w.ada, w.grace}
        error_shaped(crm.get_raw("/v1/customers", {"lead_reached": "nonsense"}), 422,
                     "unknown_stage")
        error_shaped(crm.get_raw("/v1/customers", {"lead_created_from": ago(1),
                                                   "lead_created_to": ago(2)}), 422,
                     "invalid_range")

    def test_a_customer_an_import_met_first_is_known_by_its_reference_until_named(
            self, crm: Crm, served: tuple[TestClient, ReadModels], tmp_path: Path) -> None:
        _, read_models = served
        assert read_models.event_store is not None
        rows = tmp_path / "leads.csv"
        rows.write_text("customer_ref,lead_ref,title,amount,currency,owner,occurred_at\n"
                        "ERP-9001,OPP-9001,Imported deal,250.00,EUR,rep-1,2025-01-10\n")
        summary = import_file(read_models.event_store, "leads", rows, tenant_id=crm.tenant)
        assert (summary.imported, summary.customers_registered) == (1, 1)
        crm.position = summary.last_position
        (found,) = crm.get("/v1/customers", q="ERP-9001")["items"]
        assert (found["name"], found["display_name"], found["external_ref"]) == (
            None, "ERP-9001", "ERP-9001")
        customer_id = found["customer_id"]
        assert crm.get(f"/v1/customers/{customer_id}")["display_name"] == "ERP-9001"
        (imported,) = crm.get("/v1/leads", q="ERP-9001")["items"]
        assert (imported["customer_name"], imported["external_ref"], imported["title"]) == (
            "ERP-9001", "OPP-9001", "Imported deal")
        crm.post(f"/v1/customers/{customer_id}/profile",
                 {"personal": {"name": "Imogen Port"}})
        assert crm.get(f"/v1/customers/{customer_id}")["display_name"] == "Imogen Port"
        assert crm.get("/v1/customers", q="imogen")["items"][0]["display_name"] == \
            "Imogen Port"
        assert crm.get("/v1/leads", q="ERP-9001")["items"][0]["customer_name"] == "Imogen Port"


def rebuild_leads(read_models: ReadModels, settings: Settings, position: int) -> int:
    """Rebuild the leads model from the event store into a new generation, swapped in while
    the live projector runs on; the position to read at afterwards."""
    assert read_models.event_store is not None
    result = rebuild(build("leads", settings), read_models.sql, settings, source="store",
                     event_store=read_models.event_store)
    assert result.events > 0 and result.previous_generation is not None
    assert read_models.wait_for(["leads"], position, READY_TIMEOUT_S)
    return position
