"""The dashboards' rep-performance and channel-results panels in a real browser (Debian's
Chromium, driven by Playwright) against a real `crm serve` on a seeded store: an analyst sees
every owner's and every source's figures exactly as GET /v1/analytics/sales answers them for
the same filters (read from the page's accessible tables), narrows the page by a lead source
through the filter form, and follows a figure's link to the customers list, which lists the
customers of the leads the figure counts — asking no host but the server and logging no
console error.

Uses the fixtures of test_web_app.py (Chromium from services/web/ensure-browser.sh).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_web_app import browser, watched_page
from tests.e2e.test_web_dashboards import seeded_for_an_analyst

__all__ = ["browser"]  # the fixture, shared with test_web_app.py

PASSWORD = "a long enough password 42"
SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP"}


def _share(text: str) -> float | None:
    """A share as the page shows it in English (`75.5%`; `–` for none)."""
    return None if text == "–" else float(text.rstrip("%").replace(",", "")) / 100


def _days(text: str) -> float | None:
    """Days as the page shows them (`12.5 days`, `1 day`; `–` for none)."""
    return None if text == "–" else float(re.sub(r" days?$", "", text).replace(",", ""))


def _money(lines: list[str]) -> list[dict[str, str]]:
    """Amounts as the page shows them, one a line (`€12,000.00`), as the API's money list."""
    found = []
    for line in lines:
        if line in ("", "–"):
            continue
        symbol, number = line[0], line[1:]
        found.append({"currency": SYMBOLS[symbol], "amount": number.replace(",", "")})
    return found


def _same_money(page: list[dict[str, str]], api: list[dict[str, Any]]) -> bool:
    return [(m["currency"], Decimal(m["amount"])) for m in page] == \
        [(m["currency"], Decimal(m["amount"])) for m in api]


def _rows(page: Any, table: str) -> list[list[str]]:
    """Each body row of the table captioned `table`: its header, then its cells' lines."""
    return list(page.get_by_role("table", name=table).locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.children].map(c => c.innerText))"))


def _check_reps(rows: list[list[str]], sales: dict[str, Any]) -> None:
    assert [row[0] for row in rows] == [g["key"] or "Unassigned" for g in sales["groups"]]
    for row, group in zip(rows, sales["groups"], strict=True):
        assert [int(v.replace(",", "")) for v in row[1:5]] == [
            group["leads"], group["won"], group["lost"], group["open"]], (row, group)
        share = _share(row[5])
        assert (share is None) == (group["win_rate"] is None), (row, group)
        if share is not None:
            assert share == pytest.approx(group["win_rate"], abs=0.0005)
        days = _days(row[6])
        assert (days is None) == (group["median_sales_cycle_s"] is None), (row, group)
        if days is not None:
            assert days == pytest.approx(group["median_sales_cycle_s"] / 86400, abs=0.05)
        assert _same_money(_money(row[7].split("\n")), group["open_value"]), (row, group)
        assert _same_money(_money(row[8].split("\n")), group["won_amount"]), (row, group)


def _check_channels(rows: list[list[str]], sales: dict[str, Any]) -> None:
    assert [row[0] for row in rows] == [g["key"] or "No source" for g in sales["groups"]]
    for row, group in zip(rows, sales["groups"], strict=True):
        assert [int(v.replace(",", "")) for v in row[1:3]] == [group["leads"], group["won"]]
        share = _share(row[3])
        assert (share is None) == (group["conversion_to_won"] is None), (row, group)
        if share is not None:
            assert share == pytest.approx(group["conversion_to_won"], abs=0.0005)
        assert _same_money(_money(row[4].split("\n")), group["won_amount"]), (row, group)


def test_an_analyst_sees_the_apis_sales_figures_and_the_customers_behind_one(
        browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with seeded_for_an_analyst(tmp_path) as (base, api):
        start = {"from": "2020-01-01"}
        by_owner = api("/v1/analytics/sales", **start, group_by="owner")
        by_source = api("/v1/analytics/sales", **start, group_by="source")
        assert by_owner["leads"] > 0 and by_owner["won"] > 0, by_owner  # the seed has leads
        assert any(g["won_amount"] and g["open_value"] for g in by_owner["groups"]), by_owner
        source = max(by_source["groups"], key=lambda g: g["leads"])["key"]
        assert source is not None
        narrowed = {**start, "source": source}
        owners_of_source = api("/v1/analytics/sales", **narrowed, group_by="owner")
        sources_of_source = api("/v1/analytics/sales", **narrowed, group_by="source")

        context, page, seen = watched_page(browser, base)
        try:
            page.goto(f"{base}/dashboards?from=2020-01-01")
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            page.get_by_label("User name").fill("analyst-1")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()

            expect(page).to_have_url(f"{base}/dashboards?from=2020-01-01")
            reps = page.get_by_role("table", name="Sales figures per owner")
            channels = page.get_by_role("table", name="Sales figures per lead source")
            expect(reps.locator("tbody tr")).to_have_count(len(by_owner["groups"]))
            expect(channels.locator("tbody tr")).to_have_count(len(by_source["groups"]))
            _check_reps(_rows(page, "Sales figures per owner"), by_owner)
            _check_channels(_rows(page, "Sales figures per lead source"), by_source)

            # The page's filter form narrows every panel the API supports.
            form = page.get_by_role("form", name="Dashboard filters")
            form.get_by_label("Lead source").fill(source)
            form.get_by_role("button", name="Apply").click()
            expect(page).to_have_url(f"{base}/dashboards?from=2020-01-01&source={source}")
            expect(reps.locator("tbody tr")).to_have_count(len(owners_of_source["groups"]))
            expect(channels.locator("tbody tr")).to_have_count(1)
            expect(channels.get_by_role("rowheader")).to_have_text([source])
            _check_reps(_rows(page, "Sales figures per owner"), owners_of_source)
            _check_channels(_rows(page, "Sales figures per lead source"), sources_of_source)

            # A rep's won figure opens the customers of exactly the leads it counts.
            rep = next(g for g in owners_of_source["groups"] if g["key"] and g["won"])
            reps.get_by_role("link", name=f"Customers with a won lead of {rep['key']}: {rep['won']:,}",
                             exact=True).click()
            expect(page).to_have_url(
                f"{base}/customers?lead_reached=won&lead_source={source}"
                f"&lead_owner={rep['key']}&lead_created_from=2020-01-01")
            leads = api("/v1/leads", reached="won", source=source, owner=rep["key"],
                        created_from="2020-01-01", limit=200, include_total="true")
            assert leads["total"] == rep["won"], (leads["total"], rep)
            customers = {lead["customer_id"] for lead in leads["items"]}
            results = page.get_by_role("region", name="Customers found")
            expect(results.locator("tbody tr")).to_have_count(len(customers))
            shown = results.locator("tbody tr th a").evaluate_all(
                "links => links.map(a => a.getAttribute('href'))")
            assert sorted(shown) == sorted(f"/customers/{c}" for c in customers)

            # A channel's lead count opens the customers of the leads it counts.
            page.go_back()
            expect(page).to_have_url(f"{base}/dashboards?from=2020-01-01&source={source}")
            channel = sources_of_source["groups"][0]
            channels.get_by_role("link", name=f"Customers with a lead of {source}: {channel['leads']:,}",
                                 exact=True).click()
            expect(page).to_have_url(
                f"{base}/customers?lead_source={source}&lead_created_from=2020-01-01")
            leads = api("/v1/leads", source=source, created_from="2020-01-01", limit=200,
                        include_total="true")
            assert leads["total"] == channel["leads"], (leads["total"], channel)
            customers = {lead["customer_id"] for lead in leads["items"]}
            expect(results.locator("tbody tr")).to_have_count(len(customers))
        finally:
            context.close()
        assert seen.elsewhere() == []
        assert seen.console_errors == []
