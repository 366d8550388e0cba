"""Accessibility of every page of the web app, in a real browser (Debian's Chromium, driven by
Playwright) against a seeded `crm serve --demo`: axe-core's WCAG 2.1 A/AA rules find no
violation on any page in English or Chinese, and the keyboard alone reaches every control with
a visible focus and does the main things — opening a customer from the list, moving a card on
the board, opening the won/lost question and closing it with Escape, focus going back where it
was. No host but the server is asked and no console error is logged.

A page added to the app is one line of PAGES. Uses services/web/node_modules/axe-core (a
devDependency), evaluated in the page through Playwright (the app's CSP stays as it is).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.board_keys import arrow_over
from tests.e2e.test_web_app import SHOWN_S, Watched
from tests.harness.demo_site import (
    AXE,
    DemoSite,
    demo_site,
    launch_chromium,
    missing_tools,
    sign_in,
)
from tests.web_build import built_web_app, unavailable

LOCALES = {"en": ("en-US", "Loading…"), "zh-CN": ("zh-CN", "加载中…")}
"""The browser's language (the app follows it) and the app's loading text in it."""
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
REP, AGENT = "rep-1", "agent-1"


def _open_the_won_question(page: Any) -> None:
    """Pick up the first card in `negotiation` with the keyboard, drop it on `won`."""
    handle = page.locator('[data-stage="negotiation"] .board__handle').first
    handle.focus()
    page.keyboard.press("Space")
    page.locator('.board__handle[aria-pressed="true"]').wait_for()
    arrow_over(page, "won")
    page.keyboard.press("Space")
    page.locator("form.board__ask").wait_for()


@dataclass(frozen=True)
class Page:
    """A page to check: its address (`{customer}` and `{ticket}` are filled in from the demo's
    data), who signs in to see it (nobody: None) and what to do there before the check."""

    name: str
    path: str
    user: str | None
    then: Callable[[Any], None] | None = None


PAGES = [
    Page("sign-in", "/sign-in", None),
    Page("my-day", "/my-day", REP),
    Page("customers", "/customers", REP),
    Page("customer", "/customers/{customer}", REP),
    Page("pipeline", "/pipeline", REP),
    Page("pipeline-won-question", "/pipeline", REP, then=_open_the_won_question),
    Page("tickets", "/tickets", AGENT),
    Page("ticket", "/tickets/{ticket}", AGENT),
    Page("alerts", "/alerts", "manager-1"),
    Page("dashboards", "/dashboards", "analyst-1"),
    Page("admin", "/admin", "demo-admin"),
    Page("admin-rules", "/admin/rules", "demo-admin"),
    Page("admin-users", "/admin/users", "demo-admin"),
    Page("admin-keys", "/admin/keys", "demo-admin"),
    Page("admin-read-models", "/admin/read-models", "demo-admin"),
    Page("my-day-agent", "/my-day", AGENT),
    Page("not-allowed", "/pipeline", AGENT),
    Page("not-found", "/no-such-page", REP),
]

NAVIGATION = {
    "demo-admin": ["My day", "Customers", "Pipeline", "Tickets", "Alerts", "Dashboards", "Admin"],
    "manager-1": ["My day", "Customers", "Pipeline", "Tickets", "Alerts", "Dashboards", "Admin"],
    "rep-1": ["My day", "Customers", "Pipeline", "Tickets", "Alerts", "Dashboards"],
    "agent-1": ["My day", "Customers", "Tickets", "Alerts"],
    "analyst-1": ["My day", "Customers", "Pipeline", "Tickets", "Dashboards", "Admin"],
    "auditor-1": ["My day", "Customers", "Pipeline", "Tickets", "Alerts", "Dashboards", "Admin"],
}
"""The pages each demo account's role is shown (from the role table: a page needs the read
action behind it; Admin shows to whoever may use one of its sections)."""


@dataclass
class Demo:
    site: DemoSite
    browser: Any
    ids: dict[str, str]
    sessions: dict[tuple[str, str], Any]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if missing := missing_tools():
        unavailable("the accessibility test needs " + "; ".join(missing))
    built_web_app()
    from playwright.sync_api import sync_playwright

    with demo_site(tmp_path_factory.mktemp("access") / "crm-data") as site, \
            sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield Demo(site, browser, _demo_ids(site), {})
        finally:
            browser.close()


def _demo_ids(site: DemoSite) -> dict[str, str]:
    customers = site.get("/v1/customers", owner=REP, limit=1)["items"]
    tickets = site.get("/v1/tickets", assignee=AGENT, limit=1)["items"]
    assert customers and tickets, "the demo has no customer of rep-1 or no ticket of agent-1"
    return {"customer": customers[0]["customer_id"], "ticket": tickets[0]["ticket_id"]}


@dataclass
class Opened:
    page: Any
    seen: Watched
    loading: str


def _open(demo: Demo, user: str | None, language: str, path: str) -> tuple[Any, Opened]:
    """A new browser context in `language`, signed in as `user` (once per user and language,
    then from the stored cookies), showing `path` with its data loaded."""
    locale, loading = LOCALES[language]
    state = demo.sessions.get((user, language)) if user else None
    context = demo.browser.new_context(locale=locale, viewport={"width": 1280, "height": 800},
                                       storage_state=state)
    page = context.new_page()
    page.set_default_timeout(SHOWN_S)
    seen = Watched(demo.site.base)
    page.on("request", lambda request: seen.requests.append(request.url))
    page.on("console", lambda message: seen.console_errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: seen.console_errors.append(str(error)))
    address = path.format(**demo.ids)
    if user and state is None:  # straight to the page: My day is not every role's
        sign_in(page, demo.site, user, address)
        demo.sessions[user, language] = context.storage_state()
    else:
        page.goto(demo.site.base + address)
    opened = Opened(page, seen, loading)
    _shown(opened)
    return context, opened


def _shown(opened: Opened) -> None:
    """Wait until the page has its heading and nothing says it is loading."""
    opened.page.wait_for_function(
        "loading => document.querySelector('h1') !== null && "
        "!document.body.innerText.includes(loading)", arg=opened.loading)


def _violations(page: Any) -> list[dict[str, Any]]:
    page.evaluate(AXE.read_text())
    return list(page.evaluate(
        """tags => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(result =>
             result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
               helpUrl: v.helpUrl, nodes: v.nodes.map(n => ({target: n.target.join(' '),
               html: n.html.slice(0, 200), summary: n.failureSummary}))})))""", WCAG_TAGS))


def _readable(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} "
                     f"— {violation['helpUrl']}")
        for node in violation["nodes"]:
            lines.append(f"    {node['target']}\n      {node['html']}\n      "
                         + node["summary"].replace("\n", "\n      "))
    return "\n".join(lines)


@pytest.mark.parametrize("language", list(LOCALES))
@pytest.mark.parametrize("checked", PAGES, ids=[page.name for page in PAGES])
def test_no_wcag_violation_on_the_page(demo: Demo, checked: Page, language: str) -> None:
    context, opened = _open(demo, checked.user, language, checked.path)
    try:
        if checked.then is not None:
            checked.then(opened.page)
        violations = _violations(opened.page)
    finally:
        context.close()
    assert not violations, (f"axe-core ({', '.join(WCAG_TAGS)}) on {checked.path} in "
                            f"{language}:\n{_readable(violations)}")
    assert opened.seen.elsewhere() == []
    assert opened.seen.console_errors == []


_FOCUS_SHOWN = """() => {
  const element = document.activeElement;
  if (!element || element === document.body) return null;
  const box = element.getBoundingClientRect();
  const style = getComputedStyle(element);
  // The ring is on the element, or on a frame around it that shows :focus-within.
  const ringed = [element, element.parentElement, element.parentElement?.parentElement]
    .filter(node => node).map(node => getComputedStyle(node));
  const outline = ringed.some(s => s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0);
  const shadow = ringed.some(s => s.boxShadow !== 'none');
  const onScreen = box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0 &&
    box.top < innerHeight && box.left < innerWidth && style.visibility !== 'hidden';
  const name = element.getAttribute('aria-label') || element.innerText || element.id ||
    element.getAttribute('name') || '';
  return {what: `${element.tagName.toLowerCase()} "${name.trim().slice(0, 60)}"`,
          onScreen, focusStyle: outline || shadow};
}"""


def _tab_through(page: Any, stops: int) -> list[dict[str, Any]]:
    """Press Tab `stops` times (or until the focus leaves the page after reaching something);
    what took the focus."""
    page.bring_to_front()
    reached: list[dict[str, Any]] = []
    for _ in range(stops):
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUS_SHOWN)
        if focused is None and reached:
            break
        if focused is not None:
            reached.append(focused)
    return reached


def _tab_to(page: Any, target: Any, limit: int = 120) -> None:
    """Press Tab until `target` has the focus."""
    page.bring_to_front()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{limit} presses of Tab did not reach {target}")


@pytest.mark.parametrize("checked", [page for page in PAGES if page.then is None],
                         ids=[page.name for page in PAGES if page.then is None])
def test_every_control_takes_a_visible_focus(demo: Demo, checked: Page) -> None:
    context, opened = _open(demo, checked.user, "en", checked.path)
    try:
        reached = _tab_through(opened.page, 40)
    finally:
        context.close()
    assert reached, f"Tab reaches nothing on {checked.path}"
    if checked.user:
        assert reached[0]["what"].startswith('a "Skip to content'), reached[0]
    hidden = [stop for stop in reached if not (stop["onScreen"] and stop["focusStyle"])]
    assert hidden == [], f"focus not shown on {checked.path}:\n" + json.dumps(hidden, indent=1)
    assert opened.seen.console_errors == []


def test_the_main_actions_work_with_the_keyboard_alone(demo: Demo) -> None:
    from playwright.sync_api import expect

    base = demo.site.base
    lead = next(lead for lead in demo.site.get("/v1/leads", owner=REP, stage="negotiation",
                                                open="true", limit=50)["items"]
                if lead["amount"])
    title = lead["title"]
    context, opened = _open(demo, REP, "en", "/customers")
    page = opened.page
    try:
        # Open a customer from the list.
        first = page.get_by_role("region", name="Customers found").get_by_role("link").first
        expect(first).to_be_visible(timeout=3 * SHOWN_S)  # a busy machine reads slowly
        name = first.inner_text()
        _tab_to(page, first)
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/customers/[0-9a-f-]+$"))
        expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()

        # Move a card one column to the left on the board: pick it up, arrow, drop.
        page.goto(f"{base}/pipeline")
        _shown(opened)
        card = page.locator(f'[data-lead="{lead["lead_id"]}"]')
        handle = card.get_by_role("button", name=f"Move {title}")
        _tab_to(page, handle)
        page.keyboard.press("Space")
        expect(handle).to_have_attribute("aria-pressed", "true")
        arrow_over(page, "proposal")
        page.keyboard.press("Space")
        proposal = page.locator('[data-stage="proposal"]')
        expect(proposal.locator(f'[data-lead="{lead["lead_id"]}"]')).to_be_visible()
        expect(page.get_by_role("status").filter(has_text=f"Moved {title} to Proposal.")
               ).to_be_attached()

        # Drop it on `won`: the question opens with the focus in it; Escape closes it
        # without a move and gives the focus back to the card's handle.
        _tab_to(page, handle)
        page.keyboard.press("Space")
        expect(handle).to_have_attribute("aria-pressed", "true")
        arrow_over(page, "won")
        page.keyboard.press("Space")
        question = page.get_by_role("form", name=re.compile(title))
        expect(question).to_be_visible()
        expect(question.get_by_role("button", name="Mark won")).to_be_focused()
        page.keyboard.press("Escape")
        expect(question).to_have_count(0)
        expect(handle).to_be_focused()
        expect(proposal.locator(f'[data-lead="{lead["lead_id"]}"]')).to_be_visible()
    finally:
        context.close()
    assert opened.seen.elsewhere() == []
    assert opened.seen.console_errors == []


@pytest.mark.parametrize("user", list(NAVIGATION))
def test_each_role_signs_in_and_opens_every_page_it_is_shown(demo: Demo, user: str) -> None:
    """Every demo account signs in through the form, sees the pages of its role in the
    navigation and opens each of them: a heading, no refusal, no console error."""
    from playwright.sync_api import expect

    context = demo.browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(SHOWN_S)
    seen = Watched(demo.site.base)
    page.on("request", lambda request: seen.requests.append(request.url))
    page.on("console", lambda message: seen.console_errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: seen.console_errors.append(str(error)))
    try:
        sign_in(page, demo.site, user)
        navigation = page.get_by_role("navigation", name="Main")
        expect(navigation.get_by_role("link")).to_have_text(NAVIGATION[user])
        for name in NAVIGATION[user]:
            navigation.get_by_role("link", name=name, exact=True).click()
            opened = Opened(page, seen, LOCALES["en"][1])
            _shown(opened)
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            expect(page.get_by_role("heading", name="Not allowed")).to_have_count(0)
            expect(page.locator(".notice--error")).to_have_count(0)
    finally:
        context.close()
    assert seen.elsewhere() == []
    assert seen.console_errors == []
