"""Sales figures per group, computed at query time in DuckDB SQL over the funnel model's leads.

Over the leads created in `[start, end)` (business time) that match the filters (`source`,
current `owner`, `region`; `owners`: a caller's book), as GET /v1/analytics/funnel selects them:

- `leads`, `won`, `lost`, `open`: the leads, and how many are won, lost or still open now.
- `win_rate`: won / (won + lost); None when none closed.
- `conversion_to_won`: won / leads; None for no leads.
- `median_sales_cycle_s`: median of created_at → closed_at over the won leads.
- `open_value`: the amounts of the open leads, summed per currency.
- `won_amount`: the amounts of the won leads, summed per currency.

Money is a list of {currency, amount} sorted by currency, the amount a decimal string with as
many decimals as the most precise amount summed (the leads' amounts are decimal strings);
leads without an amount add nothing. `group_by` = source | owner | region | period splits the
figures by the lead's attribute or its creation period, as the funnel does, in `groups`
sorted by key (None last); the groups add up to the totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.projections.funnel.projection import LEADS
from services.projections.funnel.reads import _PERIOD_KEYS, GroupBy, Period
from services.projections.query_parts import Where, sorted_keys
from services.projections.stores.base import ReadStore

_SCALE = "CASE WHEN instr(amount, '.') > 0 THEN length(amount) - instr(amount, '.') ELSE 0 END"


def read_sales(
    store: ReadStore, *, start: datetime | None = None, end: datetime | None = None,
    tenant_id: str | None = None, source: str | None = None, owner: str | None = None,
    region: str | None = None, group_by: GroupBy | None = None, period: Period = "month",
    owners: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Lead counts, win rate, sales cycle, open pipeline value and won amount (module
    docstring); `owners`: only leads one of these people owns now (a caller's book)."""
    if group_by is not None and group_by not in ("source", "owner", "region", "period"):
        raise ValueError(f"group_by must be source, owner, region or period, not {group_by!r}")
    if period not in _PERIOD_KEYS:
        raise ValueError(f"period must be one of {', '.join(_PERIOD_KEYS)}, not {period!r}")
    key = None if group_by is None else (
        _PERIOD_KEYS[period].format(t="") if group_by == "period" else group_by)
    where = Where()
    where.equal("tenant_id", tenant_id)
    where.range("created_at", start, end)
    where.equal("source", source)
    where.equal("owner", owner)
    where.one_of("owner", owners)
    where.equal("region", region)

    counts = _counts(store, key, where)
    money = _money(store, key, where)

    def figures(group: tuple[int, Any]) -> dict[str, Any]:
        row = counts.get(group, {})
        leads, won, lost = int(row.get("leads", 0)), int(row.get("won", 0)), int(row.get("lost", 0))
        return {
            "leads": leads, "won": won, "lost": lost, "open": int(row.get("open", 0)),
            "win_rate": won / (won + lost) if won + lost else None,
            "conversion_to_won": won / leads if leads else None,
            "median_sales_cycle_s": None if row.get("cycle") is None else float(row["cycle"]),
            "open_value": money.get((*group, "open"), []),
            "won_amount": money.get((*group, "won"), []),
        }

    result = figures((1, None))
    groups = {k for total, k in counts if total == 0}
    result["groups"] = [{"key": k, **figures((0, k))} for k in sorted_keys(groups)]
    return result


def _grouped(key: str | None, inner: str, columns: str, by: str) -> str:
    """`columns` over `inner` (its key as `k`): per key and in total, or in total only."""
    if key is None:
        return f"SELECT NULL AS k, 1 AS total, {columns} FROM ({inner})" + (
            f" GROUP BY {by}" if by else "")
    sets = f"(k, {by}), ({by})" if by else "(k), ()"
    return (f"SELECT k, GROUPING(k) AS total, {columns} FROM ({inner}) "
            f"GROUP BY GROUPING SETS ({sets})")


def _counts(store: ReadStore, key: str | None, where: Where
            ) -> dict[tuple[int, Any], dict[str, Any]]:
    """{(is_total, key): counts and the median sales cycle} from one scan of the leads."""
    inner = (f"SELECT {key or 'NULL'} AS k, status, created_at, closed_at FROM {LEADS.name}"
             + where.sql())
    columns = (
        "count(*) AS leads, count(*) FILTER (WHERE status = 'won') AS won, "
        "count(*) FILTER (WHERE status = 'lost') AS lost, "
        "count(*) FILTER (WHERE status = 'open') AS open, "
        "quantile_cont((epoch_us(closed_at) - epoch_us(created_at)) / 1e6, 0.5) "
        "FILTER (WHERE status = 'won') AS cycle")
    rows = store.query(_grouped(key, inner, columns, ""), where.params)
    return {(int(r["total"]), r["k"]): r for r in rows}


def _money(store: ReadStore, key: str | None, where: Where
           ) -> dict[tuple[int, Any, str], list[dict[str, str | None]]]:
    """{(is_total, key, status): [{currency, amount}]} for open and won leads with an amount."""
    money = Where()
    money.conditions, money.params = list(where.conditions), list(where.params)
    money.add("amount IS NOT NULL")
    money.add("status IN ('open', 'won')")
    inner = (f"SELECT {key or 'NULL'} AS k, status, currency, amount FROM {LEADS.name}"
             + money.sql())
    columns = ("status, currency, sum(CAST(amount AS DECIMAL(38, 4))) AS amount, "
               f"max({_SCALE}) AS scale")
    rows = store.query(_grouped(key, inner, columns, "status, currency"), money.params)
    found: dict[tuple[int, Any, str], list[dict[str, str | None]]] = {}
    for r in sorted(rows, key=lambda r: (r["currency"] is None, r["currency"] or "")):
        scale = min(int(r["scale"] or 0), 4)
        amount = Decimal(r["amount"]).quantize(Decimal(1).scaleb(-scale))
        found.setdefault((int(r["total"]), r["k"], r["status"]), []).append(
            {"currency": r["currency"], "amount": f"{amount:f}"})
    return found
