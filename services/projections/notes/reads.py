"""Every query of the notes model, in either SQL dialect: a customer's notes (or a lead's or a
ticket's), pinned first, then newest first, a page at a time — from the store, or folded in
memory from events for a point-in-time view."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from services.common.privacy.vault import PersonalDataVault
from services.common.times import iso_text
from services.projections.model import ConsumedEvent, Row, fold
from services.projections.notes.projection import NOTES, NotesProjection
from services.projections.personal import open_values
from services.projections.stores.sql import SqlReadStore

NAME = NotesProjection.name

IN_DOCUMENT = 20
"""Notes the customer-360 shows (pinned first, then newest); it counts them all."""
Cursor = tuple[bool, str, int]
"""(pinned, created_at, position) of the last note of a page; the next page starts after it."""

_COLUMNS = tuple(NOTES.columns)


def read_notes(store: SqlReadStore, *, customer_id: str | None = None,
               subject_id: str | None = None, limit: int = IN_DOCUMENT,
               after: Cursor | Sequence[Any] | None = None,
               vault: PersonalDataVault | None = None,
               ) -> tuple[list[dict[str, Any]], Cursor | None]:
    """One page of the notes of a customer (every note on it, its leads and its tickets) or of
    one subject, pinned first, then newest business time first; and the next page's cursor."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if (customer_id is None) == (subject_id is None):
        raise ValueError("give customer_id or subject_id")
    column, value = ("customer_id", customer_id) if customer_id else ("subject_id", subject_id)
    conditions: list[str] = [f"{column} = ?"]
    params: list[Any] = [value]
    if after is not None:
        pinned, at, position = bool(after[0]), iso_text(after[1]), int(after[2])
        conditions.append("(pinned < ? OR (pinned = ? AND (created_at < ? OR "
                          "(created_at = ? AND position < ?))))")
        params += [_flag(store, pinned), _flag(store, pinned), at, at, position]
    found = store.query(
        f"SELECT {', '.join(_COLUMNS)} FROM {NOTES.name} WHERE {' AND '.join(conditions)} "
        "ORDER BY pinned DESC, created_at DESC, position DESC LIMIT ?", [*params, limit + 1])
    rows = [{name: store.from_db(NOTES.columns[name], raw[name]) for name in _COLUMNS}
            for raw in found[:limit]]
    following = (rows[-1]["pinned"], rows[-1]["created_at"], rows[-1]["position"]) \
        if len(found) > limit else None
    return [note_item(row, vault) for row in rows], following


def _flag(store: SqlReadStore, value: bool) -> Any:
    return value if store.dialect == "postgres" else int(value)


def customer_notes(store: SqlReadStore, customer_id: str, *,
                   vault: PersonalDataVault | None = None) -> dict[str, Any]:
    """The customer's notes for its customer-360: how many (and pinned), and the first
    `IN_DOCUMENT`, pinned first."""
    counted = store.query(
        f"SELECT COUNT(*) AS n, SUM(CASE WHEN pinned THEN 1 ELSE 0 END) AS pinned "
        f"FROM {NOTES.name} WHERE customer_id = ?", [customer_id])
    items, _ = read_notes(store, customer_id=customer_id, vault=vault)
    head = counted[0] if counted else {}
    return {"count": int(head.get("n") or 0), "pinned": int(head.get("pinned") or 0),
            "items": items}


def customer_notes_as_of(events: Iterable[ConsumedEvent], customer_id: str) -> dict[str, Any]:
    """The same part of the document folded in memory from the customer's events."""
    rows = [row for row in fold(NotesProjection(), events).all(NOTES)
            if row["customer_id"] == customer_id]
    rows.sort(key=lambda row: (row["pinned"], row["created_at"], row["position"]), reverse=True)
    return {"count": len(rows), "pinned": sum(1 for row in rows if row["pinned"]),
            "items": [note_item(row, None) for row in rows[:IN_DOCUMENT]]}


def note_item(row: Row, vault: PersonalDataVault | None) -> dict[str, Any]:
    """A note as the API serves it: its body opened (None once the customer is erased)."""
    values = open_values(vault, row["customer_id"], row["id"], row["sealed"]) or {}
    return {"note_id": row["id"], "customer_id": row["customer_id"],
            "subject_kind": row["subject_kind"], "subject_id": row["subject_id"],
            "body": values.get("body"), "pinned": row["pinned"], "author": row["author"],
            "created_at": row["created_at"], "edited_at": row["edited_at"],
            "edited_by": row["edited_by"], "version": row["version"],
            "position": row["position"]}


def customer_notes_all(events: Iterable[ConsumedEvent]) -> list[dict[str, Any]]:
    """Every note of these events that was not deleted, oldest first (the subject export)."""
    rows = sorted(fold(NotesProjection(), events).all(NOTES),
                  key=lambda row: (row["created_at"], row["position"]))
    return [note_item(row, None) for row in rows]
