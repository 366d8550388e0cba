"""The dashboards page in a real browser (Debian's Chromium, driven by Playwright) against a
real `crm serve` on a seeded store: an analyst opens Dashboards and sees the funnel's stage
counts and the retention matrix's first cohort exactly as the API answers them for the same
filters (read from the page's accessible tables), switches the funnel's mode and the
retention's activity through the page's controls — asking no host but the server and
logging no console error.

Uses the fixtures of test_web_app.py (Chromium from services/web/ensure-browser.sh).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_crm_serve import CRM, crm_serve, store_options
from tests.e2e.test_web_app import _has_user_accounts, add_user, browser, watched_page

__all__ = ["browser"]  # the fixture, shared with test_web_app.py

PASSWORD = "a long enough password 42"


def _counts(page: Any, table: str) -> Any:
    """The second column (the first after the row's header) of the table captioned `table`."""
    return page.get_by_role("table", name=table).locator("tbody tr > :nth-child(2)")


def _shown(number: int) -> str:
    """A whole number as the page shows it in English (Intl: `1,234`)."""
    return f"{number:,}"


@contextmanager
def seeded_for_an_analyst(tmp_path: Path) -> Iterator[tuple[str, Callable[..., dict[str, Any]]]]:
    """`crm serve` on a store seeded with 24 customers' history and the account analyst-1:
    its address, and a GET of the API as an analyst that waits for the read models to pass a
    command made after the seed."""
    if not _has_user_accounts():
        pytest.skip("sign-in is not in this build yet (no `crm users`)")
    args = ("--data-dir", str(tmp_path / "crm-data"))
    seeded = subprocess.run([CRM, "seed", "--customers", "24", *store_options(args)],
                            capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert seeded.returncode == 0, seeded.stderr
    add_user(args, "analyst-1", "analyst", PASSWORD)
    with crm_serve(*args) as (base, _, key):
        made = httpx.post(f"{base}/v1/customers", headers=key("setup-admin", "admin"),
                          json={"personal": {"name": "Marker Customer"}})
        assert made.status_code == 201, made.text
        position = made.json()["position"]
        analyst = key("analyst-2", "analyst")

        def read(path: str, **query: Any) -> dict[str, Any]:
            answer = httpx.get(f"{base}{path}", headers=analyst, timeout=60,
                               params={**query, "min_position": position})
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        yield base, read


def test_an_analyst_sees_the_apis_figures_on_the_dashboards(browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with seeded_for_an_analyst(tmp_path) as (base, read):
        filters = {"from": "2020-01-01"}

        def api(route: str, **query: Any) -> dict[str, Any]:
            return read(f"/v1/analytics/{route}", **query)

        funnel = api("funnel", **filters)
        assert funnel["stages"][0]["reached"] > 0, funnel  # the seeded store has leads
        retention = api("retention", **filters, activity="interaction")
        assert retention["cohorts"], retention

        context, page, seen = watched_page(browser, base)
        try:
            page.goto(f"{base}/dashboards?from=2020-01-01")
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            page.get_by_label("User name").fill("analyst-1")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()

            expect(page).to_have_url(f"{base}/dashboards?from=2020-01-01")
            expect(page.get_by_role("heading", name="Dashboards", level=1)).to_be_visible()
            expect(page.get_by_role("table", name="Leads per funnel stage")).to_be_visible()
            expect(_counts(page, "Leads per funnel stage")).to_have_text(
                [_shown(stage["reached"]) for stage in funnel["stages"]])
            link = page.get_by_role("link", name="Customers with a lead that reached Won")
            expect(link).to_have_attribute(
                "href", "/customers?lead_reached=won&lead_created_from=2020-01-01")

            # The other mode, from the page's control, into the address.
            page.get_by_label("Count leads that").select_option("in_order")
            expect(page).to_have_url(f"{base}/dashboards?from=2020-01-01&mode=in_order")
            expect(page.get_by_role("table", name="Leads per funnel stage")
                   .get_by_role("columnheader", name="Reached it in order")).to_be_visible()
            expect(_counts(page, "Leads per funnel stage")).to_have_text(
                [_shown(stage["reached_in_order"]) for stage in funnel["stages"]])

            page.get_by_label("Activity that counts").select_option("interaction")
            expect(page).to_have_url(
                f"{base}/dashboards?from=2020-01-01&activity=interaction&mode=in_order")
            first = retention["cohorts"][0]
            months = max(len(cohort["retained"]) for cohort in retention["cohorts"])
            table = page.get_by_role("table", name=re.compile("still active, by cohort"))
            expect(table.locator("tbody tr").first.locator("th, td")).to_have_text([
                first["cohort"], _shown(first["size"]),
                *[re.compile(rf"^{re.escape(_shown(n))} · ") for n in first["retained"]],
                *[""] * (months - len(first["retained"]))])

            expect(page.get_by_role("table", name="Customers per lifecycle stage")).to_be_visible()
            expect(page.get_by_role(
                "table", name="Response and resolution times by priority")).to_be_visible()

            # A funnel figure opens the customers behind it.
            page.get_by_label("Count leads that").select_option("reached")
            page.get_by_role("link", name="Customers with a lead that reached New").click()
            expect(page).to_have_url(
                f"{base}/customers?lead_reached=new&lead_created_from=2020-01-01")
            expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
        finally:
            context.close()
        assert seen.elsewhere() == []
        assert seen.console_errors == []
