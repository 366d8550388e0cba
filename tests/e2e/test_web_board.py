"""The pipeline board in a real browser (Debian's Chromium, driven by Playwright) against a real
`crm serve`: a sales rep drags their lead from `contacted` to `qualified` with the keyboard, the
budget gate refuses it with the API's message, they confirm the budget on the card and the card
settles in `qualified` — and the API agrees. No host but the server is asked, and the only
console error is the line Chromium logs for the expected 422.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.board_keys import arrow_over
from tests.e2e.test_crm_serve import crm_serve
from tests.e2e.test_web_app import _has_user_accounts, add_user, browser, watched_page
from tests.waiting import eventually

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with test_web_app

REP = "rep-1"
PASSWORD = "a long enough password 42"
TITLE = "Difference engine upgrade"
REFUSED_422 = "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"


def _lead_in_contacted(base: str, admin: dict[str, str]) -> str:
    """REP's lead, moved to `contacted` by the admin; its id once the lead list shows it there."""
    customer = httpx.post(f"{base}/v1/customers", headers=admin,
                          json={"personal": {"name": "Ada Lovelace"}, "company": "Engines Ltd"})
    assert customer.status_code == 201, customer.text
    lead = httpx.post(f"{base}/v1/leads", headers=admin, json={
        "customer_id": customer.json()["customer_id"], "title": TITLE, "source": "web",
        "amount": "12000.00", "currency": "EUR", "owner": REP})
    assert lead.status_code == 201, lead.text
    lead_id = lead.json()["lead_id"]
    moved = httpx.post(f"{base}/v1/leads/{lead_id}/stage", headers=admin,
                       json={"stage": "contacted"})
    assert moved.status_code == 200, moved.text
    listed = httpx.get(f"{base}/v1/leads", headers=admin, timeout=30, params={
        "owner": REP, "stage": "contacted", "min_position": moved.json()["position"]})
    assert [item["lead_id"] for item in listed.json()["items"]] == [lead_id], listed.text
    return str(lead_id)


def test_a_rep_drags_a_lead_through_the_budget_gate(browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    if not _has_user_accounts():
        pytest.skip("sign-in is not in this build yet (no `crm users`)")
    args = ("--data-dir", str(tmp_path / "crm-data"))
    with crm_serve(*args) as (base, _, key):
        admin = key("setup-admin", "admin")
        lead_id = _lead_in_contacted(base, admin)
        add_user(args, REP, "sales_rep", PASSWORD)
        context, page, seen = watched_page(browser, base)
        try:
            page.goto(f"{base}/pipeline")
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            page.get_by_label("User name").fill(REP)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()

            expect(page).to_have_url(f"{base}/pipeline")
            expect(page.get_by_role("heading", level=1, name="Pipeline")).to_be_visible()
            expect(page.get_by_label("Owner")).to_have_value("me")
            contacted = page.get_by_role("region", name=re.compile(r"^Contacted \("))
            qualified = page.get_by_role("region", name=re.compile(r"^Qualified \("))
            card = contacted.get_by_role("listitem").filter(has_text=TITLE)
            expect(card.get_by_role("link", name="Ada Lovelace")).to_be_visible()
            expect(card.get_by_text("€12,000.00", exact=False)).to_be_visible()
            expect(card.get_by_text("0 days in stage", exact=False)).to_be_visible()

            # Keyboard dragging: pick the card up, one column to the right, drop it.
            handle = card.get_by_role("button", name=f"Move {TITLE}")
            handle.focus()
            expect(handle).to_be_focused()
            page.keyboard.press("Space")
            expect(handle).to_have_attribute("aria-pressed", "true")  # picked up
            arrow_over(page, "qualified")
            expect(page.get_by_text(f"{TITLE} is over Qualified.")).to_be_attached()
            page.keyboard.press("Space")

            # The budget gate refuses it: the card is back in `contacted` with the message.
            refusal = contacted.get_by_role("alert")
            expect(refusal).to_contain_text(
                "Not moved to Qualified: a lead can only enter 'qualified' once its budget is "
                "confirmed")
            refusal.get_by_role("button", name="Confirm budget and move").click()

            settled = qualified.get_by_role("listitem").filter(has_text=TITLE)
            expect(settled).to_be_visible()
            expect(contacted.get_by_text(TITLE)).to_have_count(0)
            expect(page.get_by_role("status").filter(
                has_text=f"Moved {TITLE} to Qualified.")).to_be_attached()
            page.reload()  # the read model agrees, not only the page
            expect(page.get_by_role("region", name=re.compile(r"^Qualified \("))
                   .get_by_text(TITLE)).to_be_visible()

            def stage() -> str:
                answer = httpx.get(f"{base}/v1/leads/{lead_id}", headers=admin, timeout=30)
                assert answer.status_code == 200, answer.text
                return str(answer.json()["stage"]) if answer.json()["stage"] == "qualified" else ""

            assert eventually(stage, 30, lambda: "the API shows the lead in qualified",
                              interval_s=0.3) == "qualified"
        finally:
            context.close()
        assert seen.elsewhere() == []
        assert [error for error in seen.console_errors if error != REFUSED_422] == []
        assert seen.console_errors.count(REFUSED_422) == 1
