"""Live updates in real browsers (Debian's Chromium, driven by Playwright) against a real
`crm serve` with the demo's rules (approver tiers, rep-1's manager is manager-1): a rep and
their manager, in two browser contexts, have the pipeline board open. The rep moves a lead
with the keyboard and the manager's board shows it in the new column without reloading. The
rep asks for a discount above the approval threshold, which waits for manager-1; the manager
opens the lead's discounts and approves it; the rep's open card shows it approved, live, and
the rep wins the lead. No host but the server is asked, and no console error is logged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.demo.working_day import DEMO_RULES_TOML
from tests.e2e.test_crm_serve import crm_serve
from tests.e2e.test_web_app import _has_user_accounts, add_user, browser, watched_page
from tests.waiting import eventually

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with test_web_app

REP, MANAGER = "rep-1", "manager-1"
PASSWORD = "a long enough password 42"
TITLE = "Difference engine upgrade"


def _lead_in_proposal(base: str, admin: dict[str, str]) -> str:
    """REP's lead in `proposal` under the demo's rules; its id once the lead list shows it."""
    rules = httpx.put(f"{base}/v1/rules", content=DEMO_RULES_TOML,
                      headers={**admin, "Content-Type": "application/toml"})
    assert rules.status_code == 200, rules.text
    customer = httpx.post(f"{base}/v1/customers", headers=admin,
                          json={"personal": {"name": "Ada Lovelace"}, "company": "Engines Ltd"})
    assert customer.status_code == 201, customer.text
    lead = httpx.post(f"{base}/v1/leads", headers=admin, json={
        "customer_id": customer.json()["customer_id"], "title": TITLE, "source": "web",
        "amount": "12000.00", "currency": "EUR", "owner": REP})
    assert lead.status_code == 201, lead.text
    lead_id = str(lead.json()["lead_id"])
    for stage in ("contacted", "qualified", "proposal"):
        moved = httpx.post(f"{base}/v1/leads/{lead_id}/stage", headers=admin,
                           json={"stage": stage, "budget_confirmed": stage == "qualified"})
        assert moved.status_code == 200, moved.text
    listed = httpx.get(f"{base}/v1/leads", headers=admin, timeout=30, params={
        "owner": REP, "stage": "proposal", "min_position": moved.json()["position"]})
    assert [item["lead_id"] for item in listed.json()["items"]] == [lead_id], listed.text
    return lead_id


def _sign_in(page: Any, base: str, path: str, name: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}{path}")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}{path}")
    expect(page.get_by_role("heading", level=1, name="Pipeline")).to_be_visible()
    # The stream is open before anything moves.
    expect(page.get_by_role("status").filter(has_text="Live updates on")).to_be_visible()


def _column(page: Any, name: str) -> Any:
    return page.get_by_role("region", name=re.compile(rf"^{name} \("))


STAGES = ("New", "Contacted", "Qualified", "Proposal", "Negotiation", "Won", "Lost")


def _keyboard_move(page: Any, from_stage: str, to_stage: str) -> None:
    """Pick the card up with Space, arrow it to `to_stage`'s column, drop it with Space.

    The board's drag sensor starts listening for arrow keys a moment after the pick-up, and a
    busy browser may handle an arrow key first: the arrows are pressed until the drag
    announces the card over `to_stage` (back again if one too many got through)."""
    from playwright.sync_api import expect

    handle = page.get_by_role("button", name=f"Move {TITLE}")
    handle.focus()
    expect(handle).to_be_focused()
    page.keyboard.press("Space")
    expect(handle).to_have_attribute("aria-pressed", "true")
    announced = page.get_by_text(re.compile(rf"^{re.escape(TITLE)} is over \w+\.$"))

    def over_target() -> bool:
        texts = announced.all_text_contents()
        found = re.search(r"is over (\w+)\.$", texts[-1]) if texts else None
        where = found.group(1) if found else from_stage
        if where == to_stage:
            return True
        ahead = STAGES.index(where) < STAGES.index(to_stage)
        page.keyboard.press("ArrowRight" if ahead else "ArrowLeft")
        return False

    eventually(over_target, 30, lambda: f"the card never got over {to_stage}", interval_s=0.5)
    page.keyboard.press("Space")


def test_a_move_and_a_discount_approval_show_live_in_the_other_browser(
        browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    if not _has_user_accounts():
        pytest.skip("sign-in is not in this build yet (no `crm users`)")
    args = ("--data-dir", str(tmp_path / "crm-data"))
    with crm_serve(*args) as (base, _, key):
        admin = key("setup-admin", "admin")
        lead_id = _lead_in_proposal(base, admin)
        add_user(args, REP, "sales_rep", PASSWORD)
        add_user(args, MANAGER, "sales_manager", PASSWORD)
        rep_context, rep, rep_seen = watched_page(browser, base)
        boss_context, boss, boss_seen = watched_page(browser, base)
        try:
            _sign_in(rep, base, "/pipeline", REP)
            _sign_in(boss, base, "/pipeline?owner=all", MANAGER)
            expect(_column(boss, "Proposal").get_by_role("listitem").filter(has_text=TITLE)) \
                .to_be_visible()
            requests_before = len(boss_seen.requests)

            # The rep moves the lead on to `negotiation`; the manager's board follows, unreloaded.
            _keyboard_move(rep, "Proposal", "Negotiation")
            expect(rep.get_by_role("status").filter(has_text=f"Moved {TITLE} to Negotiation.")) \
                .to_be_attached()
            expect(_column(boss, "Negotiation").get_by_role("listitem").filter(has_text=TITLE)) \
                .to_be_visible()
            expect(_column(boss, "Proposal").get_by_text(TITLE)).to_have_count(0)
            assert not [url for url in boss_seen.requests[requests_before:]
                        if url.rstrip("/").endswith("/pipeline?owner=all")], "the board reloaded"

            # The rep asks for 15 %: above the 10 % threshold, manager-1's tier decides it.
            card = _column(rep, "Negotiation").get_by_role("listitem").filter(has_text=TITLE)
            card.get_by_role("button", name=f"Discounts of {TITLE}").click()
            discounts = rep.get_by_role("region", name=f"Discounts of {TITLE}")
            expect(discounts.get_by_text("No discounts yet.")).to_be_visible()
            discounts.get_by_label("Discount in percent").fill("15")
            discounts.get_by_label("Reason").fill("three-year commitment")
            discounts.get_by_role("button", name="Request discount").click()
            expect(discounts.get_by_text("Awaiting approval by manager-1")).to_be_visible()
            expect(discounts.get_by_role("button", name="Approve 15%")).to_have_count(0)

            # The manager opens the lead's discounts and approves it.
            boss_card = _column(boss, "Negotiation").get_by_role("listitem").filter(has_text=TITLE)
            boss_card.get_by_role("button", name=f"Discounts of {TITLE}").click()
            boss_discounts = boss.get_by_role("region", name=f"Discounts of {TITLE}")
            expect(boss_discounts.get_by_text("15%, asked by rep-1")).to_be_visible()
            boss_discounts.get_by_role("button", name="Approve 15%").click()
            expect(boss_discounts.get_by_text("Approved by manager-1")).to_be_visible()

            # The rep's open card shows it approved without a reload; the rep wins the lead.
            expect(discounts.get_by_text("Approved by manager-1")).to_be_visible()
            _keyboard_move(rep, "Negotiation", "Won")
            ask = rep.get_by_role("form", name=f"Mark {TITLE} as won?")
            ask.get_by_role("button", name="Mark won").click()
            expect(_column(rep, "Won").get_by_role("listitem").filter(has_text=TITLE)) \
                .to_be_visible()
            expect(_column(boss, "Won").get_by_role("listitem").filter(has_text=TITLE)) \
                .to_be_visible()

            def won() -> dict[str, Any] | None:
                answer = httpx.get(f"{base}/v1/leads/{lead_id}", headers=admin, timeout=30)
                assert answer.status_code == 200, answer.text
                return answer.json() if answer.json()["stage"] == "won" else None

            lead = eventually(won, 30, lambda: "the API shows the lead won", interval_s=0.3)
            assert lead is not None and lead["won"]["discount_percent"] == "15"
        finally:
            rep_context.close()
            boss_context.close()
        for seen in (rep_seen, boss_seen):
            assert seen.elsewhere() == []
            assert seen.console_errors == []
