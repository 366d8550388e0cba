"""The admin routes, as `crm serve` composes them: a dry run of a rules file, local accounts
over HTTP (the same events and checks as `crm users`), and a read model's dead letters."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.common.events.access import UserAdded, UserDisabled, UserPasswordChanged
from services.common.settings import Settings
from services.projections.stores.base import DeadLetter
from services.query.read_models import ReadModels
from tests.contract.query_api import compose_serve
from tests.errors import error_shaped
from tests.harness.auth import Keys, fastapi_app, keys_of

BROKEN = """\
[pipeline]
stages = ["new", "contacted", "qualified"]

[follow_up]
default = "a week"
"""
GOOD = """\
[pipeline]
stages = ["new", "contacted", "qualified"]
gates = {}
"""


def admin(keys: Keys, tenant: str) -> dict[str, str]:
    return keys.headers(tenant, "boss", ["admin"])


def toml(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Content-Type": "application/toml"}


def events_of(client: TestClient, kinds: tuple[type, ...]) -> list[Any]:
    store = fastapi_app(client.app).state.command_service.store
    found = store.recorder.select_notifications(1, 100_000)
    return [e for e in (store.mapper.to_domain_event(n) for n in found) if isinstance(e, kinds)]


def sign_in(client: TestClient, tenant: str, name: str, password: str) -> Any:
    return client.post("/v1/session", json={"tenant": tenant, "name": name,
                                            "password": password})


class AdminApiContract:
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls) -> Settings:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def served(cls, settings: Settings) -> Iterator[tuple[TestClient, Keys, ReadModels]]:
        with ExitStack() as stack:
            client, reads = compose_serve(stack, settings)
            yield client, keys_of(client.app), reads

    @pytest.fixture
    def tenant(self) -> str:
        return f"t-{uuid4().hex[:8]}"

    def test_checking_a_broken_file_names_its_lines_and_records_nothing(
            self, served: tuple[TestClient, Keys, ReadModels], tenant: str) -> None:
        client, keys, _ = served
        headers = admin(keys, tenant)
        checked = client.post("/v1/rules/check", content=BROKEN, headers=toml(headers))
        assert checked.status_code == 200, checked.text
        body = checked.json()
        assert body["ok"] is False and body["changed"] == []
        assert [(p["line"], p["path"]) for p in body["problems"]] == [(5, "follow_up.default")]

        refused = client.put("/v1/rules", content=BROKEN, headers=toml(headers))
        error_shaped(refused, 422, code="invalid_rules")
        assert refused.json()["details"]["problems"] == body["problems"], "the same as PUT's"
        assert client.get("/v1/rules/history", headers=headers).json()["changes"] == []

    def test_checking_a_good_file_says_what_would_change_and_applies_nothing(
            self, served: tuple[TestClient, Keys, ReadModels], tenant: str) -> None:
        client, keys, _ = served
        headers = admin(keys, tenant)
        checked = client.post("/v1/rules/check", content=GOOD, headers=toml(headers)).json()
        assert checked == {"ok": True, "problems": [], "changed": ["pipeline"], "in_force": False}
        assert client.get("/v1/rules", headers=headers).json()["version"] == 0
        assert client.put("/v1/rules", content=GOOD, headers=toml(headers)).status_code == 200
        again = client.post("/v1/rules/check", content=GOOD, headers=toml(headers)).json()
        assert again == {"ok": True, "problems": [], "changed": [], "in_force": True}

    def test_checking_needs_the_right_to_change_the_rules_and_toml(
            self, served: tuple[TestClient, Keys, ReadModels], tenant: str) -> None:
        client, keys, _ = served
        rep = keys.headers(tenant, "rep-1", ["sales_rep"])
        error_shaped(client.post("/v1/rules/check", content=GOOD, headers=toml(rep)), 403)
        error_shaped(client.post("/v1/rules/check", json={"a": 1}, headers=admin(keys, tenant)),
                     415)

    def test_an_admin_adds_an_account_that_signs_in_and_is_listed(
            self, served: tuple[TestClient, Keys, ReadModels], tenant: str,
            caplog: pytest.LogCaptureFixture) -> None:
        client, keys, _ = served
        headers = admin(keys, tenant)
        password = f"given-{uuid4().hex}"
        with caplog.at_level(logging.DEBUG):
            added = client.post("/v1/admin/users", headers=headers, json={
                "name": "rep-9", "roles": ["sales_rep"], "teams": ["north"], "password": password})
        assert added.status_code == 201, added.text
        assert added.json()["password"] is None, "a given password is never answered"
        assert password not in added.text and password not in caplog.text
        assert added.headers["Cache-Control"] == "no-store"

        listed = client.get("/v1/admin/users", headers=headers).json()["users"]
        assert [(u["name"], u["roles"], u["teams"], u["disabled"], u["created_by"])
                for u in listed] == [("rep-9", ["sales_rep"], ["north"], False, "boss")]
        assert "password" not in listed[0] and "hash" not in str(listed[0])
        other = client.get("/v1/admin/users", headers=admin(keys, f"o-{uuid4().hex[:8]}"))
        assert other.json()["users"] == [], "another tenant's accounts are not listed"

        signed = sign_in(client, tenant, "rep-9", password)
        assert signed.status_code == 200, signed.text
        added_events = [e for e in events_of(client, (UserAdded,)) if e.tenant_id == tenant]
        assert [(e.name, e.actor) for e in added_events] == [("rep-9", "boss")]

    def test_a_generated_password_is_answered_once_and_works(
            self, served: tuple[TestClient, Keys, ReadModels], tenant: str) -> None:
        client, keys, _ = served
        added = client.post("/v1/admin/users", headers=admin(keys, tenant), json={
            "name": "agent-9", "roles": ["support_agent"], "generate_password": True})
        assert added.status_code == 201, added.text
        password = added.json()["password"]
        assert isinstance(password, str) and len(password) >= 12
        assert sign_in(client, tenant, "agent-9", password).status_code == 200
        listed = client.get("/v1/admin/users", headers=admin(keys, tenant)).text
        assert password not in listed

    @pytest.mark.parametrize(("body", "status", "code"), [
        ({"name": "x-1", "roles": ["analyst"], "password": "short"}, 422, "weak_password"),
        ({"name": "x-1", "roles": ["analyst"], "password": "x-1x-1x-1x-1x-1x-1"}, 422,
         "weak_password"),
        ({"name": "x-1", "roles": ["integration"], "generate_password": True}, 422,
         "invalid_roles"),
        ({"name": "x-1", "roles": ["wizard"], "generate_password": True}, 422, "invalid_roles"),
        ({"name": "x-1", "roles": ["analyst"]}, 422, None),
        ({"name": "x-1", "roles": ["analyst"], "password": "a-long-password-1",
          "generate_password": True}, 422, None),
        ({"name": "", "roles": ["analyst"], "generate_password": True}, 422, None),
    ])
    def test_a_refused_account_writes_nothing_and_never_quotes_the_password(
            self, served: tuple[TestClient, Keys, ReadModels], tenant: str, body: dict[str, Any],
            status: int, code: str | None) -> None:
        client, keys, _ = served
        before = len(events_of(client, (UserAdded,)))
        response = client.post("/v1/admin/users", headers=admin(keys, tenant), json=body)
        shown = error_shaped(response, status)
        if code is not None:
            assert code in (shown["code"], shown["details"].get("rule")), shown
        if "password" in body:
            assert body["password"] not in response.text
        assert len(events_of(client, (UserAdded,))) == before

    def test_a_name_is_taken_once(
            self, served: tuple[TestClient, Keys, ReadModels], tenant: str) -> None:
        client, keys, _ = served
        body = {"name": "mgr-9", "roles": ["sales_manager"], "generate_password": True}
        assert client.post("/v1/admin/users", headers=admin(keys, tenant), json=body).status_code \
            == 201
        error_shaped(client.post("/v1/admin/users", headers=admin(keys, tenant), json=body), 409)

    def test_a_new_password_or_disabling_ends_the_accounts_sessions(
            self, served: tuple[TestClient, Keys, ReadModels], tenant: str) -> None:
        client, keys, _ = served
        headers = admin(keys, tenant)
        first = f"first-{uuid4().hex}"
        client.post("/v1/admin/users", headers=headers, json={
            "name": "rep-8", "roles": ["sales_rep"], "password": first})
        with TestClient(client.app) as browser:
            assert sign_in(browser, tenant, "rep-8", first).status_code == 200
            assert browser.get("/v1/me").status_code == 200

            reset = client.post("/v1/admin/users/rep-8/password", headers=headers,
                                json={"generate_password": True})
            assert reset.status_code == 200, reset.text
            second = reset.json()["password"]
            error_shaped(browser.get("/v1/me"), 401)
            error_shaped(sign_in(browser, tenant, "rep-8", first), 401)
            assert sign_in(browser, tenant, "rep-8", second).status_code == 200

            disabled = client.post("/v1/admin/users/rep-8/disable", headers=headers,
                                   json={"reason": "left"})
            assert disabled.status_code == 200, disabled.text
            assert disabled.json()["password"] is None
            error_shaped(browser.get("/v1/me"), 401)
            error_shaped(sign_in(browser, tenant, "rep-8", second), 401)
        listed = client.get("/v1/admin/users", headers=headers).json()["users"]
        assert [(u["name"], u["disabled"], u["disabled_by"]) for u in listed] == [
            ("rep-8", True, "boss")]
        mine = [e for e in events_of(client, (UserPasswordChanged, UserDisabled))
                if e.tenant_id == tenant]
        assert [type(e).__name__ for e in mine] == ["UserPasswordChanged", "UserDisabled"]

    def test_unknown_accounts_another_tenants_and_your_own_are_refused(
            self, served: tuple[TestClient, Keys, ReadModels], tenant: str) -> None:
        client, keys, _ = served
        other = f"o-{uuid4().hex[:8]}"
        client.post("/v1/admin/users", headers=admin(keys, other), json={
            "name": "rep-7", "roles": ["sales_rep"], "generate_password": True})
        headers = admin(keys, tenant)
        error_shaped(client.post("/v1/admin/users/rep-7/disable", headers=headers, json={}), 404)
        error_shaped(client.post("/v1/admin/users/nobody/password", headers=headers,
                                 json={"generate_password": True}), 404)
        error_shaped(client.post("/v1/admin/users/boss/disable", headers=headers, json={}), 422,
                     rule="own_account")
        error_shaped(client.get("/v1/admin/users", headers=keys.headers(tenant, "a-1",
                                                                        ["auditor"])), 403)

    def test_a_read_models_dead_letters_are_listed_for_their_tenant_without_values(
            self, served: tuple[TestClient, Keys, ReadModels], tenant: str) -> None:
        client, keys, reads = served
        headers = admin(keys, tenant)
        ours = client.post("/v1/customers", headers=headers,
                           json={"personal": {"name": "Ada Letter"}}).json()["position"]
        theirs = client.post("/v1/customers", headers=admin(keys, f"o-{uuid4().hex[:8]}"),
                             json={"personal": {"name": "Bo Letter"}}).json()["position"]
        store = reads.host.runners["timeline"].store
        with store.transaction() as tx:
            for position in (ours, theirs):
                tx.dead_letter(DeadLetter(
                    projection="timeline", generation=1, partition=0, offset=10_000_000 + position,
                    position=position, event_id=str(uuid4()), event_type="CustomerRegistered",
                    error="ValueError\n  File \"x.py\", line 1, in apply\n", payload=None))
        page = client.get("/v1/projections/timeline/dead-letters", headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["total"] == 1 and body["next_offset"] is None
        (item,) = body["items"]
        assert (item["position"], item["event_type"], item["reason"]) == (
            ours, "CustomerRegistered", "ValueError")
        assert "Ada" not in page.text and "payload" not in item and "x.py" not in page.text
        assert client.get("/v1/projections/customer_360/dead-letters",
                          headers=headers).json()["total"] == 0
        error_shaped(client.get("/v1/projections/nothing/dead-letters", headers=headers), 404)
        error_shaped(client.get("/v1/projections/timeline/dead-letters",
                                headers=keys.headers(tenant, "rep-1", ["sales_rep"])), 403)
        error_shaped(client.get("/v1/projections/timeline/dead-letters", params={"limit": 0},
                                headers=headers), 422)

    def test_the_read_model_status_and_the_dead_letters_read_every_model(
            self, served: tuple[TestClient, Keys, ReadModels], tenant: str) -> None:
        client, keys, _ = served
        statuses = client.get("/v1/projections", headers=admin(keys, tenant)).json()["projections"]
        for status in statuses:
            listed = client.get(f"/v1/projections/{status['projection']}/dead-letters",
                                headers=admin(keys, tenant))
            assert listed.status_code == 200, listed.text
