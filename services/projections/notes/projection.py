"""The notes read model: one row per note that was not deleted, for the customer-360 (pinned
first, newest first) and a customer's, lead's or ticket's notes.

The body is personal: each row keeps it sealed under the customer's key (`sealed`), opened by
reads.py for each answer; once the customer is erased it opens to nothing. A deleted note's
row is removed: the audit history (the event store) keeps every version and who wrote it.
"""

from __future__ import annotations

from typing import ClassVar

from services.common.events.note import NoteAdded, NoteDeleted, NoteEdited
from services.common.times import iso
from services.projections.model import Projection, Rows, Table, events_outside, handler
from services.projections.personal import seal_values

NOTES = Table("notes", {
    "id": "text", "tenant_id": "text", "customer_id": "text", "subject_kind": "text",
    "subject_id": "text", "author": "text", "pinned": "bool", "created_at": "ts",
    "edited_at": "ts", "edited_by": "text", "version": "int", "position": "int",
    "sealed": "json",
}, indexes=(("customer_id", "pinned", "created_at", "position"),
            ("subject_id", "pinned", "created_at", "position")))
NOTE = NOTES.row("aggregate_id")


class NotesProjection(Projection):
    """One row per note (id = note id)."""

    name: ClassVar[str] = "notes"
    tables: ClassVar[tuple[Table, ...]] = (NOTES,)
    holds_personal: ClassVar[bool] = True
    ignored = events_outside("crm.note.")
    """Everything but the note's own events."""

    @handler
    def added(self, rows: Rows, event: NoteAdded, position: int) -> None:
        rows.put(NOTES, {
            "id": str(event.aggregate_id), "tenant_id": event.tenant_id,
            "customer_id": str(event.customer_id), "subject_kind": event.subject_kind,
            "subject_id": str(event.subject_id), "author": event.author,
            "pinned": event.pinned, "created_at": iso(event.occurred_at), "edited_at": None,
            "edited_by": None, "version": event.aggregate_version, "position": position,
            "sealed": seal_values(self.vault, str(event.customer_id), str(event.aggregate_id),
                                  {"body": event.body}),
        })

    @handler(reads=[NOTE])
    def edited(self, rows: Rows, event: NoteEdited, position: int) -> None:
        row = rows.get(NOTES, str(event.aggregate_id))
        if row is None:
            return  # deleted before (or lost): the history keeps the edit
        changed = {**row, "edited_at": iso(event.occurred_at), "edited_by": event.actor,
                   "version": event.aggregate_version}
        if event.pinned is not None:
            changed["pinned"] = event.pinned
        if event.body is not None:
            changed["sealed"] = seal_values(self.vault, str(event.customer_id),
                                            str(event.aggregate_id), {"body": event.body})
        rows.put(NOTES, changed)

    @handler
    def deleted(self, rows: Rows, event: NoteDeleted, position: int) -> None:
        rows.delete(NOTES, str(event.aggregate_id))
