"""Note: free text its author writes on a customer, a lead or a ticket.

Each note is an aggregate of its own, not events on the customer, lead or ticket it is on.
Many people write notes on one customer, and edit them later: on the customer's stream every
note would move the customer's version, so two notes written at once would race each other,
and a profile change made with `If-Match` would be refused because someone wrote a note
meanwhile. As its own stream a note conflicts only with changes to that same note (its
version is what `expected_version` names), and creating one touches only the customer's file
(services/common/events/filing.py), never the customer's version.

Only its author edits or deletes it; an admin may too (the permission table's `notes.edit`
scope: `own` for every role but admin, whose scope is the tenant). The body is never kept in
this state (aggregates are cached in memory): a keyed fingerprint tells whether an edit
changes it.
"""

from __future__ import annotations

import hmac
import os
from uuid import UUID

from services.command.domain.aggregate import AggregateRoot, CommandContext
from services.command.domain.errors import RuleViolation
from services.common.events.note import NoteAdded, NoteDeleted, NoteEdited, NoteSubject

_FINGERPRINT_KEY = os.urandom(32)
"""Per process: fingerprints are compared within one process only, and mean nothing outside."""


def _fingerprint(body: str | None) -> bytes:
    return hmac.digest(_FINGERPRINT_KEY, (body or "").encode(), "sha256")


class Note(AggregateRoot):
    kind = "note"
    created_by = NoteAdded

    subject_kind: NoteSubject
    subject_id: UUID
    author: str
    pinned: bool
    deleted: bool
    body_fingerprint: bytes

    @classmethod
    def add(cls, note_id: UUID, ctx: CommandContext, *, customer_id: UUID,
            subject_kind: NoteSubject, subject_id: UUID, body: str, pinned: bool) -> Note:
        if not body.strip():
            raise RuleViolation("empty_note", "a note needs some text")
        note = cls(note_id)
        note._record(NoteAdded, ctx, customer_id=customer_id, subject_kind=subject_kind,
                     subject_id=subject_id, author=ctx.actor, pinned=pinned, body=body)
        return note

    def edit(self, ctx: CommandContext, *, body: str | None, pinned: bool | None) -> None:
        """Change the body, whether the note is pinned, or both; only what differs is recorded."""
        self._refuse_if_deleted()
        if body is not None and not body.strip():
            raise RuleViolation("empty_note", "a note needs some text")
        new_body = body if body is not None and _fingerprint(body) != self.body_fingerprint \
            else None
        new_pinned = pinned if pinned is not None and pinned != self.pinned else None
        if new_body is None and new_pinned is None:
            raise RuleViolation("no_change", "the note already reads so")
        self._record(NoteEdited, ctx, body=new_body, pinned=new_pinned)

    def delete(self, ctx: CommandContext) -> None:
        self._refuse_if_deleted()
        self._record(NoteDeleted, ctx)

    def _refuse_if_deleted(self) -> None:
        if self.deleted:
            raise RuleViolation("note_deleted", "the note was deleted")

    # -- state --------------------------------------------------------------------------------

    def _when_NoteAdded(self, event: NoteAdded) -> None:
        self._when_created(event)
        self.subject_kind, self.subject_id = event.subject_kind, event.subject_id
        self.author = event.author
        self.pinned = event.pinned
        self.deleted = False
        self.body_fingerprint = _fingerprint(event.body)

    def _when_NoteEdited(self, event: NoteEdited) -> None:
        if event.personal is not None and event.body is not None:
            self.body_fingerprint = _fingerprint(event.body)
        if event.pinned is not None:
            self.pinned = event.pinned

    def _when_NoteDeleted(self, event: NoteDeleted) -> None:
        self.deleted = True
