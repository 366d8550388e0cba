"""Note events: free text a person writes on a customer, a lead or a ticket, edited and deleted
by its author (or an admin). The body is about a person: it lives in `personal`, sealed under
the customer's key (DESIGN.md §4)."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.common.events.envelope import CrmEvent, PersonalTextEvent

NoteSubject = Literal["customer", "lead", "ticket"]
MAX_NOTE_CHARS = 10_000


class NotePersonal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    body: str | None = None


class NoteAdded(PersonalTextEvent):
    event_type: ClassVar[str] = "crm.note.added"
    personal_fields: ClassVar[tuple[str, ...]] = ("body",)

    subject_kind: NoteSubject = Field(description="What the note is on.")
    subject_id: UUID = Field(description="The customer, lead or ticket it is on.")
    author: str
    pinned: bool = False
    personal: NotePersonal | None = Field(
        default=None, description="Sealed under the customer's key; null once erased.")

    @property
    def body(self) -> str | None:
        return self.personal_value("body")


class NoteEdited(PersonalTextEvent):
    """Only what changed is set: the body, whether it is pinned, or both."""

    event_type: ClassVar[str] = "crm.note.edited"
    personal_fields: ClassVar[tuple[str, ...]] = ("body",)

    pinned: bool | None = None
    personal: NotePersonal | None = Field(
        default=None, description="The new body, if it changed; sealed under the customer's key.")

    @property
    def body(self) -> str | None:
        return self.personal_value("body")


class NoteDeleted(CrmEvent):
    """The note is withdrawn; its earlier events stay in the log (the audit history)."""

    event_type: ClassVar[str] = "crm.note.deleted"


NOTE_EVENTS: tuple[type[CrmEvent], ...] = (NoteAdded, NoteEdited, NoteDeleted)
"""Every note event: for `ignored` in a read model that does not follow notes."""
