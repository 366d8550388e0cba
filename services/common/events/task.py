"""Task events: a piece of work someone is to do for a customer by a time ("call Ada back on
Tuesday"), with an optional reminder before it is due.

A task is always of a customer, so its events carry the customer's id and travel in the
customer's partition. Its title and notes are free text about a person: they live in
`personal`, sealed under the customer's key (DESIGN.md §4).
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.common.events.envelope import CrmEvent, PersonalTextEvent

MAX_REMIND_BEFORE_S = 365 * 86_400
"""A reminder at most a year before the task is due."""


class TaskPersonal(BaseModel):
    """What a person wrote about the task: sealed under the customer's key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str | None = None
    note: str | None = None


class TaskCreated(PersonalTextEvent):
    event_type: ClassVar[str] = "crm.task.created"
    personal_fields: ClassVar[tuple[str, ...]] = ("title", "note")

    personal: TaskPersonal | None = Field(
        default=None, description="Sealed under the customer's key; null once erased.")
    assignee: str = Field(description="Who is to do it.")
    due_at: AwareDatetime = Field(description="When it is due.")
    remind_before_s: int | None = Field(
        default=None, ge=1, le=MAX_REMIND_BEFORE_S,
        description="Remind the assignee this many seconds before `due_at`; null: no reminder.")
    lead_id: UUID | None = Field(default=None, description="The lead it is about, if any.")
    ticket_id: UUID | None = Field(default=None, description="The ticket it is about, if any.")

    @property
    def title(self) -> str | None:
        return self.personal_value("title")

    @property
    def note(self) -> str | None:
        return self.personal_value("note")


class TaskCompleted(PersonalTextEvent):
    event_type: ClassVar[str] = "crm.task.completed"
    personal_fields: ClassVar[tuple[str, ...]] = ("note",)

    personal: TaskPersonal | None = Field(
        default=None, description="The outcome note, if any; sealed under the customer's key.")

    @property
    def note(self) -> str | None:
        return self.personal_value("note")


class TaskRescheduled(CrmEvent):
    event_type: ClassVar[str] = "crm.task.rescheduled"

    from_due_at: AwareDatetime
    due_at: AwareDatetime
    remind_before_s: int | None = Field(
        default=None, ge=1, le=MAX_REMIND_BEFORE_S,
        description="The reminder from now on (null: none).")


class TaskReassigned(CrmEvent):
    event_type: ClassVar[str] = "crm.task.reassigned"

    from_assignee: str
    to_assignee: str


class TaskCancelled(CrmEvent):
    event_type: ClassVar[str] = "crm.task.cancelled"


class TaskReminded(CrmEvent):
    """The task's reminder time came: its assignee was alerted (by rule `task-reminder`)."""

    event_type: ClassVar[str] = "crm.task.reminded"

    due_at: AwareDatetime = Field(description="The due time the reminder was for.")
    remind_before_s: int = Field(ge=1, le=MAX_REMIND_BEFORE_S)


class TaskOverdue(CrmEvent):
    """The task passed its due time still open (by rule `task-reminder`); once per due time."""

    event_type: ClassVar[str] = "crm.task.overdue"

    due_at: AwareDatetime = Field(description="The due time that passed.")


TASK_EVENTS: tuple[type[CrmEvent], ...] = (
    TaskCreated, TaskCompleted, TaskRescheduled, TaskReassigned, TaskCancelled, TaskReminded,
    TaskOverdue)
"""Every task event: for `ignored` in a read model that does not follow tasks."""
