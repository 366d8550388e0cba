"""Signing in (tests/contract/sign_in.py) on the embedded composition: SQLite events, the
sessions and password hashes in tables of the SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.bootstrap import Chronicle, Parts
from services.cli.users import DEMO_ACCOUNTS, add_demo_users
from services.common.auth.sessions import (
    CsrfFailed,
    Sessions,
    check_csrf,
    check_same_origin,
    csrf_token_of,
)
from services.common.settings import Settings
from tests.contract.sign_in import SignInContract


class TestSignInEmbedded(SignInContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return Settings(data_dir=tmp_path_factory.mktemp("crm-data"), read_wait_timeout_s=5.0)


# -- the pieces on their own ---------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "allowed"), [
    ({}, True),
    ({"sec-fetch-site": "same-origin"}, True),
    ({"sec-fetch-site": "none"}, True),
    ({"sec-fetch-site": "same-site"}, False),
    ({"sec-fetch-site": "cross-site"}, False),
    ({"origin": "http://crm.example:8000", "host": "crm.example:8000"}, True),
    ({"origin": "https://crm.example", "host": "crm.example"}, True),
    ({"origin": "https://crm.example", "host": "crm.example:443"}, True),
    ({"origin": "http://crm.example:5173", "host": "crm.example:8000"}, False),
    ({"origin": "https://evil.example", "host": "crm.example"}, False),
    ({"origin": "null", "host": "crm.example"}, False),
    ({"origin": "http://crm.example:99999", "host": "crm.example"}, False),
])
def test_same_origin_is_judged_by_fetch_metadata_and_origin(headers: dict[str, str],
                                                            allowed: bool) -> None:
    if allowed:
        check_same_origin(headers)
    else:
        with pytest.raises(CsrfFailed):
            check_same_origin(headers)


def test_the_csrf_token_is_bound_to_its_session() -> None:
    one, other = "crm_ss_" + "a" * 43, "crm_ss_" + "b" * 43
    check_csrf("GET", {}, one)  # safe methods need none
    check_csrf("POST", {"x-csrf-token": csrf_token_of(one)}, one)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        with pytest.raises(CsrfFailed):
            check_csrf(method, {"x-csrf-token": csrf_token_of(other)}, one)
        with pytest.raises(CsrfFailed):
            check_csrf(method, {}, one)


def test_the_demo_adds_one_account_per_role_that_signs_in(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "crm-data")
    with Chronicle(settings, Parts(commands=True)) as crm:
        assert crm.store is not None
        shown = add_demo_users(crm, settings)
        lines = shown.splitlines()[1:]
        assert {line.split()[1] for line in lines} == {role for _, role in DEMO_ACCOUNTS}
        sessions = Sessions(crm.store, settings)
        for line in lines:
            name, role, password = line.split()
            signed = sessions.sign_in("default", name, password, "127.0.0.1")
            assert signed.user.roles == (role,)
        assert add_demo_users(crm, settings).count("\n") == 0  # never twice
