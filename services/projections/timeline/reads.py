"""Every query of the timeline model: a customer's facts, newest business time first, a page at
a time — from the store, or folded in memory from events for a point-in-time view."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from services.common.times import iso_text
from services.projections.model import ConsumedEvent, Row, fold
from services.projections.stores.sql import SqlReadStore
from services.projections.timeline.projection import ENTRIES, KINDS, Kind, TimelineProjection

NAME = TimelineProjection.name
__all__ = ["KINDS", "NAME", "Cursor", "Kind", "read_timeline", "timeline_as_of"]

Cursor = tuple[str, int]
"""(occurred_at, position) of the last item of a page; the next page starts after it."""


def read_timeline(store: SqlReadStore, customer_id: str, *, limit: int = 50,
                  before: Cursor | Sequence[Any] | None = None,
                  kinds: Iterable[str] | None = None) -> tuple[list[dict[str, Any]], Cursor | None]:
    """One page of the customer's timeline, newest business time first, and the cursor of the
    next page (None on the last page).

    Keyset pagination on (occurred_at, position): a page costs one index range scan however
    deep it is, and facts recorded meanwhile never shift later pages.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    where = ["customer_id = ?"]
    params: list[Any] = [customer_id]
    if before is not None:
        at, position = iso_text(before[0]), int(before[1])
        where.append("(occurred_at < ? OR (occurred_at = ? AND position < ?))")
        params += [at, at, position]
    kind_list = sorted(set(kinds)) if kinds is not None else None
    if kind_list is not None:
        if not kind_list:
            return [], None
        where.append(f"kind IN ({', '.join('?' * len(kind_list))})")
        params += kind_list
    columns = ", ".join(ENTRIES.columns)
    found = store.query(
        f"SELECT {columns} FROM {ENTRIES.name} WHERE {' AND '.join(where)} "
        "ORDER BY occurred_at DESC, position DESC LIMIT ?", [*params, limit + 1])
    from_db = store.from_db
    items = [_item({name: from_db(kind, raw[name]) for name, kind in ENTRIES.columns.items()})
             for raw in found[:limit]]
    next_cursor = (items[-1]["occurred_at"], items[-1]["position"]) \
        if len(found) > limit else None
    return items, next_cursor


def timeline_as_of(events: Iterable[ConsumedEvent], limit: int) -> list[dict[str, Any]]:
    """The newest `limit` items of the timeline folded in memory from these events."""
    entries = fold(TimelineProjection(), events).all(ENTRIES)
    entries.sort(key=lambda row: (row["occurred_at"], row["position"]), reverse=True)
    return [_item(row) for row in entries[:limit]]


def _item(row: Row) -> dict[str, Any]:
    item = dict(row)
    item["event_id"] = item.pop("id")
    return item
