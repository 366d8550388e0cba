"""Signing in in the browser at the company's identity provider (authorization code flow with
PKCE), against a real provider served in-process (tests/harness/oidc_provider.py): the whole
round trip, then every way it must fail — a wrong, replayed or foreign state, a PKCE verifier
the provider refuses, an ID token with the wrong nonce, audience or expiry, claims without a
tenant or a role, the provider's own refusal — and `next` that would leave the site.

Run by tests/unit/test_oidc_sign_in_sqlite.py (embedded store) and
tests/integration/test_oidc_sign_in_postgres_kafka.py (PostgreSQL and the broker).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from uuid import uuid4

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.common.auth.oidc_login import BINDING_COOKIE, CALLBACK_FAILURES
from services.common.auth.sessions import CSRF_COOKIE, SESSION_COOKIE
from services.common.settings import Settings
from tests.contract.query_api import compose_serve
from tests.harness.auth import fastapi_app
from tests.harness.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider

CALLBACK = "http://testserver/v1/session/oidc/callback"
FAILURES = ("", "oidc", "testclient")
"""The rate limiter's key of the test client's failed sign-ins at the provider."""


class OidcSignInContract:
    @pytest.fixture(scope="class")
    @classmethod
    def provider(cls) -> Iterator[OidcProvider]:
        provider = OidcProvider(redirect_uris=[CALLBACK])
        yield provider
        provider.stop()

    @pytest.fixture(scope="class")
    @classmethod
    def base_settings(cls) -> Settings:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, base_settings: Settings, provider: OidcProvider) -> Settings:
        return base_settings.model_copy(update={
            "auth_issuer": provider.issuer, "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": SecretStr(CLIENT_SECRET), "oidc_display_name": "Acme ID"})

    @pytest.fixture(scope="class")
    @classmethod
    def client(cls, settings: Settings) -> Iterator[TestClient]:
        with ExitStack() as stack:
            client, _ = compose_serve(stack, settings)
            yield client

    @pytest.fixture
    def tenant(self, client: TestClient, provider: OidcProvider) -> Iterator[str]:
        """A tenant of this test's own, with Ada (a sales rep) at the provider."""
        tenant = f"t-{uuid4().hex[:12]}"
        provider.users = {"ada": {"sub": f"ada-{tenant}", "name": "Ada Lovelace",
                                  "email": "ada@example.com", "tenant": tenant,
                                  "roles": ["sales_rep", "not-a-crm-role"], "teams": ["emea"]}}
        provider.approve_as, provider.tamper = "ada", None
        client.cookies.clear()
        self.limiter(client).succeeded(FAILURES)  # each test starts with a clean record
        yield tenant
        provider.tamper = None
        client.cookies.clear()

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def limiter(client: TestClient) -> Any:
        return fastapi_app(client.app).state.sessions.limiter

    @staticmethod
    def start(client: TestClient, next_path: str | None = "/customers") -> str:
        """GET /v1/session/oidc/start: the provider's authorization URL (the binding cookie
        stays in the client's jar)."""
        params = {} if next_path is None else {"next": next_path}
        answer = client.get("/v1/session/oidc/start", params=params, follow_redirects=False)
        assert answer.status_code == 302, answer.text
        assert answer.headers["cache-control"] == "no-store"
        binding = next(c for c in answer.headers.get_list("set-cookie")
                       if c.startswith(BINDING_COOKIE + "="))
        assert "HttpOnly" in binding and "SameSite=lax" in binding
        assert "Path=/v1/session/oidc" in binding and "Max-Age=600" in binding
        return answer.headers["location"]

    @staticmethod
    def at_provider(location: str) -> str:
        """The browser at the provider: the URL it is sent back to (the callback)."""
        answer = httpx.get(location, follow_redirects=False, timeout=10.0)
        assert answer.status_code == 302, answer.text
        back: str = answer.headers["location"]
        assert back.startswith(CALLBACK + "?")
        return back

    @staticmethod
    def callback(client: TestClient, back: str) -> httpx.Response:
        parts = urlsplit(back)
        return client.get(f"{parts.path}?{parts.query}", follow_redirects=False)

    @staticmethod
    def refused(answer: httpx.Response, code: str) -> None:
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == f"/sign-in?error={code}"
        assert SESSION_COOKIE not in answer.cookies

    def sign_in(self, client: TestClient, next_path: str | None = "/customers"
                ) -> httpx.Response:
        return self.callback(client, self.at_provider(self.start(client, next_path)))

    # -- signing in -------------------------------------------------------------------------

    def test_the_sign_in_page_learns_what_is_offered(self, client: TestClient) -> None:
        answer = client.get("/v1/session/methods")
        assert answer.status_code == 200
        assert answer.json() == {"local_accounts": True, "oidc": {
            "display_name": "Acme ID", "start": "/v1/session/oidc/start"}}

    def test_signing_in_at_the_provider_opens_a_session_like_a_local_sign_in(
            self, client: TestClient, provider: OidcProvider, tenant: str,
            caplog: pytest.LogCaptureFixture) -> None:
        location = self.start(client)
        sent = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert location.startswith(provider.issuer + "/authorize?")
        assert sent["response_type"] == "code" and sent["client_id"] == CLIENT_ID
        assert sent["redirect_uri"] == CALLBACK and sent["code_challenge_method"] == "S256"
        assert sent["scope"].split()[0] == "openid" and len(sent["state"]) >= 43
        assert len(sent["nonce"]) >= 43 and len(sent["code_challenge"]) == 43
        with caplog.at_level(logging.DEBUG):
            answer = self.callback(client, self.at_provider(location))
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/customers"
        cookies = answer.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
        assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/" in session
        assert any(c.startswith(CSRF_COOKIE + "=") for c in cookies)
        assert any(c.startswith(BINDING_COOKIE + '=""') for c in cookies)  # cleared
        token_request = provider.token_requests[-1]
        assert token_request["grant_type"] == "authorization_code"
        assert len(token_request["code_verifier"]) >= 43
        assert "client_secret" not in token_request  # sent as HTTP Basic

        me = client.get("/v1/session")
        assert me.status_code == 200, me.text
        body = me.json()
        assert body["subject"] == f"ada-{tenant}" and body["tenant_id"] == tenant
        assert body["roles"] == ["sales_rep"] and body["teams"] == ["emea"]
        assert body["display_name"] == "Ada Lovelace" and body["credential"] == "session"
        assert body["csrf_token"] == client.cookies[CSRF_COOKIE]
        assert body["idle_timeout_s"] > 0 and body["expires_at"]
        # The session acts as the rep: their own book, writes need the CSRF token.
        assert client.get("/v1/customers").status_code == 200
        assert client.post("/v1/customers", json={"personal": {"name": "x"}}).status_code == 403
        assert client.delete("/v1/session").status_code == 403
        out = client.delete("/v1/session", headers={"X-CSRF-Token": body["csrf_token"]})
        assert out.status_code == 204
        assert client.get("/v1/session").status_code == 401
        logged = "\n".join(r.getMessage() for r in caplog.records  # the server's, not the
                            if not r.name.startswith(("httpx", "httpcore")))  # test client's
        assert "sign-in at the identity provider" in logged
        for secret in ("Ada Lovelace", "ada@example.com", f"ada-{tenant}", sent["state"],
                       sent["nonce"], token_request["code"], token_request["code_verifier"]):
            assert secret not in logged

    def test_a_session_from_the_provider_ends_when_it_is_signed_out(
            self, client: TestClient, tenant: str) -> None:
        assert self.sign_in(client).status_code == 303
        token = client.cookies[SESSION_COOKIE]
        csrf = client.cookies[CSRF_COOKIE]
        client.delete("/v1/session", headers={"X-CSRF-Token": csrf})
        client.cookies.clear()
        answer = client.get("/v1/session", headers={"Cookie": f"{SESSION_COOKIE}={token}"})
        assert answer.status_code == 401

    # -- failures ---------------------------------------------------------------------------

    def test_a_wrong_state_is_refused(self, client: TestClient, tenant: str) -> None:
        back = self.at_provider(self.start(client))
        self.refused(self.callback(client, _with(back, state="x" * 43)), "bad_state")
        self.refused(self.callback(client, _with(back, state=None)), "bad_state")

    def test_a_state_is_used_once(self, client: TestClient, tenant: str) -> None:
        back = self.at_provider(self.start(client))
        binding = client.cookies[BINDING_COOKIE]
        assert self.callback(client, back).status_code == 303
        client.cookies.clear()
        client.cookies.set(BINDING_COOKIE, binding, path="/v1/session/oidc")
        self.refused(self.callback(client, back), "bad_state")

    def test_failed_sign_ins_are_rate_limited(self, client: TestClient, tenant: str) -> None:
        for _ in range(CALLBACK_FAILURES):
            self.refused(client.get("/v1/session/oidc/callback?code=x&state=y",
                                    follow_redirects=False), "bad_state")
        self.refused(self.sign_in(client), "too_many_attempts")

    def test_a_sign_in_started_in_another_browser_is_refused(self, client: TestClient,
                                                             tenant: str) -> None:
        back = self.at_provider(self.start(client))
        client.cookies.clear()  # the victim's browser has no binding cookie of this sign-in
        self.refused(self.callback(client, back), "bad_state")

    def test_a_pkce_verifier_that_does_not_match_is_refused_by_the_provider(
            self, client: TestClient, tenant: str) -> None:
        location = self.start(client)
        forged = _with(location, code_challenge="A" * 43)  # the challenge changed on the way
        self.refused(self.callback(client, self.at_provider(forged)), "exchange_failed")

    @pytest.mark.parametrize("change", [
        {"nonce": "not-the-nonce-of-this-sign-in"},
        {"aud": "another-client"},
        {"aud": [CLIENT_ID, "another-client"], "azp": "another-client"},
        {"exp": 1_000_000_000},
        {"iss": "http://127.0.0.1:1/elsewhere"},
        {"sub": "rule:assignment"},
    ])
    def test_an_id_token_that_is_not_for_this_sign_in_is_refused(
            self, client: TestClient, provider: OidcProvider, tenant: str,
            change: dict[str, Any]) -> None:
        provider.tamper = lambda claims: claims | change
        self.refused(self.sign_in(client), "bad_token")

    def test_an_id_token_without_a_nonce_is_refused(self, client: TestClient,
                                                     provider: OidcProvider, tenant: str) -> None:
        provider.tamper = lambda claims: {k: v for k, v in claims.items() if k != "nonce"}
        self.refused(self.sign_in(client), "bad_token")

    def test_claims_without_a_tenant_or_a_role_are_refused(
            self, client: TestClient, provider: OidcProvider, tenant: str) -> None:
        provider.tamper = lambda claims: {k: v for k, v in claims.items() if k != "tenant"}
        self.refused(self.sign_in(client), "no_tenant")
        provider.tamper = lambda claims: claims | {"roles": ["not-a-crm-role"]}
        self.refused(self.sign_in(client), "no_role")

    def test_the_providers_refusal_is_shown(self, client: TestClient, provider: OidcProvider,
                                            tenant: str) -> None:
        provider.approve_as = "mallory"  # not a user there: access_denied
        back = self.at_provider(self.start(client))
        assert "error=access_denied" in back
        self.refused(self.callback(client, back), "cancelled")
        weird = "/v1/session/oidc/callback?" + urlencode({"error": "server_error\n<script>"})
        self.refused(client.get(weird, follow_redirects=False), "provider_error")

    @pytest.mark.parametrize("next_path", [
        "https://evil.example/", "//evil.example/x", "/\\evil.example", "evil.example",
        "javascript:alert(1)", "/\t/evil.example", "", None])
    def test_next_never_leaves_the_site(self, client: TestClient, tenant: str,
                                        next_path: str | None) -> None:
        answer = self.sign_in(client, next_path)
        assert answer.status_code == 303 and answer.headers["location"] == "/"

    def test_next_keeps_a_path_of_the_site(self, client: TestClient, tenant: str) -> None:
        answer = self.sign_in(client, "/customers/42?tab=timeline")
        assert answer.headers["location"] == "/customers/42?tab=timeline"


def _with(url: str, **params: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for key, value in params.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))
