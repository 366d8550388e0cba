"""The funnel figures, computed at query time in DuckDB SQL over the funnel model.

The analytics figures, computed at query time in DuckDB SQL over the analytics read models.

Every figure uses business time (`occurred_at` of the events), never load time. Every
function takes `tenant_id` (None: all tenants) and `start`/`end` (a half-open business-time
range `[start, end)`; None: unbounded). Quantiles are DuckDB's `quantile_cont` (linear
interpolation between the two nearest ranks: position `q * (n - 1)` of the sorted values);
a quantile of no values is None. Durations are seconds.

**Funnel** (`funnel`), over the leads created in `[start, end)` that match the filters
(`source`, current `owner`, `region`); stages are the default pipeline in order
(new, contacted, qualified, proposal, negotiation, won) — `lost` is not a funnel stage but
counts in the win rate:

- `reached`: leads that were ever in the stage.
- `reached_in_order`: leads that reached the stage having passed through every earlier stage
  in pipeline order — their sequence of stage entries contains new, contacted, …, the stage as
  a subsequence (moves back do not break it, a skip forward does until the skipped stages are
  entered in order after all).
- `conversion_to_next`: reached(next stage) / reached(stage); None for the last stage or when
  reached(stage) is 0.
- `median_time_in_stage_s`, `p90_time_in_stage_s`: over completed stays in the stage — from
  entering it to leaving it (to any stage, `lost` included); a lead that stays twice counts
  twice; the stay the lead is in now does not count.
- `win_rate`: won / (won + lost) among the closed leads; None when none closed.
- `median_sales_cycle_s`: median of created_at → closed_at over the won leads.
- `group_by` = source | owner | region | period splits the same figures by the lead's
  attribute, or by its creation period (`period`: day `2026-01-31`, week `2026-W05` (ISO),
  month `2026-01`, quarter `2026-Q1`, year `2026`), in `groups` sorted by key (None last);
  each lead is in exactly one group, so the groups' counts add up to the totals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from services.projections.funnel.projection import (
    DEFAULT_STAGES,
    LEADS,
    STAGE_BIT,
    STAYS,
    FunnelProjection,
)
from services.projections.query_parts import Where, quantiles, sorted_keys
from services.projections.stores.base import ReadStore

NAME = FunnelProjection.name

GroupBy = Literal["source", "owner", "region", "period"]
Period = Literal["day", "week", "month", "quarter", "year"]

_PERIOD_KEYS: dict[str, str] = {  # over the UTC creation date text, no time zone math
    "day": "{t}created_day",
    "week": "strftime(CAST({t}created_day AS DATE), '%G-W%V')",
    "month": "substr({t}created_day, 1, 7)",
    "quarter": "substr({t}created_day, 1, 4) || '-Q' || "
               "CAST((CAST(substr({t}created_day, 6, 2) AS INTEGER) + 2) // 3 AS VARCHAR)",
    "year": "substr({t}created_day, 1, 4)",
}
def read_funnel(
    store: ReadStore, *, start: datetime | None = None, end: datetime | None = None,
    tenant_id: str | None = None, source: str | None = None, owner: str | None = None,
    region: str | None = None, group_by: GroupBy | None = None, period: Period = "month",
    owners: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Stage reach, conversion, time in stage, win rate and sales cycle (module docstring);
    `owners`: only leads one of these people owns now (a caller's book)."""
    if group_by is not None and group_by not in ("source", "owner", "region", "period"):
        raise ValueError(f"group_by must be source, owner, region or period, not {group_by!r}")
    if period not in _PERIOD_KEYS:
        raise ValueError(f"period must be one of {', '.join(_PERIOD_KEYS)}, not {period!r}")
    def key(table: str) -> str | None:
        if group_by is None:
            return None
        column = _PERIOD_KEYS[period] if group_by == "period" else "{t}" + group_by
        return column.format(t=table)

    def where(table: str, *, with_owner: bool = True) -> Where:
        found = Where()
        found.equal(f"{table}tenant_id", tenant_id)
        found.range(f"{table}created_at", start, end)
        found.equal(f"{table}source", source)
        if with_owner:
            found.equal(f"{table}owner", owner)
            found.one_of(f"{table}owner", owners)
        found.equal(f"{table}region", region)
        return found

    lead_rows = _funnel_leads(store, key(""), where(""))
    if owner is None and owners is None and group_by != "owner":  # stays carry the rest
        stay_rows = _funnel_stays(store, key("s."), where("s."), join_leads=None)
    else:
        leads = Where()
        leads.equal("l.owner", owner)
        leads.one_of("l.owner", owners)
        stay_rows = _funnel_stays(store, key("l." if group_by == "owner" else "s."),
                                  where("s.", with_owner=False), join_leads=leads)

    def figures(group: tuple[int, Any]) -> dict[str, Any]:
        row = lead_rows.get(group, {})
        stays = {stage: q for (total, k, stage), q in stay_rows.items() if (total, k) == group}
        won, lost = row.get("won", 0), row.get("lost", 0)
        return {
            "stages": _stage_figures(row, stays),
            "win_rate": won / (won + lost) if won + lost else None,
            "median_sales_cycle_s": row.get("cycle"),
        }

    result = figures((1, None))
    groups = {k for total, k in lead_rows if total == 0}
    result["groups"] = [{"key": k, **figures((0, k))} for k in sorted_keys(groups)]
    return result


def _funnel_leads(store: ReadStore, key: str | None, where: Where
                  ) -> dict[tuple[int, Any], dict[str, Any]]:
    """{(is_total, key): counts} from one scan of funnel_leads."""
    counts = ", ".join(
        f"count(*) FILTER (WHERE reached_mask & {STAGE_BIT[stage]} <> 0) AS r{i}, "
        f"count(*) FILTER (WHERE in_order_depth >= {i}) AS o{i}"
        for i, stage in enumerate(DEFAULT_STAGES))
    aggregates = (
        f"{counts}, count(*) FILTER (WHERE status = 'won') AS won, "
        "count(*) FILTER (WHERE status = 'lost') AS lost, "
        "quantile_cont((epoch_us(closed_at) - epoch_us(created_at)) / 1e6, 0.5) "
        "FILTER (WHERE status = 'won') AS cycle")
    inner = (f"SELECT {key or 'NULL'} AS k, reached_mask, in_order_depth, status, created_at, "
             f"closed_at FROM {LEADS.name}" + where.sql())
    if key is None:
        sql = f"SELECT NULL AS k, 1 AS total, {aggregates} FROM ({inner})"
    else:
        sql = (f"SELECT k, GROUPING(k) AS total, {aggregates} FROM ({inner}) "
               "GROUP BY GROUPING SETS ((k), ())")
    return {(int(r["total"]), r["k"]): r for r in store.query(sql, where.params)}


def _funnel_stays(store: ReadStore, key: str | None, where: Where, join_leads: Where | None
                  ) -> dict[tuple[int, Any, str], list[float | None] | None]:
    """{(is_total, key, stage): [median, p90]} from one scan of the stays; joined to the
    leads' current rows (`join_leads`: their conditions) only for the owner."""
    where.add(f"s.stage IN ({', '.join('?' * len(DEFAULT_STAGES))})", *DEFAULT_STAGES)
    source = f"{STAYS.name} s"
    params = where.params
    if join_leads is not None:
        source += (f" JOIN (SELECT id, owner FROM {LEADS.name} l" + join_leads.sql() +
                   ") l ON l.id = s.lead_id")
        params = [*join_leads.params, *where.params]
    inner = f"SELECT {key or 'NULL'} AS k, s.stage, s.duration_s FROM {source}{where.sql()}"
    quantile = "quantile_cont(duration_s, [0.5, 0.9]) AS q"
    if key is None:
        sql = f"SELECT NULL AS k, 1 AS total, stage, {quantile} FROM ({inner}) GROUP BY stage"
    else:
        sql = (f"SELECT k, GROUPING(k) AS total, stage, {quantile} FROM ({inner}) "
               "GROUP BY GROUPING SETS ((k, stage), (stage))")
    return {(int(r["total"]), r["k"], r["stage"]): r["q"] for r in store.query(sql, params)}


def _stage_figures(counts: Mapping[str, Any], stays: Mapping[str, Any]) -> list[dict[str, Any]]:
    reached = [int(counts.get(f"r{i}", 0)) for i in range(len(DEFAULT_STAGES))]
    out: list[dict[str, Any]] = []
    for i, stage in enumerate(DEFAULT_STAGES):
        following = reached[i + 1] if i + 1 < len(reached) else None
        times = quantiles(stays.get(stage), ("median", "p90"))
        out.append({
            "stage": stage,
            "reached": reached[i],
            "reached_in_order": int(counts.get(f"o{i}", 0)),
            "conversion_to_next": following / reached[i]
            if following is not None and reached[i] else None,
            "median_time_in_stage_s": times["median"],
            "p90_time_in_stage_s": times["p90"],
        })
    return out


# -- sales figures -------------------------------------------------------------------------
# Sales figures per group, computed at query time in DuckDB SQL over the funnel model's leads.
#
# Over the leads created in `[start, end)` (business time) that match the filters (`source`,
# current `owner`, `region`; `owners`: a caller's book), as GET /v1/analytics/funnel selects them:
#
# - `leads`, `won`, `lost`, `open`: the leads, and how many are won, lost or still open now.
# - `win_rate`: won / (won + lost); None when none closed.
# - `conversion_to_won`: won / leads; None for no leads.
# - `median_sales_cycle_s`: median of created_at → closed_at over the won leads.
# - `open_value`: the amounts of the open leads, summed per currency.
# - `won_amount`: the amounts of the won leads, summed per currency.
#
# Money is a list of {currency, amount} sorted by currency, the amount a decimal string with as
# many decimals as the most precise amount summed (the leads' amounts are decimal strings);
# leads without an amount add nothing. `group_by` = source | owner | region | period splits the
# figures by the lead's attribute or its creation period, as the funnel does, in `groups`
# sorted by key (None last); the groups add up to the totals.


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
