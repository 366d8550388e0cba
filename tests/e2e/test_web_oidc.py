"""Signing in at the company's identity provider in a real browser (Debian's Chromium, driven
by Playwright) against a real `crm serve` configured with a provider served by the test
(tests/harness/oidc_provider.py, on 127.0.0.1): the sign-in page offers "Sign in with Acme
ID", the person signs in on the provider's form, lands on My day as that user with their role,
and signs out — the browser asking no host but the server and the provider, and logging no
console error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_crm_serve import crm_serve
from tests.e2e.test_web_app import _seed_my_day, browser, midday_zone, watched_page
from tests.harness.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider

__all__ = ["browser"]  # the module's browser fixture, shared with test_web_app.py


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    provider = OidcProvider(users={"rita": {
        "sub": "rep-1", "name": "Rita Rep", "preferred_username": "rita",
        "tenant": "default", "roles": ["sales_rep"], "teams": ["north"]}})
    yield provider
    provider.stop()


def test_a_user_signs_in_at_the_identity_provider_sees_my_day_and_signs_out(
        browser: Any, provider: OidcProvider, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    secret_file = tmp_path / "oidc-client-secret"
    secret_file.write_text(CLIENT_SECRET + "\n")
    env = {"CRM_AUTH_ISSUER": provider.issuer, "CRM_OIDC_CLIENT_ID": CLIENT_ID,
           "CRM_OIDC_CLIENT_SECRET_FILE": str(secret_file), "CRM_OIDC_DISPLAY_NAME": "Acme ID"}
    with crm_serve("--data-dir", str(tmp_path / "crm-data"), env=env) as (base, _, key):
        provider.redirect_uris = [f"{base}/v1/session/oidc/callback"]
        titles = _seed_my_day(base, key("setup-admin", "admin"), "rep-1")
        context, page, seen = watched_page(browser, base, timezone_id=midday_zone())
        try:
            page.goto(f"{base}/my-day")
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            page.get_by_role("link", name="Sign in with Acme ID").click()

            expect(page).to_have_url(re.compile(re.escape(provider.issuer) + r"/authorize\?"))
            page.get_by_label("Username").fill("rita")
            page.get_by_role("button", name="Sign in").click()

            expect(page).to_have_url(f"{base}/my-day")
            expect(page.get_by_role("heading", name="My day", exact=True)).to_be_visible()
            expect(page.get_by_text("Signed in as Rita Rep (default)")).to_be_visible()
            leads = page.get_by_role("region", name="My open leads")
            expect(leads.get_by_text(titles["lead"])).to_be_visible()
            tasks = page.get_by_role("region", name="My tasks")
            expect(tasks.get_by_text(titles["task"])).to_be_visible()
            session = page.evaluate("fetch('/v1/session').then((answer) => answer.json())")
            assert session["subject"] == "rep-1" and session["roles"] == ["sales_rep"]
            assert session["credential"] == "session" and session["tenant_id"] == "default"
            assert provider.token_requests[-1]["grant_type"] == "authorization_code"

            page.get_by_role("button", name="Sign out").click()
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            page.goto(f"{base}/my-day")  # the session is gone, not only the page
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

            # A refusal at the provider comes back as a message on the sign-in page.
            page.get_by_role("link", name="Sign in with Acme ID").click()
            page.get_by_label("Username").fill("mallory")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("alert")).to_contain_text(
                "Signing in at the identity provider was cancelled.")
        finally:
            context.close()
    assert [url for url in seen.elsewhere() if not url.startswith(provider.issuer + "/")] == []
    assert seen.console_errors == []
