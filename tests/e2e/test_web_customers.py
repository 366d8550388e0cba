"""The customers pages in a real browser (Debian's Chromium, driven by Playwright) against a
real `crm serve`: a rep searches their customers by part of a name, opens one, sees its
company and timeline, goes back and forth through the list's URL — asking no host but the
server and logging no console error — and cannot open another rep's customer by URL.

Uses the fixtures of test_web_app.py (Chromium from services/web/ensure-browser.sh).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_crm_serve import crm_serve
from tests.e2e.test_web_app import _has_user_accounts, add_user, browser, watched_page

__all__ = ["browser"]  # the fixture, shared with test_web_app.py


def _customer(base: str, admin: dict[str, str], name: str, company: str, owner: str) -> str:
    made = httpx.post(f"{base}/v1/customers", headers=admin, json={
        "personal": {"name": name, "email": f"{name.split()[0].lower()}@example.com"},
        "company": company, "owner": owner, "region": "EMEA", "tags": ["vip"]})
    assert made.status_code == 201, made.text
    return str(made.json()["customer_id"])


def _seed_customers(base: str, admin: dict[str, str]) -> dict[str, str]:
    """Two customers of rep-1 (one with a call logged), one of rep-2; returns their ids and
    the newest timeline entry of the first, once the read models have them."""
    ada = _customer(base, admin, "Ada Lovelace", "Analytical Engines Ltd", "rep-1")
    _customer(base, admin, "Charles Babbage", "Difference Works", "rep-1")
    other = _customer(base, admin, "Grace Hopper", "Compilers Inc", "rep-2")
    call = httpx.post(f"{base}/v1/customers/{ada}/interactions", headers=admin, json={
        "channel": "call", "direction": "outbound", "subject": "Introductory call"})
    assert call.status_code == 201, call.text
    position = call.json()["position"]
    timeline = httpx.get(f"{base}/v1/customers/{ada}/timeline", headers=admin,
                         params={"min_position": position}, timeout=30)
    assert timeline.status_code == 200 and timeline.json()["items"], timeline.text
    listed = httpx.get(f"{base}/v1/customers", headers=admin,
                       params={"min_position": position}, timeout=30)
    assert listed.status_code == 200 and len(listed.json()["items"]) == 3, listed.text
    return {"ada": ada, "other": other, "entry": timeline.json()["items"][0]["summary"]}


def test_a_rep_finds_a_customer_and_opens_their_page(browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    if not _has_user_accounts():
        pytest.skip("sign-in is not in this build yet (no `crm users`)")
    password = "a long enough password 42"
    args = ("--data-dir", str(tmp_path / "crm-data"))
    with crm_serve(*args) as (base, _, key):
        seeded = _seed_customers(base, key("setup-admin", "admin"))
        add_user(args, "rep-1", "sales_rep", password)
        context, page, seen = watched_page(browser, base)
        try:
            page.goto(f"{base}/customers")
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            page.get_by_label("User name").fill("rep-1")
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()

            expect(page).to_have_url(f"{base}/customers")
            expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
            results = page.get_by_role("region", name="Customers found")
            expect(results.get_by_role("link", name="Ada Lovelace")).to_be_visible()
            expect(results.get_by_role("link", name="Charles Babbage")).to_be_visible()
            expect(results.get_by_text("Grace Hopper")).to_have_count(0)  # rep-2's

            search = page.get_by_role("search", name="Search customers")
            search.get_by_label("Search", exact=True).fill("Lovel")
            search.get_by_label("Search", exact=True).press("Enter")
            expect(page).to_have_url(f"{base}/customers?q=Lovel")
            expect(results.get_by_role("link", name="Charles Babbage")).to_have_count(0)
            row = results.get_by_role("row").filter(has_text="Ada Lovelace")
            expect(row.get_by_text("Analytical Engines Ltd")).to_be_visible()

            row.get_by_role("link", name="Ada Lovelace").click()
            expect(page).to_have_url(f"{base}/customers/{seeded['ada']}")
            expect(page.get_by_role("heading", name="Ada Lovelace", level=1)).to_be_visible()
            profile = page.get_by_role("region", name="Profile")
            expect(profile.get_by_text("Analytical Engines Ltd")).to_be_visible()
            timeline = page.get_by_role("region", name="Timeline")
            expect(timeline.get_by_text(seeded["entry"]).first).to_be_visible()

            page.go_back()  # the search is in the URL: back where it was
            expect(page).to_have_url(f"{base}/customers?q=Lovel")
            expect(page.get_by_label("Search", exact=True)).to_have_value("Lovel")
            expect(results.get_by_role("link", name="Ada Lovelace")).to_be_visible()
        finally:
            context.close()
        assert seen.elsewhere() == []
        assert seen.console_errors == []

        # Another rep's customer, by URL: the API says 404 (which Chromium logs), the page
        # says there is no such customer in this book.
        context, page, seen = watched_page(browser, base)
        try:
            page.goto(f"{base}/customers")
            page.get_by_label("User name").fill("rep-1")
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
            page.goto(f"{base}/customers/{seeded['other']}")
            expect(page.get_by_role("alert")).to_have_text(
                "No such customer, or it is not in your book.")
            expect(page.get_by_text("Grace Hopper")).to_have_count(0)
        finally:
            context.close()
        assert seen.elsewhere() == []
        assert all("404" in error for error in seen.console_errors), seen.console_errors
