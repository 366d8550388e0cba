"""Signing in: local accounts made with `crm users`, browser sessions in a cookie, the CSRF
check on cookie-authenticated writes, timeouts on an injected clock, the sign-in rate limit,
and the password hash kept out of events, exports, the history route, logs (and, on the
production engines, the topic).

Run by tests/unit/test_sign_in_sqlite.py (embedded store) and
tests/integration/test_sign_in_postgres_kafka.py (PostgreSQL and the broker). Each test works
in a tenant of its own; the sessions' clock is a ManualClock for every test.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli import app as cli
from services.common.auth.sessions import CSRF_COOKIE, SESSION_COOKIE, Sessions
from services.common.auth.users import PASSWORDS_TABLE, user_id_of
from services.common.clock import ManualClock, SystemClock
from services.common.event_store import side_table
from services.common.settings import Settings
from tests.contract.query_api import compose_serve
from tests.errors import error_shaped
from tests.harness.auth import Keys, fastapi_app, keys_of

PASSWORD = "violet-harbour-lantern-42"
OTHER_PASSWORD = "quiet-meadow-compass-7"
ADA = {"personal": {"name": "Ada Lovelace", "email": "ada@example.com"}}


class SignInContract:
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls) -> Settings:
        raise NotImplementedError

    def topic_values(self, settings: Settings, holding: str) -> list[bytes] | None:
        """Every value on the event topic once one holds `holding` (None: no topic here)."""
        return None

    @pytest.fixture(scope="class")
    @classmethod
    def client(cls, settings: Settings) -> Iterator[TestClient]:
        with ExitStack() as stack:
            client, _ = compose_serve(stack, settings)
            yield client

    @pytest.fixture
    def clock(self, client: TestClient) -> Iterator[ManualClock]:
        sessions = self.sessions(client)
        clock = ManualClock(datetime.now(UTC))
        sessions.clock = clock
        yield clock
        sessions.clock = SystemClock()

    @pytest.fixture
    def tenant(self) -> str:
        return f"t-{uuid4().hex[:12]}"

    @pytest.fixture
    def keys(self, client: TestClient) -> Keys:
        return keys_of(client.app)

    @staticmethod
    def sessions(client: TestClient) -> Sessions:
        sessions: Sessions = fastapi_app(client.app).state.sessions
        return sessions

    # -- helpers ----------------------------------------------------------------------------

    def crm(self, settings: Settings, *args: str, password: str | None = None) -> Any:
        """`crm ARGS` on the test's store (the password, if any, on standard input)."""
        env: dict[str, str | None] = {
            "CRM_DATA_DIR": str(settings.data_dir), "CRM_POSTGRES_URL": None,
            "CRM_POSTGRES_SCHEMA": None, "CRM_MEMORY_STORE": None, "CRM_KAFKA_BOOTSTRAP": None}
        if settings.postgres_url is not None:
            env |= {"CRM_POSTGRES_URL": settings.postgres_url.get_secret_value(),
                    "CRM_POSTGRES_SCHEMA": settings.postgres_schema}
        return CliRunner().invoke(cli, list(args), env=env,
                                  input=None if password is None else f"{password}\n")

    def add(self, settings: Settings, tenant: str, name: str, *roles: str,
            password: str = PASSWORD, teams: tuple[str, ...] = ()) -> None:
        options = [option for role in roles for option in ("--role", role)]
        options += [option for team in teams for option in ("--team", team)]
        result = self.crm(settings, "users", "add", name, "--tenant", tenant, *options,
                          "--password-stdin", password=password)
        assert result.exit_code == 0, result.output

    @staticmethod
    def sign_in(client: TestClient, tenant: str, name: str, password: str = PASSWORD,
                **options: Any) -> httpx.Response:
        """POST /v1/session; the client's cookie jar is left empty (each test sends the
        cookie it means to)."""
        answer = client.post("/v1/session", json={"tenant": tenant, "name": name,
                                                  "password": password}, **options)
        client.cookies.clear()
        return answer

    def signed_in(self, client: TestClient, tenant: str, name: str,
                  password: str = PASSWORD) -> tuple[str, str]:
        """(session cookie value, CSRF token) of a successful sign-in."""
        answer = self.sign_in(client, tenant, name, password)
        assert answer.status_code == 200, answer.text
        return answer.cookies[SESSION_COOKIE], answer.json()["csrf_token"]

    @staticmethod
    def cookie(session: str, csrf: str | None = None, **extra: str) -> dict[str, str]:
        headers = {"Cookie": f"{SESSION_COOKIE}={session}"}
        if csrf is not None:
            headers["X-CSRF-Token"] = csrf
        return headers | extra

    # -- accounts through the command line ----------------------------------------------------

    def test_users_are_added_listed_re_passworded_and_disabled_from_the_command_line(
            self, settings: Settings, client: TestClient, tenant: str) -> None:
        self.add(settings, tenant, "rep-7", "sales_rep", teams=("north",))
        listed = self.crm(settings, "users", "list", "--tenant", tenant)
        assert listed.exit_code == 0, listed.output
        assert "rep-7" in listed.output and "sales_rep" in listed.output
        assert "north" in listed.output and "active" in listed.output
        assert "$argon2" not in listed.output and PASSWORD not in listed.output

        again = self.crm(settings, "users", "add", "rep-7", "--tenant", tenant, "--role",
                         "analyst", "--password-stdin", password=OTHER_PASSWORD)
        assert again.exit_code == 2 and "exists already" in again.output
        changed = self.crm(settings, "users", "passwd", "rep-7", "--tenant", tenant,
                           "--password-stdin", password=OTHER_PASSWORD)
        assert changed.exit_code == 0, changed.output
        error_shaped(self.sign_in(client, tenant, "rep-7", PASSWORD), 401,
                     "invalid_credentials")
        assert self.sign_in(client, tenant, "rep-7", OTHER_PASSWORD).status_code == 200

        disabled = self.crm(settings, "users", "disable", "rep-7", "--tenant", tenant,
                            "--reason", "left")
        assert disabled.exit_code == 0, disabled.output
        listed = self.crm(settings, "users", "list", "--tenant", tenant)
        assert "disabled" in listed.output and "cli:" in listed.output
        error_shaped(self.sign_in(client, tenant, "rep-7", OTHER_PASSWORD), 401,
                     "invalid_credentials")
        assert self.crm(settings, "users", "passwd", "nobody", "--tenant", tenant,
                        "--password-stdin", password=PASSWORD).exit_code == 1

    @pytest.mark.parametrize(("name", "password", "roles", "says"), [
        ("rep-8", "short-pw", ["sales_rep"], "at least 12"),
        ("rep-8", "password1234", ["sales_rep"], "too easy"),
        ("rep-8", "aaaaaaaaaaaaaaaa", ["sales_rep"], "too easy"),
        ("rep-8", "my-name-is-rep-8!", ["sales_rep"], "too easy"),
        ("cli:someone", PASSWORD, ["sales_rep"], "subject"),
        ("rep 8", PASSWORD, ["sales_rep"], "subject"),
        ("rep-8", PASSWORD, ["wizard"], "roles"),
        ("rep-8", PASSWORD, ["integration"], "integration"),
    ])
    def test_a_bad_account_is_refused_and_nothing_is_written(
            self, settings: Settings, client: TestClient, tenant: str, name: str,
            password: str, roles: list[str], says: str) -> None:
        options = [option for role in roles for option in ("--role", role)]
        result = self.crm(settings, "users", "add", name, "--tenant", tenant, *options,
                          "--password-stdin", password=password)
        assert result.exit_code == 2, result.output
        assert says in result.output
        assert password not in result.output
        listed = self.crm(settings, "users", "list", "--tenant", tenant)
        assert name not in listed.output

    def test_the_password_is_never_an_argument(self, settings: Settings, tenant: str) -> None:
        result = self.crm(settings, "users", "add", "rep-9", "--tenant", tenant, "--role",
                          "sales_rep")
        assert result.exit_code == 2 and "--password-stdin" in result.output

    # -- sessions -------------------------------------------------------------------------------

    def test_a_session_cookie_is_the_account_on_reads_and_on_writes_with_the_csrf_token(
            self, settings: Settings, client: TestClient, tenant: str,
            clock: ManualClock) -> None:
        self.add(settings, tenant, "rep-7", "sales_rep", teams=("north",))
        answer = self.sign_in(client, tenant, "rep-7")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["subject"], body["tenant_id"], body["roles"], body["teams"],
                body["credential"]) == ("rep-7", tenant, ["sales_rep"], ["north"], "session")
        assert answer.headers["Cache-Control"] == "no-store"
        cookies = {c.split("=", 1)[0]: c.lower() for c in answer.headers.get_list("set-cookie")}
        assert "httponly" in cookies[SESSION_COOKIE] and "httponly" not in cookies[CSRF_COOKIE]
        for text in cookies.values():
            assert "samesite=strict" in text and "path=/" in text and "secure" not in text
        session, csrf = answer.cookies[SESSION_COOKIE], body["csrf_token"]
        assert answer.cookies[CSRF_COOKIE] == csrf

        me = client.get("/v1/me", headers=self.cookie(session))
        assert me.status_code == 200, me.text
        assert (me.json()["subject"], me.json()["credential"]) == ("rep-7", "session")
        current = client.get("/v1/session", headers=self.cookie(session))
        assert current.status_code == 200, current.text
        assert current.json()["csrf_token"] == csrf and current.json()["expires_at"]

        refused = client.post("/v1/customers", json=ADA, headers=self.cookie(session))
        assert error_shaped(refused, 403, "csrf_failed")
        error_shaped(client.post("/v1/customers", json=ADA,
                                 headers=self.cookie(session, csrf[:-2] + "xx")),
                     403, "csrf_failed")
        error_shaped(client.post("/v1/customers", json=ADA, headers=self.cookie(
            session, csrf, **{"Sec-Fetch-Site": "cross-site"})), 403, "csrf_failed")
        error_shaped(client.post("/v1/customers", json=ADA, headers=self.cookie(
            session, csrf, Origin="https://evil.example")), 403, "csrf_failed")
        made = client.post("/v1/customers", json=ADA, headers=self.cookie(
            session, csrf, Origin="http://testserver", **{"Sec-Fetch-Site": "same-origin"}))
        assert made.status_code == 201, made.text
        history = client.get(f"/v1/customers/{made.json()['customer_id']}/history",
                             params={"min_position": made.json()["position"]},
                             headers=self.cookie(session))
        assert history.status_code == 200, history.text
        assert [e["actor"] for e in history.json()["events"]] == ["rep-7"]

    def test_the_permission_table_applies_to_a_session_unchanged(
            self, settings: Settings, client: TestClient, tenant: str,
            clock: ManualClock) -> None:
        self.add(settings, tenant, "analyst-3", "analyst")
        session, csrf = self.signed_in(client, tenant, "analyst-3")
        refused = client.post("/v1/customers", json=ADA, headers=self.cookie(session, csrf))
        assert error_shaped(refused, 403, "forbidden")["details"]["action"] == \
            "customers.register"
        assert client.get("/v1/analytics/funnel",
                          headers=self.cookie(session)).status_code == 200
        other = client.get("/v1/me", headers=self.cookie(session) | {
            "X-Tenant-ID": f"u-{uuid4().hex[:8]}"})
        error_shaped(other, 403, "tenant_not_allowed")

    def test_the_authorization_header_wins_and_needs_no_csrf_token(
            self, settings: Settings, client: TestClient, tenant: str, keys: Keys,
            clock: ManualClock) -> None:
        self.add(settings, tenant, "analyst-4", "analyst")
        session, _ = self.signed_in(client, tenant, "analyst-4")
        made = client.post("/v1/customers", json=ADA, headers=self.cookie(session) | {
            **keys.headers(tenant, "boss")})
        assert made.status_code == 201, made.text
        assert client.get("/v1/session", headers=keys.headers(tenant, "boss")).json()[
            "credential"] == "api_key"

    def test_wrong_password_and_unknown_user_get_the_same_401(
            self, settings: Settings, client: TestClient, tenant: str,
            clock: ManualClock) -> None:
        self.add(settings, tenant, "rep-7", "sales_rep")
        wrong = self.sign_in(client, tenant, "rep-7", "not-the-password-at-all")
        unknown = self.sign_in(client, tenant, "nobody-here", PASSWORD)
        elsewhere = self.sign_in(client, f"u-{uuid4().hex[:8]}", "rep-7", PASSWORD)
        malformed = self.sign_in(client, "NOT A TENANT", "rep 7", PASSWORD)
        bodies = [error_shaped(answer, 401, "invalid_credentials")
                  for answer in (wrong, unknown, elsewhere, malformed)]
        assert all(body == bodies[0] for body in bodies)
        assert all(SESSION_COOKIE not in answer.cookies
                   for answer in (wrong, unknown, elsewhere, malformed))
        error_shaped(client.post("/v1/session", json={"tenant": tenant, "name": "rep-7"}),
                     422)
        cross = self.sign_in(client, tenant, "rep-7", headers={"Sec-Fetch-Site": "cross-site"})
        error_shaped(cross, 403, "csrf_failed")

    def test_a_session_ends_when_idle_and_at_its_absolute_timeout(
            self, settings: Settings, client: TestClient, tenant: str,
            clock: ManualClock) -> None:
        self.add(settings, tenant, "rep-7", "sales_rep")
        idle = timedelta(seconds=settings.session_idle_s)
        session, _ = self.signed_in(client, tenant, "rep-7")
        clock.advance(idle - timedelta(minutes=2))
        assert client.get("/v1/me", headers=self.cookie(session)).status_code == 200
        clock.advance(idle - timedelta(minutes=2))  # used since: not idle
        assert client.get("/v1/me", headers=self.cookie(session)).status_code == 200
        clock.advance(idle)
        error_shaped(client.get("/v1/me", headers=self.cookie(session)), 401, "unauthorized")

        session, _ = self.signed_in(client, tenant, "rep-7")
        started, longest = clock.now(), timedelta(seconds=settings.session_max_s)
        while clock.now() + idle / 2 < started + longest:
            clock.advance(idle / 2)
            assert client.get("/v1/me", headers=self.cookie(session)).status_code == 200
        clock.set(started + longest)
        error_shaped(client.get("/v1/me", headers=self.cookie(session)), 401, "unauthorized")

    def test_signing_out_ends_the_session(self, settings: Settings, client: TestClient,
                                          tenant: str, clock: ManualClock) -> None:
        self.add(settings, tenant, "rep-7", "sales_rep")
        session, csrf = self.signed_in(client, tenant, "rep-7")
        error_shaped(client.delete("/v1/session", headers=self.cookie(session)), 403,
                     "csrf_failed")
        out = client.delete("/v1/session", headers=self.cookie(session, csrf))
        assert out.status_code == 204, out.text
        cleared = " ".join(out.headers.get_list("set-cookie")).lower()
        assert f"{SESSION_COOKIE}=" in cleared and "max-age=0" in cleared
        error_shaped(client.get("/v1/me", headers=self.cookie(session)), 401, "unauthorized")
        error_shaped(client.get("/v1/session"), 401, "unauthorized")

    def test_a_disabled_users_session_ends_at_its_next_request(
            self, settings: Settings, client: TestClient, tenant: str,
            clock: ManualClock) -> None:
        self.add(settings, tenant, "rep-7", "sales_rep")
        session, _ = self.signed_in(client, tenant, "rep-7")
        assert client.get("/v1/me", headers=self.cookie(session)).status_code == 200
        result = self.crm(settings, "users", "disable", "rep-7", "--tenant", tenant)
        assert result.exit_code == 0, result.output
        error_shaped(client.get("/v1/me", headers=self.cookie(session)), 401, "unauthorized")

    def test_failed_sign_ins_are_rate_limited_per_name_and_address(
            self, settings: Settings, client: TestClient, tenant: str,
            clock: ManualClock) -> None:
        self.add(settings, tenant, "rep-7", "sales_rep")
        self.add(settings, tenant, "rep-8", "sales_rep")
        for _ in range(5):
            error_shaped(self.sign_in(client, tenant, "rep-7", "not-the-password-at-all"),
                         401, "invalid_credentials")
        limited = self.sign_in(client, tenant, "rep-7", PASSWORD)  # even the right one
        error_shaped(limited, 429, "too_many_sign_ins")
        assert int(limited.headers["Retry-After"]) > 0
        assert self.sign_in(client, tenant, "rep-8").status_code == 200  # another name
        clock.advance(timedelta(minutes=15))
        assert self.sign_in(client, tenant, "rep-7").status_code == 200

    def test_the_cookies_are_secure_over_tls(self, settings: Settings, client: TestClient,
                                             tenant: str, clock: ManualClock) -> None:
        self.add(settings, tenant, "rep-7", "sales_rep")
        answer = client.post("https://testserver/v1/session", json={
            "tenant": tenant, "name": "rep-7", "password": PASSWORD})
        client.cookies.clear()
        assert answer.status_code == 200, answer.text
        assert all("secure" in c.lower() for c in answer.headers.get_list("set-cookie"))

    # -- the hash goes nowhere ------------------------------------------------------------------

    def test_the_hash_never_reaches_history_export_log_or_topic(
            self, settings: Settings, client: TestClient, tenant: str, keys: Keys,
            clock: ManualClock, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
        caplog.set_level(logging.DEBUG)
        self.add(settings, tenant, "rep-7", "sales_rep")
        store = fastapi_app(client.app).state.command_service.store
        rows = side_table(store, PASSWORDS_TABLE).rows(
            "SELECT hash FROM {t} WHERE tenant_id = ? AND name = ?", (tenant, "rep-7"))
        stored = str(rows[0][0])
        assert stored.startswith("$argon2id$")
        secret = stored.rsplit("$", 1)[1]
        session, csrf = self.signed_in(client, tenant, "rep-7")
        made = client.post("/v1/customers", json=ADA, headers=self.cookie(session, csrf))
        assert made.status_code == 201, made.text
        self.sign_in(client, tenant, "rep-7", "not-the-password-at-all")
        client.delete("/v1/session", headers=self.cookie(session, csrf))

        admin = keys.headers(tenant, "boss")
        for subject in (made.json()["customer_id"], str(user_id_of(tenant, "rep-7"))):
            history = client.get(f"/v1/customers/{subject}/history", headers=admin,
                                 params={"min_position": made.json()["position"]})
            assert history.status_code in (200, 404), history.text
            assert secret not in history.text and "argon2" not in history.text
        exported = self.crm(settings, "export", "--out", str(tmp_path / "out"), "--format",
                            "ndjson")
        assert exported.exit_code == 0, exported.output
        for path in (tmp_path / "out").rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert secret.encode() not in data and b"argon2" not in data, path
        assert secret not in caplog.text and PASSWORD not in caplog.text
        assert "not-the-password-at-all" not in caplog.text
        values = self.topic_values(settings, made.json()["customer_id"])
        if values is not None:
            assert values, "nothing was published"
            assert not [v for v in values if secret.encode() in v or b"argon2" in v]
