"""Every query of the timeline model: a customer's facts, newest business time first, a page at
a time — from the store, or folded in memory from events for a point-in-time view."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from services.common.privacy.vault import PersonalDataVault
from services.common.times import iso_text
from services.projections.model import ConsumedEvent, Row, fold
from services.projections.personal import ERASED, open_values
from services.projections.stores.sql import SqlReadStore
from services.projections.timeline.projection import (
    ENTRIES,
    KINDS,
    RECORDS,
    Kind,
    TimelineProjection,
)

NAME = TimelineProjection.name
__all__ = ["KINDS", "NAME", "Cursor", "Kind", "read_timeline", "timeline_as_of"]

Cursor = tuple[str, int]
"""(occurred_at, position) of the last item of a page; the next page starts after it."""


def read_timeline(store: SqlReadStore, customer_id: str, *, limit: int = 50,
                  before: Cursor | Sequence[Any] | None = None,
                  kinds: Iterable[str] | None = None,
                  vault: PersonalDataVault | None = None, withhold_personal: bool = False,
                  ) -> tuple[list[dict[str, Any]], Cursor | None]:
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
    rows = [{name: from_db(kind, raw[name]) for name, kind in ENTRIES.columns.items()}
            for raw in found[:limit]]
    items = _opened(rows, customer_id, vault, lambda ids: _stored_records(store, ids),
                    withhold_personal)
    next_cursor = (items[-1]["occurred_at"], items[-1]["position"]) \
        if len(found) > limit else None
    return items, next_cursor


def timeline_as_of(events: Iterable[ConsumedEvent], limit: int,
                   withhold_personal: bool = False) -> list[dict[str, Any]]:
    """The newest `limit` items of the timeline folded in memory from these events."""
    folded = fold(TimelineProjection(), events)
    entries = folded.all(ENTRIES)
    entries.sort(key=lambda row: (row["occurred_at"], row["position"]), reverse=True)
    records = {row["id"]: row for row in folded.all(RECORDS)}
    page = entries[:limit]
    customer_id = page[0]["customer_id"] if page else ""
    return _opened(page, customer_id, None,
                   lambda ids: [records[i] for i in ids if i in records], withhold_personal)


_MARKER = re.compile("\u27e8([0-9a-f-]{36})\\.([a-z_]+)\u27e9")
WITHHELD = "[withheld]"


def _opened(rows: list[Row], customer_id: str, vault: PersonalDataVault | None,
            records_of: Callable[[list[str]], list[Row]],
            withhold_personal: bool = False) -> list[dict[str, Any]]:
    """The items: each summary's markers replaced by the values sealed in its entry or in the
    record it names (services/projections/timeline/projection.py RECORDS) — or, for a reader
    whose roles withhold personal data, by "[withheld]", nothing opened."""
    if withhold_personal:
        return [{**{k: v for k, v in row.items() if k not in ("id", "sealed")},
                 "summary": _MARKER.sub(WITHHELD, row["summary"]), "event_id": row["id"]}
                for row in rows]
    wanted = sorted({found.group(1) for row in rows for found in _MARKER.finditer(row["summary"])}
                    - {row["id"] for row in rows})
    record_values = {record["id"]: _record_values(vault, customer_id, record)
                     for record in records_of(wanted)}
    items = []
    for row in rows:
        item = dict(row)
        own = open_values(vault, customer_id, row["id"], item.pop("sealed", None))

        def value(found: re.Match[str], own: dict[str, Any] | None = own,
                  entry_id: str = row["id"]) -> str:
            context, field = found.group(1), found.group(2)
            values = own if context == entry_id else record_values.get(context)
            text = values.get(field) if values else None
            return str(text) if text is not None else ERASED

        item["summary"] = _MARKER.sub(value, item["summary"])
        item["event_id"] = item.pop("id")
        items.append(item)
    return items


def _record_values(vault: PersonalDataVault | None, customer_id: str,
                   record: Row) -> dict[str, Any] | None:
    """The values a record's markers read: its sealed ones; a record that keeps none but a
    title (a deleted note) reads its title."""
    if record.get("sealed") is None and record.get("title"):
        return {"title": record["title"]}
    return open_values(vault, customer_id, record["id"], record["sealed"])


def _stored_records(store: SqlReadStore, ids: list[str]) -> list[Row]:
    if not ids:
        return []
    found = store.query(f"SELECT id, title, sealed FROM {RECORDS.name} WHERE id IN "
                        f"({', '.join('?' * len(ids))})", ids)
    return [{"id": row["id"], "title": row["title"],
             "sealed": store.from_db("json", row["sealed"])} for row in found]
