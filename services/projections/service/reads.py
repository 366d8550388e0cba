"""The service figures, computed at query time in DuckDB SQL over the service model.

The analytics figures, computed at query time in DuckDB SQL over the analytics read models.

Every figure uses business time (`occurred_at` of the events), never load time. Every
function takes `tenant_id` (None: all tenants) and `start`/`end` (a half-open business-time
range `[start, end)`; None: unbounded). Quantiles are DuckDB's `quantile_cont` (linear
interpolation between the two nearest ranks: position `q * (n - 1)` of the sorted values);
a quantile of no values is None. Durations are seconds.

**Service** (`service`), over the tickets opened in `[start, end)` (filters `channel`,
current `assignee`), by priority (urgent, high, normal, low, then any other) and overall:

- `tickets`: tickets opened; `responded`, `resolved`: those with a first response / resolution.
- `first_response_s`: TicketFirstResponded's `response_seconds` (the domain records it with the
  first public agent comment or the first move to pending or resolved); p50/p90/p99 over the
  tickets that have one.
- `resolution_s`: opened → the first move to `resolved` (a reopened ticket keeps its first
  resolution); p50/p90/p99 over the resolved tickets.
- `sla_breach_rate`: breached tickets / tickets, None when no tickets. A ticket is breached
  when a TicketSlaBreached event was recorded for it, or its first response took longer than
  the priority's first-response target, or its resolution longer than the resolution target
  (`sla_targets`; default `DEFAULT_SLA_TARGETS`: urgent 1 h / 8 h, high 4 h / 24 h,
  normal 24 h / 72 h, low 72 h / 168 h). A ticket still waiting past its deadline counts once
  the SLA rule has recorded TicketSlaBreached for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.common.events.ticket import PRIORITIES
from services.projections.query_parts import Where, quantiles, sorted_keys
from services.projections.retention import reads as retention
from services.projections.service.projection import TICKETS, ServiceProjection
from services.projections.stores.base import ReadStore

NAME = ServiceProjection.name

@dataclass(frozen=True)
class SlaTarget:
    """Longest acceptable first response and resolution of a ticket, in seconds."""

    first_response_s: float
    resolution_s: float


_HOUR = 3600.0
DEFAULT_SLA_TARGETS: Mapping[str, SlaTarget] = {
    "urgent": SlaTarget(1 * _HOUR, 8 * _HOUR),
    "high": SlaTarget(4 * _HOUR, 24 * _HOUR),
    "normal": SlaTarget(24 * _HOUR, 72 * _HOUR),
    "low": SlaTarget(72 * _HOUR, 168 * _HOUR),
}
URGENT_FIRST: tuple[str, ...] = tuple(reversed(PRIORITIES))
_PERCENTILES = ("p50", "p90", "p99")


def read_service(
    store: ReadStore, *, start: datetime | None = None, end: datetime | None = None,
    tenant_id: str | None = None, channel: str | None = None, assignee: str | None = None,
    sla_targets: Mapping[str, SlaTarget] = DEFAULT_SLA_TARGETS,
    customer_owners: Sequence[str] | None = None,
) -> dict[str, Any]:
    """First response and resolution percentiles and SLA breach rate (module docstring);
    `customer_owners`: only tickets of customers one of these people owns now (a caller's
    book; the owner as the retention model keeps it, in the same analytics store)."""
    where = Where()
    where.equal("tenant_id", tenant_id)
    where.range("opened_at", start, end)
    where.equal("channel", channel)
    where.equal("assignee", assignee)
    if customer_owners is not None:
        owned, owned_params = retention.owned_customers(customer_owners)
        where.add(f"customer_id IN ({owned})", *owned_params)
    target_params: list[Any] = []
    cases = []
    for attribute in ("first_response_s", "resolution_s"):
        if sla_targets:
            whens = " ".join("WHEN ? THEN ?" for _ in sla_targets)
            cases.append(f"CASE priority {whens} END")
            for priority, target in sla_targets.items():
                target_params += [priority, float(getattr(target, attribute))]
        else:
            cases.append("CAST(NULL AS DOUBLE)")
    breached = ("sla_breached OR coalesce(first_response_s > fr_target, false) "
                "OR coalesce(resolution_s > res_target, false)")
    sql = (
        "SELECT priority, GROUPING(priority) AS total, count(*) AS tickets, "
        "count(first_response_s) AS responded, count(resolution_s) AS resolved, "
        "quantile_cont(first_response_s, [0.5, 0.9, 0.99]) AS fr, "
        "quantile_cont(resolution_s, [0.5, 0.9, 0.99]) AS res, "
        f"count(*) FILTER (WHERE {breached}) AS breached "
        f"FROM (SELECT priority, first_response_s, resolution_s, sla_breached, "
        f"{cases[0]} AS fr_target, {cases[1]} AS res_target FROM {TICKETS.name}{where.sql()}) "
        "GROUP BY GROUPING SETS ((priority), ())"
    )
    found = {(int(r["total"]), r["priority"]): r
             for r in store.query(sql, [*target_params, *where.params])}
    others = sorted_keys({p for total, p in found if total == 0 and p not in URGENT_FIRST})
    return {
        "by_priority": [{"priority": p, **_service_figures(found.get((0, p)))}
                        for p in (*URGENT_FIRST, *others)],
        "overall": _service_figures(found.get((1, None))),
    }


def _service_figures(row: Mapping[str, Any] | None) -> dict[str, Any]:
    row = row or {}
    tickets = int(row.get("tickets") or 0)
    return {
        "tickets": tickets,
        "responded": int(row.get("responded") or 0),
        "resolved": int(row.get("resolved") or 0),
        "first_response_s": quantiles(row.get("fr"), _PERCENTILES),
        "resolution_s": quantiles(row.get("res"), _PERCENTILES),
        "sla_breach_rate": int(row.get("breached") or 0) / tickets if tickets else None,
    }
