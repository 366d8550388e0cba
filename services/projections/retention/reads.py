"""The retention figures, computed at query time in DuckDB SQL over the retention model.

The analytics figures, computed at query time in DuckDB SQL over the analytics read models.

Every figure uses business time (`occurred_at` of the events), never load time. Every
function takes `tenant_id` (None: all tenants) and `start`/`end` (a half-open business-time
range `[start, end)`; None: unbounded). Quantiles are DuckDB's `quantile_cont` (linear
interpolation between the two nearest ranks: position `q * (n - 1)` of the sorted values);
a quantile of no values is None. Durations are seconds.

**Retention** (`retention`): a customer's cohort is the calendar month (UTC, business time)
of their first activity of the chosen kind; `retained[k]` counts the cohort's customers with
at least one such activity in the k-th calendar month after the cohort month (k = 0 is the
cohort month, so `retained[0] == size`); every list runs to the last month with activity of
that kind in the whole data set (of the tenant), zeros included. `retained_pct[k]` =
100 * retained[k] / size rounded to 2 decimals. Kinds: `purchase` = purchases and won leads
(LeadWon), `interaction` = logged interactions, `any` = either. `start`/`end` select the cohorts
whose month overlaps `[start, end)`; `source`, `owner` (current), `region` (current) select
customers by their attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from services.projections.query_parts import Where
from services.projections.retention.projection import (
    ACTIVITY,
    CUSTOMERS,
    INTERACTION,
    PURCHASE,
    WON,
    RetentionProjection,
    month_index,
    month_label,
)
from services.projections.stores.base import ReadStore

NAME = RetentionProjection.name

Activity = Literal["purchase", "interaction", "any"]
_ACTIVITY_KINDS: dict[str, tuple[str, ...]] = {
    "purchase": (PURCHASE, WON), "interaction": (INTERACTION,),
    "any": (PURCHASE, WON, INTERACTION),
}


def read_retention(
    store: ReadStore, *, activity: Activity = "purchase", start: datetime | None = None,
    end: datetime | None = None, tenant_id: str | None = None, source: str | None = None,
    owner: str | None = None, region: str | None = None, owners: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Monthly cohort retention by business time (module docstring); `owners`: only customers
    one of these people owns now (a caller's book)."""
    if activity not in _ACTIVITY_KINDS:
        raise ValueError(f"activity must be purchase, interaction or any, not {activity!r}")
    kinds = _ACTIVITY_KINDS[activity]
    in_kinds = f"r.kind IN ({', '.join('?' * len(kinds))})"
    everything = Where()
    everything.add(in_kinds, *kinds)
    everything.equal("r.tenant_id", tenant_id)
    last_rows = store.query(f"SELECT max(r.month) AS last FROM {ACTIVITY.name} r"
                            + everything.sql(), everything.params)
    last = last_rows[0]["last"] if last_rows else None
    if last is None:  # no activity of this kind at all
        return {"cohort": "month", "activity": activity, "cohorts": []}

    selected = Where()
    selected.add(in_kinds, *kinds)
    selected.equal("r.tenant_id", tenant_id)
    selected.equal("c.source", source)
    selected.equal("c.owner", owner)
    selected.one_of("c.owner", owners)
    selected.equal("c.region", region)
    join = (f" JOIN {CUSTOMERS.name} c ON c.id = r.customer_id"
            if source is not None or owner is not None or region is not None
            or owners is not None else "")
    cohorts = Where()
    if start is not None:
        cohorts.add("cohort >= ?", month_index(start))
    if end is not None:
        cohorts.add("cohort <= ?", month_index(end - timedelta(microseconds=1)))
    # Each customer's cohort by a hash aggregate joined back to its months: the same figures
    # as `min(month) OVER (PARTITION BY customer_id)`, without the window's sort (about 1.6x
    # faster over 200,000 activity rows). IS NOT DISTINCT FROM keeps a NULL id a customer too.
    sql = (
        f"WITH a AS (SELECT DISTINCT r.customer_id, r.month FROM {ACTIVITY.name} r"
        f"{join}{selected.sql()}), "
        "f AS (SELECT customer_id, min(month) AS cohort FROM a GROUP BY customer_id), "
        "c AS (SELECT a.month, f.cohort FROM a JOIN f "
        "ON f.customer_id IS NOT DISTINCT FROM a.customer_id) "
        f"SELECT cohort, month - cohort AS k, count(*) AS n FROM c{cohorts.sql()} "
        "GROUP BY cohort, k"
    )
    matrix: dict[int, dict[int, int]] = {}
    for row in store.query(sql, [*selected.params, *cohorts.params]):
        matrix.setdefault(int(row["cohort"]), {})[int(row["k"])] = int(row["n"])
    out = []
    for cohort in sorted(matrix):
        cells = matrix[cohort]
        size = cells[0]
        retained = [cells.get(k, 0) for k in range(int(last) - cohort + 1)]
        out.append({
            "cohort": month_label(cohort), "size": size, "retained": retained,
            "retained_pct": [round(100.0 * n / size, 2) for n in retained],
        })
    return {"cohort": "month", "activity": activity, "cohorts": out}




def owned_customers(owners: Sequence[str]) -> tuple[str, list[Any]]:
    """A subquery of the ids of the customers one of these people owns now, with its
    parameters, for other models in the analytics store (the service figures of a book)."""
    owned = Where()
    owned.one_of("owner", owners)
    return f"SELECT id FROM {CUSTOMERS.name}{owned.sql()}", owned.params
