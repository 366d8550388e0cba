"""The customer page's time slider and audit history in a real browser (Debian's Chromium,
driven by Playwright) against a real `crm serve`: a rep moves the slider by keyboard to before
a lead's stage move and a profile change — the page shows the lead's earlier stage and the
earlier company — comes back to now, and reads the change with its before, after and actor in
the audit history; asking no host but the server and logging no console error.

Uses the fixtures of test_web_app.py (Chromium from services/web/ensure-browser.sh).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_crm_serve import crm_serve
from tests.e2e.test_web_app import _has_user_accounts, add_user, browser, watched_page

__all__ = ["browser"]  # the fixture, shared with test_web_app.py


def _post(base: str, headers: dict[str, str], path: str, body: dict[str, Any]) -> dict[str, Any]:
    done = httpx.post(f"{base}{path}", headers=headers, json=body, timeout=30)
    assert done.status_code in (200, 201), done.text
    answer: dict[str, Any] = done.json()
    return answer


def _seed(base: str, admin: dict[str, str]) -> str:
    """A customer of rep-1 registered ten days ago with a lead created nine days ago, moved
    from `new` to `contacted` two days ago; the company renamed a day ago."""
    now = datetime.now(UTC)

    def ago(days: int) -> str:
        return (now - timedelta(days=days)).isoformat()

    customer = _post(base, admin, "/v1/customers", {
        "personal": {"name": "Ada Lovelace"}, "company": "Engines Ltd", "owner": "rep-1",
        "occurred_at": ago(10)})["customer_id"]
    lead = _post(base, admin, "/v1/leads", {
        "customer_id": customer, "title": "Difference engine upgrade", "source": "web",
        "amount": "12000.00", "currency": "EUR", "owner": "rep-1",
        "occurred_at": ago(9)})["lead_id"]
    _post(base, admin, f"/v1/leads/{lead}/stage", {"stage": "contacted", "occurred_at": ago(2)})
    position = _post(base, admin, f"/v1/customers/{customer}/profile", {
        "company": "Analytical Engines", "occurred_at": ago(1)})["position"]
    read = httpx.get(f"{base}/v1/customers/{customer}", headers=admin,
                     params={"min_position": position}, timeout=30)
    assert read.status_code == 200 and read.json()["company"] == "Analytical Engines", read.text
    return str(customer)


def test_the_time_slider_shows_the_leads_earlier_stage_and_history_its_changes(
        browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    if not _has_user_accounts():
        pytest.skip("sign-in is not in this build yet (no `crm users`)")
    password = "a long enough password 42"
    args = ("--data-dir", str(tmp_path / "crm-data"))
    with crm_serve(*args) as (base, _, key):
        customer = _seed(base, key("setup-admin", "admin"))
        add_user(args, "rep-1", "sales_rep", password)
        context, page, seen = watched_page(browser, base)
        try:
            page.goto(f"{base}/customers/{customer}")
            page.get_by_label("User name").fill("rep-1")
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Ada Lovelace", level=1)).to_be_visible()
            leads = page.get_by_role("region", name="Leads")
            profile = page.get_by_role("region", name="Profile")
            lead_row = leads.get_by_role("row").filter(has_text="Difference engine upgrade")
            expect(lead_row.get_by_role("cell").first).to_have_text("Contacted")
            expect(profile.get_by_text("Analytical Engines")).to_be_visible()

            # By keyboard: to the first fact, then two large steps on (about eight days ago:
            # after the lead was created, before its move and the rename).
            slider = page.get_by_role("slider", name="Show the customer as at")
            expect(slider).to_have_attribute("aria-valuetext", "Now")
            slider.focus()
            page.keyboard.press("Home")
            page.keyboard.press("PageUp")
            page.keyboard.press("PageUp")
            expect(page).to_have_url(re.compile(r"\?as_of=\d{4}-"))
            expect(page.get_by_text("As it stood on")).to_be_visible()
            expect(lead_row.get_by_role("cell").first).to_have_text("New")
            expect(profile.get_by_text("Engines Ltd", exact=True)).to_be_visible()
            expect(profile.get_by_text("Analytical Engines")).to_have_count(0)

            page.get_by_role("button", name="Back to now").click()
            expect(page.get_by_text("As it stood on")).to_have_count(0)
            expect(page).to_have_url(f"{base}/customers/{customer}")
            expect(lead_row.get_by_role("cell").first).to_have_text("Contacted")
            expect(profile.get_by_text("Analytical Engines")).to_be_visible()
            expect(slider).to_have_attribute("aria-valuetext", "Now")

            history = page.get_by_role("region", name="Audit history")
            changed = history.get_by_role("rowgroup").filter(has_text="Profile changed")
            expect(changed).to_contain_text("setup-admin")
            row = changed.get_by_role("row").filter(has_text="Company")
            expect(row.get_by_role("cell").nth(-2)).to_have_text("Engines Ltd")
            expect(row.get_by_role("cell").nth(-1)).to_have_text("Analytical Engines")
            moved = history.get_by_role("rowgroup").filter(has_text="Lead stage changed")
            expect(moved.get_by_role("row").filter(has_text="Lead stage")).to_contain_text(
                "newcontacted")
        finally:
            context.close()
        assert seen.elsewhere() == []
        assert seen.console_errors == []
