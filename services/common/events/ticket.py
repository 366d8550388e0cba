"""Ticket events: a customer's service request and its way to resolution."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.common.events.envelope import CrmEvent, PersonalTextEvent

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")
"""Every priority, least urgent first: raising a priority moves one step along."""
TicketStatus = Literal["open", "pending", "resolved", "closed", "reopened"]
OPEN_TICKET_STATUSES: frozenset[str] = frozenset({"open", "pending", "reopened"})
"""Statuses in which a ticket still needs the team."""


class CommentPersonal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    body: str


class TicketPersonal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str | None = None


class ReasonPersonal(BaseModel):
    """A reason a person wrote (free text): sealed under the customer's key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str | None = None


class ReasonEvent(PersonalTextEvent):
    """v2 of an event with a free-text `reason`, now in `personal`."""

    schema_version: ClassVar[int] = 2
    personal_fields: ClassVar[tuple[str, ...]] = ("reason",)

    personal: ReasonPersonal | None = None

    @property
    def reason(self) -> str | None:
        return self.personal_value("reason")


class TicketOpened(PersonalTextEvent):
    """v2: the subject is in `personal`, sealed under the customer's key."""

    event_type: ClassVar[str] = "crm.ticket.opened"
    schema_version: ClassVar[int] = 2
    personal_fields: ClassVar[tuple[str, ...]] = ("subject",)

    personal: TicketPersonal | None = None
    priority: Priority
    channel: str | None = None
    assignee: str | None = None
    lead_id: UUID | None = None
    external_ref: str | None = None

    @property
    def subject(self) -> str | None:
        return self.personal_value("subject")


class TicketAssigned(CrmEvent):
    event_type: ClassVar[str] = "crm.ticket.assigned"

    from_assignee: str | None
    to_assignee: str


class TicketStatusChanged(ReasonEvent):
    event_type: ClassVar[str] = "crm.ticket.status_changed"

    from_status: TicketStatus
    to_status: TicketStatus


class TicketCommentAdded(CrmEvent):
    event_type: ClassVar[str] = "crm.ticket.comment_added"
    schema_version: ClassVar[int] = 2
    """v2: `personal` is sealed under the customer's key in the store and on the topic."""

    comment_id: UUID
    author: str
    author_type: Literal["agent", "customer"]
    public: bool = True
    personal: CommentPersonal | None = Field(
        default=None, description="Sealed under the customer's key; null once erased.")

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """v1 held `personal` in plain text; the values are the same."""


class TicketFirstResponded(CrmEvent):
    event_type: ClassVar[str] = "crm.ticket.first_responded"

    responded_by: str
    response_seconds: float = Field(ge=0)


class TicketSlaBreached(CrmEvent):
    event_type: ClassVar[str] = "crm.ticket.sla_breached"

    sla: Literal["first_response", "resolution"]
    priority: Priority
    target_seconds: int = Field(ge=0)
    deadline: datetime


class TicketPriorityChanged(ReasonEvent):
    event_type: ClassVar[str] = "crm.ticket.priority_changed"

    from_priority: Priority
    to_priority: Priority
