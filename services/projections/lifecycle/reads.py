"""Every query of the lifecycle model: a customer's stage and transitions, counts per stage as of
a moment, and moves between stages in a period. Plain SQL on both dialects, and on a standalone
DuckDB replay (`at` is quoted: a keyword there)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from services.common.times import iso_text
from services.projections.lifecycle.projection import CUSTOMERS, TRANSITIONS, LifecycleProjection
from services.projections.lifecycle.stages import (
    STAGES,
    LifecycleConfig,
    Stage,
    Transition,
    stage_as_of,
)
from services.projections.model import ConsumedEvent, fold
from services.projections.stores.base import ReadStore
from services.projections.stores.sql import SqlReadStore

NAME = LifecycleProjection.name
__all__ = ["NAME", "STAGES", "LifecycleConfig", "Stage", "Transition", "customer_stage_as_of",
           "customer_transitions_as_of", "read_customer_stage", "read_customer_transitions",
           "read_lifecycle_counts", "read_lifecycle_transitions", "stage_at_sql"]


def read_customer_transitions(store: SqlReadStore, customer_id: str) -> list[Transition]:
    """Every stage change of one customer, oldest first (including a future dormant one)."""
    found = store.query(f'SELECT stage, "at" FROM {TRANSITIONS.name} WHERE customer_id = ? '
                        "ORDER BY seq", (customer_id,))
    return [(r["stage"], str(store.from_db("ts", r["at"]))) for r in found]


def read_customer_stage(store: SqlReadStore, customer_id: str,
                        as_of: datetime | str | None = None) -> str | None:
    """The customer's stage at `as_of` (default: now, the query side's clock); None if unknown.

    Reads only the customer's transition rows, so a dormant stage that has come due since the
    last event is reported without any event having arrived.
    """
    moment = iso_text(as_of if as_of is not None else datetime.now(UTC))
    return stage_as_of(read_customer_transitions(store, customer_id), moment)


def stage_at_sql(customer_id_column: str) -> str:
    """A scalar subquery giving the stage of the customer in `customer_id_column` at the moment
    bound to its one `?` (for lists that filter or show the stage)."""
    return (f"(SELECT t.stage FROM {TRANSITIONS.name} t WHERE t.customer_id = "
            f"{customer_id_column} AND t.at <= ? ORDER BY t.at DESC, t.seq DESC LIMIT 1)")


CustomerSubquery = tuple[str, list[Any]]
"""SQL selecting customer ids in the same store, and its parameters (a caller's book)."""


def read_lifecycle_counts(store: ReadStore, as_of: datetime | str, *,
                          tenant_id: str | None = None,
                          only_customers: CustomerSubquery | None = None) -> dict[str, Any]:
    """How many customers were in each stage at `as_of`: every customer's last transition at or
    before it, counted in one query."""
    moment = iso_text(as_of)
    tenant_clause = " AND tenant_id = ?" if tenant_id is not None else ""
    params: list[Any] = [moment] + ([tenant_id] if tenant_id is not None else [])
    if only_customers is not None:
        tenant_clause += f" AND customer_id IN ({only_customers[0]})"
        params += only_customers[1]
    table = TRANSITIONS.name
    found = store.query(
        f"SELECT t.stage AS stage, COUNT(*) AS n FROM {table} t JOIN ("
        f" SELECT customer_id, MAX(seq) AS seq FROM {table}"
        f' WHERE "at" <= ?{tenant_clause} GROUP BY customer_id'
        ") latest ON t.customer_id = latest.customer_id AND t.seq = latest.seq GROUP BY t.stage",
        params)
    counts = dict.fromkeys(STAGES, 0)
    for r in found:
        counts[r["stage"]] = int(r["n"])
    return {"as_of": moment, "counts": counts}


def read_lifecycle_transitions(store: ReadStore, start: datetime | str, end: datetime | str, *,
                               tenant_id: str | None = None,
                               only_customers: CustomerSubquery | None = None
                               ) -> dict[str, Any]:
    """How many customers moved from one stage to another in [start, end).

    A customer's first appearance counts as `from: None` → `prospect`.
    """
    low, high = iso_text(start), iso_text(end)
    tenant_clause = " AND tenant_id = ?" if tenant_id is not None else ""
    params: list[Any] = [low, high] + ([tenant_id] if tenant_id is not None else [])
    if only_customers is not None:
        tenant_clause += f" AND customer_id IN ({only_customers[0]})"
        params += only_customers[1]
    found = store.query(
        f"SELECT from_stage, stage, COUNT(*) AS n FROM {TRANSITIONS.name}"
        f' WHERE "at" >= ? AND "at" < ?{tenant_clause} GROUP BY from_stage, stage', params)
    items = sorted(({"from": r["from_stage"], "to": r["stage"], "count": int(r["n"])}
                    for r in found), key=lambda item: (item["from"] or "", item["to"]))
    return {"start": low, "end": high, "transitions": items}


def customer_transitions_as_of(events: Iterable[ConsumedEvent], customer_id: str,
                               config: LifecycleConfig | None = None) -> list[Transition]:
    """A customer's transitions folded in memory from its events (point-in-time views)."""
    row = fold(LifecycleProjection(config), events).get(CUSTOMERS, customer_id)
    return [(t[0], t[1]) for t in row["transitions"]] if row else []


def customer_stage_as_of(events: Iterable[ConsumedEvent], customer_id: str,
                         moment: datetime | str, config: LifecycleConfig | None = None,
                         ) -> str | None:
    """The customer's stage at `moment`, folded in memory from its events."""
    return stage_as_of(customer_transitions_as_of(events, customer_id, config), moment)
