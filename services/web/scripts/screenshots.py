"""Regenerates docs/screenshots/<page>.<en|zh-CN>.png: every page of the web app, in English and
Simplified Chinese, at 1280×800, from a seeded `crm serve --demo`.

    .venv/bin/python services/web/scripts/screenshots.py [--out docs/screenshots] [--only my-day,...]

Builds nothing: it needs the built app (services/web/dist), Debian's Chromium
(/usr/bin/chromium), Playwright for Python and Chinese fonts (fonts-noto-cjk), and says which
is missing (exit 2). The server runs on a free port with a data dir of its own (removed at the
end); each page is shot as the demo account whose page it is, once its data is shown, the
live-updates sign has settled and the charts have drawn. The demo's history is dated back from
the moment it is loaded, so ages and clocks on the pages ("3 days in stage") differ from run
to run; everything else is the same.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from tests.harness.demo_site import (  # noqa: E402  (after the repository is on the path)
    DemoSite,
    demo_site,
    launch_chromium,
    missing_tools,
    sign_in,
)

LANGUAGES = {"en": ("en-US", "Loading…"), "zh-CN": ("zh-CN", "加载中…")}
VIEWPORT = {"width": 1280, "height": 800}
SHOWN_MS = 30_000


@dataclass(frozen=True)
class Shot:
    """A page to shoot: its address (`{customer}` and `{ticket}` filled in from the demo) and
    the demo account that sees it (None: nobody signed in)."""

    name: str
    path: str
    user: str | None


SHOTS = [
    Shot("sign-in", "/sign-in", None),
    Shot("my-day", "/my-day", "rep-1"),
    Shot("customers", "/customers", "rep-1"),
    Shot("customer", "/customers/{customer}", "rep-1"),
    Shot("pipeline", "/pipeline?owner=all", "manager-1"),
    Shot("tickets", "/tickets", "agent-1"),
    Shot("ticket", "/tickets/{ticket}", "agent-1"),
    Shot("alerts", "/alerts", "manager-1"),
    Shot("dashboards", "/dashboards", "analyst-1"),
    Shot("admin-rules", "/admin/rules", "demo-admin"),
    Shot("admin-users", "/admin/users", "demo-admin"),
    Shot("admin-keys", "/admin/keys", "demo-admin"),
    Shot("admin-read-models", "/admin/read-models", "demo-admin"),
]


def _ids(site: DemoSite) -> dict[str, str]:
    """rep-1's customer with the longest timeline on its first page, and agent-1's first
    ticket."""
    customers = site.get("/v1/customers", owner="rep-1", limit=50)["items"]
    customer = max(customers, key=lambda c: len(site.get(
        f"/v1/customers/{c['customer_id']}/timeline", limit=50)["items"]))
    tickets = site.get("/v1/tickets", assignee="agent-1", limit=1)["items"] or \
        site.get("/v1/tickets", limit=1)["items"]
    return {"customer": customer["customer_id"], "ticket": tickets[0]["ticket_id"]}


def _settled(page: Any, loading: str) -> None:
    """The page shows its data, the live sign is settled and the charts are drawn."""
    page.wait_for_function(
        "loading => document.querySelector('h1') !== null && "
        "!document.body.innerText.includes(loading)", arg=loading, timeout=SHOWN_MS)
    if page.locator(".live-indicator").count():
        try:
            page.locator(".live-indicator--live").wait_for(timeout=10_000)
        except Exception:  # the sign says what it says; the shot is still worth taking
            pass
    if page.locator(".chart").count():
        page.wait_for_function(
            "() => [...document.querySelectorAll('.chart')].every(c => c.querySelector("
            "'canvas, svg'))", timeout=SHOWN_MS)
        page.wait_for_timeout(1500)  # ECharts' entry animation
    page.evaluate("document.fonts.ready")
    page.mouse.move(0, VIEWPORT["height"] - 1)  # no hover effect anywhere


def shoot(site: DemoSite, browser: Any, out: Path, shots: list[Shot]) -> list[Path]:
    ids = _ids(site)
    written = []
    for language, (locale, loading) in LANGUAGES.items():
        sessions: dict[str, Any] = {}
        for shot in shots:
            context = browser.new_context(locale=locale, viewport=VIEWPORT,
                                          storage_state=sessions.get(shot.user or ""))
            try:
                page = context.new_page()
                address = shot.path.format(**ids)
                if shot.user and shot.user not in sessions:
                    sign_in(page, site, shot.user, address)
                    sessions[shot.user] = context.storage_state()
                else:
                    page.goto(site.base + address)
                _settled(page, loading)
                path = out / f"{shot.name}.{language}.png"
                page.screenshot(path=str(path), animations="disabled", caret="hide")
                written.append(path)
                print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}",
                      flush=True)
            finally:
                context.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", default="", help="comma-separated page names: "
                        + ", ".join(shot.name for shot in SHOTS))
    args = parser.parse_args(argv)
    missing = missing_tools(cjk_fonts=True)
    if missing:
        print("screenshots need:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    names = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = names - {shot.name for shot in SHOTS}
    if unknown:
        print(f"no such page: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    shots = [shot for shot in SHOTS if not names or shot.name in names]
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="crm-screenshots-") as scratch:
        print("starting crm serve --demo (loads the sample data)…", flush=True)
        with demo_site(Path(scratch) / "crm-data") as site, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                shoot(site, browser, args.out, shots)
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
