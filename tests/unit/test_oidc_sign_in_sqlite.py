"""Signing in at the identity provider (tests/contract/oidc_sign_in.py) on the embedded
composition: SQLite events, the sessions and pending sign-ins in tables of the SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.bootstrap import Chronicle, Parts
from services.common.auth.oidc_login import safe_next
from services.common.settings import Settings
from tests.contract.oidc_sign_in import OidcSignInContract
from tests.errors import error_shaped
from tests.harness.oidc_provider import CLIENT_ID, OidcProvider


class TestOidcSignInEmbedded(OidcSignInContract):
    @pytest.fixture(scope="class")
    @classmethod
    def base_settings(cls, tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return Settings(data_dir=tmp_path_factory.mktemp("crm-data"), read_wait_timeout_s=5.0)


@pytest.mark.parametrize("value", ["/my-day", "/customers/1?tab=a#b", "/a%20b"])
def test_a_path_of_the_site_is_kept(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize("value", [
    None, "", "my-day", "//evil.example", "https://evil.example/", "/\\evil.example",
    "/a b", "/a\nb", "/" + "a" * 3000, "javascript:alert(1)"])
def test_anything_else_goes_home(value: str | None) -> None:
    assert safe_next(value) == "/"


def test_without_local_accounts_only_the_provider_signs_in(tmp_path: Path) -> None:
    provider = OidcProvider()
    try:
        settings = Settings(data_dir=tmp_path / "crm-data", auth_issuer=provider.issuer,
                            oidc_client_id=CLIENT_ID, local_accounts=False)
        with Chronicle(settings, Parts(commands=True)) as crm, \
                TestClient(crm.command_api(), raise_server_exceptions=False) as client:
            assert client.get("/v1/session/methods").json() == {"local_accounts": False, "oidc": {
                "display_name": None, "start": "/v1/session/oidc/start"}}
            refused = client.post("/v1/session", json={"tenant": "default", "name": "rep-1",
                                                       "password": "x" * 20})
            error_shaped(refused, 404, "not_found")
    finally:
        provider.stop()


def test_a_client_id_without_an_issuer_is_refused_at_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "crm-data", oidc_client_id=CLIENT_ID)
    with Chronicle(settings, Parts(commands=True)) as crm, pytest.raises(
            ValueError, match="CRM_AUTH_ISSUER"):
        crm.command_api()


def test_without_a_provider_the_page_offers_local_accounts_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "crm-data")
    with Chronicle(settings, Parts(commands=True)) as crm, \
            TestClient(crm.command_api(), raise_server_exceptions=False) as client:
        assert client.get("/v1/session/methods").json() == {"local_accounts": True,
                                                            "oidc": None}
        answer = client.get("/v1/session/oidc/start", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/sign-in?error=not_offered"
