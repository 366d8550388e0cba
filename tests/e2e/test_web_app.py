"""The web app in a real browser (Debian's Chromium, driven by Playwright) against a real
`crm serve`: it opens on the sign-in page, signs a user in, shows "My day" and signs out —
asking no host but the server, and logging no console error.

Chromium comes from services/web/ensure-browser.sh (the README's test command runs it);
without it these tests skip, or fail under CI=true.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_crm_serve import CRM, crm_serve, store_options
from tests.web_build import built_web_app, unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
"""Without the background-networking flags Chromium keeps calling hosts of its own."""
SHOWN_S = 20_000  # ms a page gets to show what is awaited (a busy machine builds pages slowly)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"Chromium is not installed at {CHROMIUM}: install it with "
                    "`apt-get install -y chromium` (services/web/ensure-browser.sh)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the browser tests need Playwright: pip install -e '.[dev]'")
    built_web_app()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Watched:
    """What a page asked for and complained about."""

    base: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def elsewhere(self) -> list[str]:
        return [url for url in self.requests
                if not (url == self.base or url.startswith(self.base + "/"))]


def midday_zone() -> str:
    """A time zone where it is now between noon and one: "today" in a browser there lasts
    hours yet, whenever the test runs."""
    offset = 12 - datetime.now(UTC).hour  # -11 … +12 hours; Etc/GMT names the sign reversed
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def watched_page(browser: Any, base: str, locale: str = "en-US",
                 timezone_id: str | None = None) -> tuple[Any, Any, Watched]:
    context = browser.new_context(locale=locale, timezone_id=timezone_id)
    page = context.new_page()
    page.set_default_timeout(SHOWN_S)
    seen = Watched(base)
    page.on("request", lambda request: seen.requests.append(request.url))
    page.on("console", lambda message: seen.console_errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: seen.console_errors.append(str(error)))
    return context, page, seen


def test_the_app_and_the_api_docs_open_with_nothing_from_elsewhere(
        browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with crm_serve("--data-dir", str(tmp_path / "crm-data")) as (base, _, _key):
        context, page, seen = watched_page(browser, base)
        try:
            page.goto(f"{base}/")
            expect(page).to_have_url(re.compile(r"/sign-in\?next="))
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            for label in ("Tenant", "User name", "Password", "Language"):
                expect(page.get_by_label(label)).to_be_visible()
            page.get_by_label("Tenant").focus()
            page.keyboard.press("Tab")
            expect(page.get_by_label("User name")).to_be_focused()

            page.get_by_label("Language").select_option("zh-CN")
            expect(page.get_by_role("heading", name="登录")).to_be_visible()
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            page.reload()  # the choice is kept
            expect(page.get_by_label("用户名")).to_be_visible()

            page.goto(f"{base}/docs")
            expect(page.get_by_role("heading", name=re.compile("Chronicle CRM"))).to_be_visible()
            expect(page.locator('[data-path="/v1/customers"]').first).to_be_visible()
        finally:
            context.close()
    assert seen.elsewhere() == []
    assert seen.console_errors == []
    assert any(url.startswith(f"{base}/docs/swagger-ui-bundle.js") for url in seen.requests)


def add_user(args: tuple[str, ...], name: str, role: str, password: str) -> None:
    """A local account in the store `args` name, as `crm users add` makes one."""
    added = subprocess.run(
        [CRM, "users", "add", name, "--tenant", "default", "--role", role, "--password-stdin",
         *store_options(args)], input=password + "\n", capture_output=True, text=True,
        timeout=120, env=os.environ.copy())
    assert added.returncode == 0, added.stderr


def _has_user_accounts() -> bool:
    done = subprocess.run([CRM, "users", "--help"], capture_output=True, text=True, timeout=60)
    return done.returncode == 0


def _seed_my_day(base: str, admin: dict[str, str], person: str) -> dict[str, str]:
    """A customer with a lead owned by `person` and a task for them; returns their titles once
    the read models have them."""
    customer = httpx.post(f"{base}/v1/customers", headers=admin,
                          json={"personal": {"name": "Ada Lovelace"}, "company": "Engines Ltd"})
    assert customer.status_code == 201, customer.text
    customer_id = customer.json()["customer_id"]
    lead = httpx.post(f"{base}/v1/leads", headers=admin, json={
        "customer_id": customer_id, "title": "Difference engine upgrade", "source": "web",
        "amount": "12000.00", "currency": "EUR", "owner": person})
    assert lead.status_code == 201, lead.text
    due = (datetime.now(UTC) + timedelta(hours=2)).isoformat()  # today in midday_zone()
    task = httpx.post(f"{base}/v1/tasks", headers=admin, json={
        "customer_id": customer_id, "title": "Call Ada back", "assignee": person,
        "due_at": due})
    assert task.status_code == 201, task.text
    position = task.json()["position"]
    read = httpx.get(f"{base}/v1/tasks", headers=admin,
                     params={"assignee": person, "min_position": position}, timeout=30)
    assert read.status_code == 200 and read.json()["items"], read.text
    leads = httpx.get(f"{base}/v1/leads", headers=admin,
                      params={"owner": person, "min_position": position}, timeout=30)
    assert leads.status_code == 200 and leads.json()["items"], leads.text
    return {"lead": "Difference engine upgrade", "task": "Call Ada back"}


def test_a_user_signs_in_sees_my_day_and_signs_out(browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    if not _has_user_accounts():
        pytest.skip("sign-in is not in this build yet (no `crm users`, no POST /v1/session): "
                    "the sign-in page itself is tested above")
    password = "a long enough password 42"
    args = ("--data-dir", str(tmp_path / "crm-data"))
    with crm_serve(*args) as (base, _, key):
        titles = _seed_my_day(base, key("setup-admin", "admin"), "rep-1")
        add_user(args, "rep-1", "sales_rep", password)
        context, page, seen = watched_page(browser, base, timezone_id=midday_zone())
        try:
            page.goto(f"{base}/my-day")
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            expect(page.get_by_label("Tenant")).to_have_value("default")
            page.get_by_label("User name").fill("rep-1")
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()

            expect(page).to_have_url(f"{base}/my-day")
            expect(page.get_by_role("heading", name="My day", exact=True)).to_be_visible()
            navigation = page.get_by_role("navigation", name="Main")
            for name in ("My day", "Customers", "Pipeline", "Tickets", "Alerts", "Dashboards"):
                expect(navigation.get_by_role("link", name=name)).to_be_visible()
            # Admin shows only to those its pages allow (tests/e2e/test_web_admin.py).
            expect(navigation.get_by_role("link", name="Admin")).to_have_count(0)
            leads = page.get_by_role("region", name="My open leads")
            expect(leads.get_by_text(titles["lead"])).to_be_visible()
            expect(leads.get_by_text("€12,000.00")).to_be_visible()
            tasks = page.get_by_role("region", name="My tasks")
            expect(tasks.get_by_text(titles["task"])).to_be_visible()
            expect(page.get_by_role("region", name="My alerts")).to_be_visible()

            navigation.get_by_role("link", name="Pipeline").click()
            expect(page).to_have_url(f"{base}/pipeline")
            page.reload()  # a client-side route served by the server, still signed in
            expect(page.get_by_role("heading", name="Pipeline")).to_be_visible()

            page.get_by_role("button", name="Sign out").click()
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            page.goto(f"{base}/my-day")  # the session is gone, not only the page
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        finally:
            context.close()
        assert seen.elsewhere() == []
        assert seen.console_errors == []
