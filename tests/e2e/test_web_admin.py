"""The Admin pages in a real browser (Debian's Chromium, driven by Playwright) against a seeded
`crm serve --demo`: demo-admin types a broken rules file and sees the problem at its line with
Apply disabled, fixes it, applies it and finds the change in the history; adds a user who then
signs in in a second browser context (a rep: no Admin in the navigation, "Not allowed" at
/admin); creates an API key that works, and revokes it; and finds every read model with its
position — asking no host but the server, and logging no console error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_web_app import SHOWN_S, Watched
from tests.harness.demo_site import DemoSite, demo_site, launch_chromium, missing_tools, sign_in
from tests.web_build import built_web_app, unavailable

ADMIN = "demo-admin"
NEW_USER = "web-rep-1"
KEY_SUBJECT = "web-integration-1"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoSite, Any]]:
    if missing := missing_tools():
        unavailable("the admin pages' browser test needs " + "; ".join(missing))
    built_web_app()
    from playwright.sync_api import sync_playwright

    with demo_site(tmp_path_factory.mktemp("admin") / "crm-data") as running, \
            sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield running, browser
        finally:
            browser.close()


def _page(browser: Any, base: str) -> tuple[Any, Any, Watched]:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(SHOWN_S)
    seen = Watched(base)
    page.on("request", lambda request: seen.requests.append(request.url))
    page.on("console", lambda message: seen.console_errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: seen.console_errors.append(str(error)))
    return context, page, seen


def test_an_admin_edits_the_rules_manages_users_and_keys_and_sees_the_read_models(
        site: tuple[DemoSite, Any]) -> None:
    from playwright.sync_api import expect

    demo, browser = site
    in_force = demo.get("/v1/rules")
    kept = in_force["rules_toml"].rstrip("\n")
    broken_line = len(kept.split("\n")) + 2
    broken = f"{kept}\n\nthis is not toml\n"
    fixed = f"{kept}\n\n# reviewed in the browser\n"

    context, page, seen = _page(browser, demo.base)
    other = None
    try:
        sign_in(page, demo, ADMIN, "/admin/rules")
        expect(page.get_by_role("heading", level=1, name="Admin")).to_be_visible()
        editor = page.get_by_label("Rules file (TOML)")
        expect(editor).to_have_value(in_force["rules_toml"])
        apply = page.get_by_role("button", name="Apply", exact=True)

        # A broken file: the problem at its line, Apply disabled, nothing recorded.
        editor.fill(broken)
        problems = page.get_by_role("list", name="Problems in the rules file")
        line_button = problems.get_by_role("button", name=f"Line {broken_line}")
        expect(line_button).to_be_visible()
        expect(problems).to_contain_text("not valid TOML")
        expect(page.locator(f'[data-line="{broken_line}"][data-problem="true"]')).to_have_count(1)
        expect(editor).to_have_attribute("aria-invalid", "true")
        expect(apply).to_be_disabled()
        line_button.click()
        expect(editor).to_be_focused()
        assert demo.get("/v1/rules")["version"] == in_force["version"]

        # Fixed: the check is clean, Apply records it, the history shows who and where from.
        editor.fill(fixed)
        expect(page.get_by_text(re.compile(r"^No problems\. Applying changes"))).to_be_visible()
        expect(problems).to_have_count(0)
        expect(apply).to_be_enabled()
        apply.click()
        version = in_force["version"] + 1
        expect(page.get_by_text(f"Applied: the rules are now version {version}.")).to_be_visible()
        expect(apply).to_be_disabled()
        history = page.get_by_role("table", name="History")
        newest = history.get_by_role("row").nth(1)
        expect(newest.get_by_role("rowheader")).to_have_text(str(version))
        expect(newest).to_contain_text(ADMIN)
        expect(newest).to_contain_text("web")
        recorded = demo.get("/v1/rules")
        assert (recorded["version"], recorded["rules_toml"], recorded["changed_by"]) == (
            version, fixed, ADMIN)

        # A new user, with a generated password shown once.
        page.get_by_role("navigation", name="Admin sections").get_by_role(
            "link", name="Users").click()
        page.get_by_label("User name").fill(NEW_USER)
        page.get_by_label("Role").select_option("sales_rep")
        page.get_by_role("button", name="Add user").click()
        secret = page.get_by_test_id("once-secret")
        expect(secret).to_be_visible()
        password = (secret.text_content() or "").strip()
        assert len(password) >= 12
        accounts = page.get_by_role("table", name="Accounts")
        expect(accounts.get_by_role("row").filter(has_text=NEW_USER)).to_contain_text("Sales rep")
        page.get_by_role("button", name="Done, hide it").click()
        expect(secret).to_have_count(0)

        # ...who signs in in a second browser context: a rep, so no Admin for them.
        other, rep_page, rep_seen = _page(browser, demo.base)
        sign_in(rep_page, DemoSite(demo.base, demo.admin, {NEW_USER: password}), NEW_USER)
        expect(rep_page.get_by_role("heading", level=1, name="My day")).to_be_visible()
        main_nav = rep_page.get_by_role("navigation", name="Main")
        expect(main_nav.get_by_role("link", name="Customers")).to_be_visible()
        expect(main_nav.get_by_role("link", name="Admin")).to_have_count(0)
        rep_page.goto(f"{demo.base}/admin/users")
        expect(rep_page.get_by_role("heading", name="Not allowed")).to_be_visible()
        expect(rep_page.get_by_label("User name")).to_have_count(0)

        # An API key: its secret shown once, working until it is revoked.
        page.get_by_role("navigation", name="Admin sections").get_by_role(
            "link", name="API keys").click()
        page.get_by_label("Subject (who the key acts as)").fill(KEY_SUBJECT)
        page.get_by_label("Role").select_option("integration")
        page.get_by_role("checkbox", name="customers:read").check()
        page.get_by_role("button", name="Create key").click()
        key_secret = page.get_by_test_id("once-secret")
        expect(key_secret).to_be_visible()
        key = (key_secret.text_content() or "").strip()
        bearer = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{demo.base}/v1/me", headers=bearer).status_code == 200
        keys = page.get_by_role("table", name="Keys")
        row = keys.get_by_role("row").filter(has_text=KEY_SUBJECT)
        expect(row).to_contain_text("Active")
        row.get_by_role("button", name=re.compile(f"^Revoke the key of {KEY_SUBJECT}")).click()
        confirm = row.get_by_role("group", name=re.compile(f"^Revoke the key of {KEY_SUBJECT}\\?"))
        expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
        confirm.get_by_role("button", name="Revoke", exact=True).click()
        expect(page.get_by_text(f"Revoked the key of {KEY_SUBJECT}.")).to_be_visible()
        expect(row).to_contain_text("Revoked")
        assert httpx.get(f"{demo.base}/v1/me", headers=bearer).status_code == 401

        # The read models: every one, with its position.
        statuses = demo.get("/v1/projections")["projections"]
        page.get_by_role("navigation", name="Admin sections").get_by_role(
            "link", name="Read models").click()
        table = page.get_by_role("table", name="Read models and their progress")
        expect(table).to_be_visible()
        expect(table.locator("tbody tr")).to_have_count(len(statuses))
        for status in statuses:
            model = table.locator(f'tr[data-projection="{status["projection"]}"]')
            expect(model.get_by_role("rowheader")).to_have_text(status["projection"])
            shown = model.locator("td.number").first.text_content() or ""
            assert int(shown.replace(",", "")) >= status["position"], (status, shown)
    finally:
        context.close()
        if other is not None:
            other.close()
    assert seen.elsewhere() == [] and rep_seen.elsewhere() == []
    assert seen.console_errors == [] and rep_seen.console_errors == []
