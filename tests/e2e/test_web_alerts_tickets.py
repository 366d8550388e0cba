"""The alerts inbox and the ticket queue in a real browser (Debian's Chromium, driven by
Playwright) against a real `crm serve`: a support agent's urgent ticket misses its first-response
target, the SLA rule raises an alert for them; they sign in, acknowledge the alert with a note
and see its status change, open the ticket from it, find it in the queue by its breach, comment
on it and move it on — asking no host but the server, and logging no console error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_crm_serve import crm_serve
from tests.e2e.test_web_app import _has_user_accounts, add_user, browser, watched_page
from tests.waiting import eventually

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with test_web_app

RULES = """
[sla]
enabled = true

[sla.first_response]
urgent = "2s"

[sla.escalation]
raise_priority = false
"""
AGENT = "agent-1"
PASSWORD = "a long enough password 42"


def _breached_ticket(base: str, admin: dict[str, str]) -> dict[str, Any]:
    """An urgent ticket of AGENT that misses its 2-second first-response target, a calm one
    beside it; returns the urgent ticket's id and subject and the alert the SLA rule raised."""
    applied = httpx.put(f"{base}/v1/rules", content=RULES,
                        headers={**admin, "Content-Type": "application/toml"})
    assert applied.status_code == 200, applied.text
    customer = httpx.post(f"{base}/v1/customers", headers=admin,
                          json={"personal": {"name": "Ada Lovelace"}, "company": "Engines Ltd"})
    assert customer.status_code == 201, customer.text
    customer_id = customer.json()["customer_id"]
    urgent = httpx.post(f"{base}/v1/customers/{customer_id}/tickets", headers=admin, json={
        "subject": "Cannot log in to the portal", "priority": "urgent", "assignee": AGENT,
        "channel": "email"})
    assert urgent.status_code == 201, urgent.text
    calm = httpx.post(f"{base}/v1/customers/{customer_id}/tickets", headers=admin, json={
        "subject": "Question about an invoice", "priority": "low", "assignee": AGENT})
    assert calm.status_code == 201, calm.text
    ticket_id = urgent.json()["ticket_id"]

    def raised() -> dict[str, Any]:
        page = httpx.get(f"{base}/v1/alerts", headers=admin, timeout=30, params={
            "assignee": AGENT, "kind": "sla_breached", "subject_id": ticket_id}).json()
        return dict(page["items"][0]) if page["items"] else {}

    alert = eventually(raised, 90, lambda: "the SLA rule raised an alert for the urgent ticket",
                       interval_s=0.3)
    # The queue's read model has the breach too once the alert is there; wait for it anyway.
    queue = httpx.get(f"{base}/v1/tickets", headers=admin, timeout=30, params={
        "breached": "true", "min_position": alert["position"]})
    assert [t["ticket_id"] for t in queue.json()["items"]] == [ticket_id], queue.text
    return {"ticket_id": ticket_id, "subject": "Cannot log in to the portal", "alert": alert}


def test_an_agent_acknowledges_an_alert_and_works_the_ticket(browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    if not _has_user_accounts():
        pytest.skip("sign-in is not in this build yet (no `crm users`)")
    args = ("--data-dir", str(tmp_path / "crm-data"))
    with crm_serve(*args, env={"CRM_POLICY_INTERVAL_S": "0.2"}) as (base, _, key):
        seeded = _breached_ticket(base, key("setup-admin", "admin"))
        add_user(args, AGENT, "support_agent", PASSWORD)
        context, page, seen = watched_page(browser, base)
        try:
            page.goto(f"{base}/alerts")
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            page.get_by_label("User name").fill(AGENT)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()

            # The inbox: the alert, open; acknowledged with a note, it says so.
            expect(page).to_have_url(f"{base}/alerts")
            expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
            expect(page.get_by_label("Status")).to_have_value("active")
            item = page.get_by_role("listitem").filter(has_text=seeded["alert"]["summary"])
            expect(item.get_by_text("SLA missed")).to_be_visible()
            expect(item.get_by_text("Open", exact=True)).to_be_visible()
            expect(item.get_by_role("link", name="Customer page")).to_have_attribute(
                "href", f"/customers/{seeded['alert']['customer_id']}")
            item.get_by_label("Note (optional)").fill("Calling the customer now")
            item.get_by_role("button", name="Acknowledge").focus()
            page.keyboard.press("Enter")
            expect(item.get_by_text("Acknowledged", exact=True)).to_be_visible()
            expect(item.get_by_text("Note: Calling the customer now")).to_be_visible()
            expect(item.get_by_role("button", name="Acknowledge")).to_have_count(0)
            answer = httpx.get(f"{base}/v1/alerts", headers=key("setup-admin", "admin"),
                               params={"subject_id": seeded["ticket_id"]}).json()
            assert answer["items"][0]["status"] == "acknowledged"
            assert answer["items"][0]["acknowledged_by"] == AGENT

            # From the alert to its ticket: the clocks against their targets, the escalation.
            item.get_by_role("link", name="Open the ticket").click()
            expect(page).to_have_url(f"{base}/tickets/{seeded['ticket_id']}")
            expect(page.get_by_role("heading", level=1, name=seeded["subject"])).to_be_visible()
            clocks = page.get_by_role("region", name="SLA clocks")
            first = clocks.get_by_role("row").filter(has_text="First response")
            expect(first.get_by_text("2 sec", exact=True)).to_be_visible()
            expect(first.get_by_text(re.compile(r"^Overdue by "))).to_be_visible()
            expect(page.get_by_role("region", name="Escalations")
                   .get_by_text(re.compile(r"^First response missed \(target 2 sec"))).to_be_visible()

            # The queue: both tickets, then only the breached one, soonest deadline first.
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Tickets").click()
            expect(page).to_have_url(f"{base}/tickets")
            table = page.get_by_role("table", name="The ticket queue")
            expect(table.get_by_role("link", name="Question about an invoice")).to_be_visible()
            row = table.get_by_role("row").filter(has_text=seeded["subject"])
            expect(row.get_by_text("Urgent")).to_be_visible()
            expect(row.get_by_text("SLA breached")).to_be_visible()
            expect(row.get_by_role("link", name="Ada Lovelace")).to_be_visible()
            page.get_by_label("SLA breach").select_option("true")
            expect(page).to_have_url(f"{base}/tickets?breached=true")
            expect(table.get_by_role("link", name="Question about an invoice")).to_have_count(0)
            page.get_by_label("Only tickets assigned to me").check()
            row.get_by_role("link", name=seeded["subject"]).click()

            # Working the ticket: a comment, then a status move.
            expect(page.get_by_role("heading", level=1, name=seeded["subject"])).to_be_visible()
            form = page.get_by_role("region", name="Add a comment")
            form.get_by_label("Comment").fill("We reset the password; please try again.")
            form.get_by_role("button", name="Post comment").click()
            expect(page.get_by_role("region", name="Comments")
                   .get_by_text("We reset the password; please try again.")).to_be_visible()
            move = page.get_by_role("region", name="Move the ticket")
            move.get_by_label("New status").select_option("pending")
            move.get_by_label("Reason (optional)").fill("Waiting for the customer")
            move.get_by_role("button", name="Change status").click()
            expect(page.get_by_test_id("ticket-status")).to_have_text("Pending")
            expect(page.get_by_role("region", name="Status history")
                   .get_by_text("Reason: Waiting for the customer")).to_be_visible()

            # In Chinese, the same page.
            page.get_by_label("Language").select_option("zh-CN")
            expect(page.get_by_role("region", name="SLA 计时")).to_be_visible()
            expect(page.get_by_test_id("ticket-status")).to_have_text("挂起")
        finally:
            context.close()
        assert seen.elsewhere() == []
        assert seen.console_errors == []
