"""Each rep's own book, each manager's team: row-level scope on every read and every change.

Tenant `t-…` per test; the sales org comes from the tenant's rules file: rep-a and rep-b are in
team `north` under mgr-n, rep-c reports to mgr-s. Customers: A (owned by rep-a), B (rep-b), C
(rep-c), D (registered by rep-a, no owner), E (no owner, with a lead waiting for assignment).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from tests.contract.query_api import Crm, Rules, at, compose_serve
from tests.errors import error_shaped
from tests.harness.engines import embedded_or_postgres

ORG = """
[org]
managers = { rep-a = "mgr-n", rep-b = "mgr-n", rep-c = "mgr-s" }

[[assignment.teams]]
id = "north"
members = ["rep-a", "rep-b"]
"""


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres-reader",
                                                               marks=pytest.mark.postgres)])
def client(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """`crm serve` on the embedded store, and on PostgreSQL with row-level security on."""
    settings = embedded_or_postgres(request.param, request,
                                    Path(tmp_path_factory.mktemp("crm-data")),
                                    read_wait_timeout_s=10.0)
    with ExitStack() as stack:
        served, _ = compose_serve(stack, settings)
        yield served


class World:
    def __init__(self, client: TestClient) -> None:
        self.crm = crm = Crm(client, f"t-{uuid4().hex[:10]}")
        applied = client.put("/v1/rules", content=ORG, headers={
            **crm.auth("boss"), "Content-Type": "application/toml"})
        assert applied.status_code == 200, applied.text
        self.ids: dict[str, str] = {}
        for name, owner in (("A", "rep-a"), ("B", "rep-b"), ("C", "rep-c")):
            self.ids[name] = crm.customer(f"{name} Customer", owner=owner)
        self.ids["D"] = str(crm.post("/v1/customers", {"personal": {"name": "D Customer"},
                                                       "occurred_at": at()},
                                     actor="rep-a")["customer_id"])
        self.ids["E"] = crm.customer("E Customer")
        self.leads = {name: crm.lead(self.ids[name], at(1), owner=owner)
                      for name, owner in (("A", "rep-a"), ("B", "rep-b"), ("C", "rep-c"))}
        self.leads["E"] = crm.lead(self.ids["E"], at(1))  # nobody's yet

    def as_(self, subject: str, role: str) -> dict[str, str]:
        return self.crm.keys.headers(self.crm.tenant, subject, [role])

    def get(self, path: str, who: dict[str, str], **params: Any) -> Any:
        return self.crm.client.get(path, headers=who,
                                   params={**params, "min_position": self.crm.position})

    def names(self, who: dict[str, str], **params: Any) -> list[str]:
        """Every customer a caller lists, page by page (one per page: cursors tested too), in
        the order of their names."""
        by_id = {v: k for k, v in self.ids.items()}
        found, cursor = [], None
        while True:
            page = self.get("/v1/customers", who, limit=1, sort="created_at", include_total=True,
                            **params, **({"cursor": cursor} if cursor else {}))
            assert page.status_code == 200, page.text
            body = page.json()
            found += [by_id[item["customer_id"]] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                assert body["total"] == len(found) == len(set(found))
                return sorted(found)


@pytest.fixture
def world(client: TestClient) -> World:
    return World(client)


def test_each_caller_lists_exactly_their_book_in_items_totals_and_cursors(world: World) -> None:
    assert world.names(world.as_("rep-a", "sales_rep")) == ["A", "D", "E"]
    assert world.names(world.as_("rep-c", "sales_rep")) == ["C", "E"]
    assert world.names(world.as_("mgr-n", "sales_manager")) == ["A", "B", "D", "E"]
    assert world.names(world.as_("mgr-s", "sales_manager")) == ["C", "E"]
    assert world.names(world.as_("audra", "auditor")) == ["A", "B", "C", "D", "E"]
    assert world.names(world.as_("rep-a", "sales_rep"), q="customer") == ["A", "D", "E"]


@pytest.mark.parametrize("path", ["/v1/customers/{id}", "/v1/customers/{id}/timeline",
                                  "/v1/customers/{id}/history"])
def test_a_customer_outside_the_book_is_404_on_every_read(world: World, path: str) -> None:
    rep_a = world.as_("rep-a", "sales_rep")
    for name, status in (("A", 200), ("D", 200), ("E", 200), ("B", 404), ("C", 404)):
        answer = world.get(path.format(id=world.ids[name]), rep_a)
        if status == 404:
            error_shaped(answer, 404, "not_found")
        else:
            assert answer.status_code == 200, (name, answer.text)
    as_of = world.get(f"/v1/customers/{world.ids['B']}", rep_a, as_of=at(5))
    error_shaped(as_of, 404, "not_found")
    team = world.get(f"/v1/customers/{world.ids['B']}", world.as_("mgr-n", "sales_manager"))
    assert team.status_code == 200 and "book" not in team.json()


def test_nobody_changes_a_record_outside_their_book(world: World) -> None:
    client, rep_a = world.crm.client, world.as_("rep-a", "sales_rep")
    for name, status in (("A", 200), ("B", 404), ("C", 404)):
        tagged = client.post(f"/v1/customers/{world.ids[name]}/tags", json={"tag": "hot"},
                             headers=rep_a)
        assert tagged.status_code == status, (name, tagged.text)
        moved = client.post(f"/v1/leads/{world.leads[name]}/stage",
                            json={"stage": "contacted"}, headers=rep_a)
        assert moved.status_code == status, (name, moved.text)
        logged = client.post(f"/v1/customers/{world.ids[name]}/interactions",
                             json={"channel": "call"}, headers=rep_a)
        assert logged.status_code == (201 if status == 200 else 404), (name, logged.text)
    waiting = client.post(f"/v1/leads/{world.leads['E']}/stage", json={"stage": "contacted"},
                          headers=rep_a)
    assert waiting.status_code == 200, "a lead waiting for assignment is every rep's to work"
    manager = world.as_("mgr-n", "sales_manager")
    assert client.post(f"/v1/leads/{world.leads['B']}/assign", json={"owner": "rep-a"},
                       headers=manager).status_code == 200
    error_shaped(client.post(f"/v1/leads/{world.leads['C']}/assign", json={"owner": "rep-a"},
                             headers=manager), 404, "not_found")


def test_a_rep_reads_and_acknowledges_only_their_own_alerts(world: World) -> None:
    rules = Rules(world.crm)
    mine = rules.follow_up(world.leads["A"], at(3), assignees=("rep-a",))
    theirs = rules.follow_up(world.leads["B"], at(3), assignees=("rep-b", "mgr-n"))
    rep_a, client = world.as_("rep-a", "sales_rep"), world.crm.client
    listed = world.get("/v1/alerts", rep_a).json()["items"]
    assert [item["alert_id"] for item in listed] == [mine]
    manager = world.get("/v1/alerts", world.as_("mgr-n", "sales_manager")).json()["items"]
    assert {item["alert_id"] for item in manager} == {mine, theirs}
    error_shaped(client.post(f"/v1/alerts/{theirs}/acknowledge", headers=rep_a), 404)
    assert client.post(f"/v1/alerts/{mine}/acknowledge", headers=rep_a).status_code == 200


def test_analytics_count_the_callers_book(world: World) -> None:
    def reached(who: dict[str, str]) -> int:
        funnel = world.get("/v1/analytics/funnel", who).json()
        return int(funnel["stages"][0]["reached"])

    assert reached(world.as_("rep-a", "sales_rep")) == 1
    assert reached(world.as_("mgr-n", "sales_manager")) == 2
    assert reached(world.as_("ana", "analyst")) == 4
    counts = world.get("/v1/analytics/lifecycle", world.as_("rep-a", "sales_rep")).json()
    assert sum(counts["counts"].values()) == 3  # A, D and E
    everyone = world.get("/v1/analytics/lifecycle", world.as_("ana", "analyst")).json()
    assert sum(everyone["counts"].values()) == 5


def test_an_analyst_reads_no_personal_data_and_support_no_lead_amounts(world: World) -> None:
    analyst = world.as_("ana", "analyst")
    listed = world.get("/v1/customers", analyst).json()["items"]
    assert listed and all(item["name"] is None and item["email"] is None for item in listed)
    document = world.get(f"/v1/customers/{world.ids['A']}", analyst).json()
    assert document["personal"] == {} and document["leads"][0]["amount"] == "12000.00"
    error_shaped(world.get(f"/v1/customers/{world.ids['A']}/history", analyst), 403)

    support = world.as_("sam", "support_agent")
    document = world.get(f"/v1/customers/{world.ids['A']}", support).json()
    assert document["personal"]["name"] == "A Customer"
    assert "amount" not in document["leads"][0] and "discount" not in document["leads"][0]
    assert all(entry["kind"] != "lead" for entry in document["timeline"])
    timeline = world.get(f"/v1/customers/{world.ids['A']}/timeline", support).json()["items"]
    assert timeline and all(entry["kind"] != "lead" for entry in timeline)
    manager = world.get(f"/v1/customers/{world.ids['A']}", world.as_("mgr-n", "sales_manager"))
    assert manager.json()["personal"]["name"] == "A Customer"
