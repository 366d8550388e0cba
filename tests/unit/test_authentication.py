"""Who a caller is: API keys, OIDC access tokens, the actor and the tenant they decide.

Through the app `crm serve` runs (command and query routes on one app, with the edge every
request passes), on the embedded store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from services.bootstrap import Chronicle, Parts
from services.command.domain.aggregate import CommandContext
from services.command.domain.errors import RuleViolation
from services.common.auth import permission_doc
from services.common.auth.http import Authenticator
from services.common.auth.keys import KeyRing
from services.common.auth.permissions import ACTION_OF, is_public
from services.common.settings import Settings
from services.projections.registry import NAMES
from tests.contract.query_api import compose_serve
from tests.errors import error_shaped
from tests.harness.auth import Keys, bearer, fastapi_app, keys_of
from tests.harness.identity_provider import AUDIENCE, Provider, rsa_jwk
from tests.waiting import eventually

ADA = {"personal": {"name": "Ada Lovelace", "email": "ada@example.com"}}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "crm-data", read_wait_timeout_s=5.0)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with ExitStack() as stack:
        served, _ = compose_serve(stack, settings)
        yield served


@pytest.fixture
def keys(client: TestClient) -> Keys:
    return keys_of(client.app)


def served_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every route the app documents (HEAD answers as GET)."""
    document = fastapi_app(client.app).openapi()
    return [(method.upper(), path) for path, operations in document["paths"].items()
            for method in operations]


def history_actors(client: TestClient, keys: Keys, customer_id: str, position: int,
                   tenant: str = "default") -> list[str]:
    answer = client.get(f"/v1/customers/{customer_id}/history",
                        params={"min_position": position}, headers=keys.headers(tenant))
    assert answer.status_code == 200, answer.text
    return [event["actor"] for event in answer.json()["events"]]


# -- no credentials, bad credentials ---------------------------------------------------------


def test_every_route_but_the_public_ones_answers_401_without_credentials(
        client: TestClient) -> None:
    checked = 0
    for method, route in served_routes(client):
        path = route.replace("{", "").replace("}", "")  # any value: never reached
        response = client.request(method, path, follow_redirects=False)  # the route's own
        if is_public(method, route):
            assert response.status_code != 401, (method, route)
            continue
        body = error_shaped(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), route
        assert "Authorization: Bearer" in body["message"]
        checked += 1
    assert checked == len(ACTION_OF)
    for path in ("/health", "/ready", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200, path
    assert client.get("/no/such/route").status_code == 401  # unknown paths say nothing more


@pytest.mark.parametrize("value", [
    "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "bearer crm_nope", "Token abc",
    "Bearer crm_00000000000000000000000000000000_" + "A" * 43,
    "Bearer not.a.jwt", "Bearer " + "x" * 5000,
])
def test_malformed_or_unknown_credentials_get_401(client: TestClient, keys: Keys,
                                                  value: str) -> None:
    keys.token()  # the ring holds a key: these are refused for what they are
    response = client.get("/v1/me", headers={"Authorization": value})
    error_shaped(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_key_with_a_known_id_and_a_wrong_secret_is_refused(client: TestClient,
                                                             keys: Keys) -> None:
    token = keys.token()
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    error_shaped(client.get("/v1/me", headers=bearer(forged)), 401, "unauthorized")
    assert client.get("/v1/me", headers=bearer(token)).status_code == 200


# -- the principal is the actor and the tenant -------------------------------------------------


def test_the_actor_is_the_keys_subject_and_x_actor_is_refused(client: TestClient,
                                                              keys: Keys) -> None:
    rep = keys.headers(subject="rep-7", roles=["sales_rep"])
    refused = client.post("/v1/customers", json=ADA, headers={**rep, "X-Actor": "manager"})
    assert error_shaped(refused, 400, "invalid_header")["details"]["header"] == "X-Actor"
    created = client.post("/v1/customers", json=ADA,
                          headers={**rep, "X-Forwarded-User": "manager"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert history_actors(client, keys, body["customer_id"], body["position"]) == ["rep-7"]


def test_x_tenant_id_chooses_only_among_the_principals_tenants(client: TestClient,
                                                              keys: Keys) -> None:
    acme = keys.headers("acme", "ops")
    created = client.post("/v1/customers", json=ADA, headers=acme).json()  # the key's tenant
    foreign = client.get(f"/v1/customers/{created['customer_id']}",
                         params={"min_position": created["position"]},
                         headers={**acme, "X-Tenant-ID": "globex"})
    assert error_shaped(foreign, 403, "tenant_not_allowed")["details"]["tenant_id"] == "globex"
    same = client.get(f"/v1/customers/{created['customer_id']}",
                      params={"min_position": created["position"]},
                      headers={**acme, "X-Tenant-ID": "acme"})
    assert same.status_code == 200, same.text
    outsider = client.get(f"/v1/customers/{created['customer_id']}",
                          headers=keys.headers("globex", "ops"))
    error_shaped(outsider, 404, "not_found")  # another tenant's record does not exist for it


def test_me_answers_the_principal_and_its_permissions(client: TestClient, keys: Keys) -> None:
    me = client.get("/v1/me", headers=keys.headers("acme", "rep-7", ["sales_rep"])).json()
    assert (me["subject"], me["tenant_id"], me["tenants"], me["roles"], me["credential"]) == (
        "rep-7", "acme", ["acme"], ["sales_rep"], "api_key")
    assert me["permissions"]["customers.read"] == "own"
    assert "rules.write" not in me["permissions"]


# -- roles -------------------------------------------------------------------------------------


def test_a_role_without_the_routes_action_gets_403_and_nothing_is_written(
        client: TestClient, keys: Keys, settings: Settings) -> None:
    analyst = keys.headers(subject="ana", roles=["analyst"])
    before = client.get("/v1/projections", headers=keys.headers()).json()["head_position"]
    body = error_shaped(client.post("/v1/customers", json=ADA, headers=analyst), 403,
                        "forbidden")
    assert body["details"]["action"] == "customers.register"
    error_shaped(client.put("/v1/rules", content="", headers={
        **keys.headers(subject="rep-9", roles=["sales_rep"]),
        "Content-Type": "application/toml"}), 403, "forbidden")
    after = client.get("/v1/projections", headers=keys.headers()).json()["head_position"]
    assert after == before + 1  # only rep-9's key was issued
    assert client.get("/v1/analytics/funnel", headers=analyst).status_code == 200


def test_an_integration_key_may_do_only_what_its_scopes_say(client: TestClient,
                                                            keys: Keys) -> None:
    reader = keys.headers(subject="erp", roles=["integration"], scopes=["customers:read"])
    assert client.get("/v1/customers", headers=reader).status_code == 200
    error_shaped(client.post("/v1/customers", json=ADA, headers=reader), 403, "forbidden")
    error_shaped(client.get("/v1/analytics/funnel", headers=reader), 403, "forbidden")
    writer = keys.headers(subject="erp", roles=["integration"], scopes=["customers:write"])
    assert client.post("/v1/customers", json=ADA, headers=writer).status_code == 201


def test_a_designated_approver_or_an_admin_decides_a_discount_and_no_one_else(
        client: TestClient, keys: Keys) -> None:
    admin = keys.headers(subject="boss")
    applied = client.put("/v1/rules", headers={**admin, "Content-Type": "application/toml"},
                         content='[discount]\napproval_threshold_percent = "10"\n'
                                 'approvers = [{ above_percent = "10", approver = "maria" }]\n')
    assert applied.status_code == 200, applied.text
    rep = keys.headers(subject="rep-7", roles=["sales_rep"])
    decided = []
    for decider, status in ((keys.headers(subject="mike", roles=["sales_manager"]), 422),
                            (keys.headers(subject="maria", roles=["sales_manager"]), 200),
                            (keys.headers(subject="root", roles=["admin"]), 200)):
        lead = client.post("/v1/leads", headers=rep, json={
            "customer": ADA, "title": "Deal", "amount": "100", "currency": "EUR"}).json()
        for stage, extra in (("contacted", {}), ("qualified", {"budget_confirmed": True}),
                             ("proposal", {}), ("negotiation", {})):
            moved = client.post(f"/v1/leads/{lead['lead_id']}/stage", headers=rep,
                                json={"stage": stage, **extra})
            assert moved.status_code == 200, moved.text
        discount = client.post(f"/v1/leads/{lead['lead_id']}/discounts", headers=rep,
                               json={"percent": "20"}).json()
        answer = client.post(f"/v1/leads/{lead['lead_id']}/discounts/"
                             f"{discount['discount_id']}/approve", headers=decider, json={})
        assert answer.status_code == status, answer.text
        decided.append(answer.json().get("details", {}).get("rule"))
    assert decided[0] == "approver_not_designated"
    error_shaped(client.post(f"/v1/leads/{uuid4()}/discounts/{uuid4()}/approve", headers=rep,
                             json={}), 403, "forbidden")  # a rep decides no discount


# -- keys: issue, revoke, expire, reserved subjects ---------------------------------------------


def test_an_admin_issues_lists_and_revokes_keys_and_a_revoked_key_stops_at_once(
        client: TestClient, keys: Keys) -> None:
    admin = keys.headers(subject="boss")
    issued = client.post("/v1/admin/keys", headers=admin, json={
        "subject": "rep-8", "roles": ["sales_rep"], "expires_in_days": 30})
    assert issued.status_code == 201, issued.text
    assert issued.headers["Cache-Control"] == "no-store"
    new = issued.json()
    assert new["key"].startswith("crm_") and new["tenant_id"] == "default"
    assert client.get("/v1/me", headers=bearer(new["key"])).json()["subject"] == "rep-8"

    listed = client.get("/v1/admin/keys", headers=admin).json()["keys"]
    mine = next(k for k in listed if k["key_id"] == new["key_id"])
    assert mine["subject"] == "rep-8" and mine["created_by"] == "boss"
    assert mine["last_used_at"] is not None and mine["revoked_at"] is None
    secret = new["key"].rsplit("_", 1)[1]
    assert secret not in str(listed) and "sha256" not in str(listed)

    other_admin = keys.headers("acme", "boss")
    error_shaped(client.delete(f"/v1/admin/keys/{new['key_id']}", headers=other_admin), 404)
    error_shaped(client.post("/v1/admin/keys", json={"subject": "x", "roles": ["admin"]},
                             headers=bearer(new["key"])), 403, "forbidden")
    revoked = client.delete(f"/v1/admin/keys/{new['key_id']}", headers=admin)
    assert revoked.status_code == 200, revoked.text
    error_shaped(client.get("/v1/me", headers=bearer(new["key"])), 401, "unauthorized")
    again = client.delete(f"/v1/admin/keys/{new['key_id']}", headers=admin)
    error_shaped(again, 422, rule="key_revoked")


@pytest.mark.parametrize(("body", "rule"), [
    ({"subject": "rule:dormancy", "roles": ["admin"]}, "invalid_subject"),
    ({"subject": "cli:root", "roles": ["admin"]}, "invalid_subject"),
    ({"subject": "anonymous", "roles": ["admin"]}, "invalid_subject"),
    ({"subject": "two words", "roles": ["admin"]}, "invalid_subject"),
    ({"subject": "x", "roles": ["superuser"]}, "invalid_roles"),
    ({"subject": "x", "roles": ["integration"]}, "invalid_scopes"),
    ({"subject": "x", "roles": ["admin"], "scopes": ["customers:read"]}, "invalid_scopes"),
    ({"subject": "x", "roles": ["integration"], "scopes": ["everything"]}, "invalid_scopes"),
    ({"subject": "x", "roles": ["admin"], "expires_at": "2001-01-01T00:00:00Z"},
     "invalid_expiry"),
])
def test_a_key_for_a_reserved_subject_or_unknown_role_is_refused(
        client: TestClient, keys: Keys, body: dict[str, Any], rule: str) -> None:
    error_shaped(client.post("/v1/admin/keys", json=body, headers=keys.headers()), 422,
                 rule=rule)


def test_an_expired_key_is_refused(client: TestClient, keys: Keys, settings: Settings) -> None:
    service = fastapi_app(client.app).state.command_service
    _, issued = service.create_api_key(
        CommandContext(actor="cli:tests", tenant_id="default"), subject="temp", roles=["admin"],
        scopes=[], expires_at=datetime.now(UTC) + timedelta(seconds=1))
    ring = fastapi_app(client.app).state.key_ring
    ring.refresh()
    assert ring.check(issued.token).subject == "temp"
    later = datetime.now(UTC) + timedelta(seconds=2)
    with pytest.raises(Exception, match="expired"):
        ring.check(issued.token, now=later)


def test_a_key_issued_by_another_process_works_at_once(client: TestClient,
                                                       settings: Settings) -> None:
    with Chronicle(settings, Parts(commands=True)) as other:  # as `crm keys create` runs
        _, issued = other.command_service.create_api_key(
            CommandContext(actor="cli:ops", tenant_id="default"), subject="late",
            roles=["admin"], scopes=[], expires_at=None)
    assert client.get("/v1/me", headers=bearer(issued.token)).json()["subject"] == "late"


def test_reserved_subjects_cannot_be_given_to_a_key_by_any_path(settings: Settings) -> None:
    with Chronicle(settings, Parts(commands=True)) as crm:
        for subject in ("rule:assignment", "RULE:x", "system:x", "import:1"):
            with pytest.raises(RuleViolation):
                crm.command_service.create_api_key(
                    CommandContext(actor="cli:ops", tenant_id="default"), subject=subject,
                    roles=["admin"], scopes=[], expires_at=None)


# -- without authentication --------------------------------------------------------------------


def test_with_authentication_off_everyone_is_anonymous_and_x_actor_is_still_refused(
        tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", auth_mode="off")
    with ExitStack() as stack:
        client, _ = compose_serve(stack, settings)
        refused = client.post("/v1/customers", json=ADA, headers={"X-Actor": "manager"})
        error_shaped(refused, 400, "invalid_header")
        created = client.post("/v1/customers", json=ADA, headers={"X-Tenant-ID": "acme"})
        assert created.status_code == 201, created.text
        body = created.json()
        history = client.get(f"/v1/customers/{body['customer_id']}/history",
                             params={"min_position": body["position"]},
                             headers={"X-Tenant-ID": "acme"}).json()
        assert [e["actor"] for e in history["events"]] == ["anonymous"]


def test_authentication_off_is_refused_on_a_non_loopback_address(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", auth_mode="off", host="0.0.0.0")
    with Chronicle(settings, Parts(commands=True)) as crm, \
            pytest.raises(ValueError, match="loopback"):
        crm.command_api()
    Authenticator(Settings(data_dir=tmp_path / "d", auth_mode="off", host="::1"), None)


# -- OIDC access tokens through the API --------------------------------------------------------


@pytest.fixture
def provider() -> Iterator[tuple[Provider, rsa.RSAPrivateKey]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    served = Provider()
    try:
        served.publish(rsa_jwk(key, "k1"))
        yield served, key
    finally:
        served.stop()


def test_an_oidc_token_is_a_principal_whose_subject_is_the_actor(
        tmp_path: Path, provider: tuple[Provider, rsa.RSAPrivateKey]) -> None:
    idp, key = provider
    settings = Settings(data_dir=tmp_path / "d", auth_issuer=idp.issuer, auth_audience=AUDIENCE,
                        auth_jwks_url=idp.jwks_url)

    def token(**claims: Any) -> dict[str, str]:
        now = int(time.time())
        payload = {"iss": idp.issuer, "aud": AUDIENCE, "sub": "00u1a2b3", "iat": now,
                   "exp": now + 300, "tenant": "acme", "roles": ["sales_rep"],
                   "name": "Rita Rep", **claims}
        return bearer(jwt.encode({k: v for k, v in payload.items() if v is not None}, key,
                                 algorithm="RS256", headers={"kid": "k1"}))

    with ExitStack() as stack:
        client, _ = compose_serve(stack, settings)
        me = client.get("/v1/me", headers=token()).json()
        assert (me["subject"], me["display_name"], me["tenant_id"], me["credential"]) == (
            "00u1a2b3", "Rita Rep", "acme", "oidc")
        created = client.post("/v1/customers", json=ADA, headers=token()).json()
        history = client.get(f"/v1/customers/{created['customer_id']}/history",
                             params={"min_position": created["position"]},
                             headers=token(roles=["auditor"]))
        assert [(e["actor"], e["actor_name"]) for e in history.json()["events"]] == [
            ("00u1a2b3", "Rita Rep")]  # the id stays the actor; the name is shown beside it
        for bad in (token(sub="rule:assignment"), token(tenant=None),
                    token(exp=int(time.time()) - 3600), token(aud="someone-else")):
            error_shaped(client.get("/v1/me", headers=bad), 401, "unauthorized")
        error_shaped(client.post("/v1/customers", json=ADA, headers=token(roles=["analyst"])),
                     403, "forbidden")


# -- the permission table covers every route ---------------------------------------------------


def test_every_route_has_exactly_one_row_in_the_permission_table(client: TestClient) -> None:
    served = {(method, path) for method, path in served_routes(client)
              if not is_public(method, path)}
    assert served == set(ACTION_OF)


def test_the_key_ring_reads_keys_issued_since_it_last_looked(settings: Settings) -> None:
    with Chronicle(settings, Parts(commands=True, read_models=NAMES)) as crm:
        assert crm.store is not None
        ring = KeyRing(crm.store, refresh_s=3600)
        assert ring.keys() == []
        _, issued = crm.command_service.create_api_key(
            CommandContext(actor="cli:ops", tenant_id="t1"), subject="s", roles=["auditor"],
            scopes=[], expires_at=None)
        assert ring.check(issued.token).tenants == ("t1",)  # unknown id: it looked again


def test_docs_security_shows_the_permission_table_in_code() -> None:
    text = permission_doc.DOC.read_text()
    assert permission_doc.current_block(text) == permission_doc.render(), (
        "docs/security.md is stale: run python -m services.common.auth.permission_doc")


def test_crm_keys_create_list_and_revoke(client: TestClient, settings: Settings) -> None:
    from typer.testing import CliRunner

    from services.cli import app as cli

    runner = CliRunner()
    store = ["--data-dir", str(settings.data_dir)]
    created = runner.invoke(cli, ["keys", "create", "--role", "auditor", "--subject", "audra",
                                  "--tenant", "acme", "--expires", "30d", *store])
    assert created.exit_code == 0, created.output
    token = created.stdout.splitlines()[-1]
    assert token.startswith("crm_") and " " not in token  # alone on the last line
    me = client.get("/v1/me", headers=bearer(token)).json()
    assert (me["subject"], me["tenant_id"], me["roles"]) == ("audra", "acme", ["auditor"])

    listed = runner.invoke(cli, ["keys", "list", "--tenant", "acme", *store])
    assert listed.exit_code == 0 and "audra" in listed.stdout
    assert token.rsplit("_", 1)[1] not in listed.stdout
    key_id = listed.stdout.split()[0]
    revoked = runner.invoke(cli, ["keys", "revoke", key_id, "--reason", "test", *store])
    assert revoked.exit_code == 0, revoked.output
    # Revoked by another process: the server's ring looks again within a second.
    eventually(lambda: client.get("/v1/me", headers=bearer(token)).status_code == 401, 30,
               "the key revoked by the command line refused by the server")
    error_shaped(client.get("/v1/me", headers=bearer(token)), 401, "unauthorized")

    for bad in (["--role", "root", "--subject", "x"], ["--role", "admin", "--subject", "rule:x"],
                ["--role", "admin", "--subject", "x", "--expires", "someday"]):
        refused = runner.invoke(cli, ["keys", "create", *bad, *store])
        assert refused.exit_code == 2, refused.output


def test_the_history_shows_the_actors_display_name_beside_the_id(client: TestClient,
                                                                 keys: Keys) -> None:
    admin = keys.headers(subject="boss")
    named = client.post("/v1/admin/keys", headers=admin, json={
        "subject": "u-4711", "roles": ["sales_manager"], "display_name": "Rita Rep"}).json()
    created = client.post("/v1/customers", json=ADA, headers=bearer(named["key"])).json()
    tagged = client.post(f"/v1/customers/{created['customer_id']}/tags", json={"tag": "vip"},
                         headers=admin).json()
    history = client.get(f"/v1/customers/{created['customer_id']}/history",
                         params={"min_position": tagged["position"]}, headers=admin).json()
    assert [(e["actor"], e["actor_name"]) for e in history["events"]] == [
        ("u-4711", "Rita Rep"), ("boss", None)]


def test_a_keys_last_use_is_recorded_for_every_process_to_list(client: TestClient, keys: Keys,
                                                               settings: Settings) -> None:
    token = keys.token(subject="user-x")
    key_id = UUID(token.split("_")[1])
    with Chronicle(settings, Parts(commands=True)) as other:  # as `crm keys list` runs
        assert other.store is not None
        assert KeyRing(other.store).get(key_id).last_used_at is None  # type: ignore[union-attr]
        assert client.get("/v1/me", headers=bearer(token)).status_code == 200
        fastapi_app(client.app).state.key_ring.refresh()  # the server's next look at the store
        listed = KeyRing(other.store).get(key_id)
    assert listed is not None and listed.last_used_at is not None
