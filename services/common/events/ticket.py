"""Ticket events: a customer's service request and its way to resolution."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.common.events.envelope import CrmEvent

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")
"""Every priority, least urgent first: raising a priority moves one step along."""
TicketStatus = Literal["open", "pending", "resolved", "closed", "reopened"]
OPEN_TICKET_STATUSES: frozenset[str] = frozenset({"open", "pending", "reopened"})
"""Statuses in which a ticket still needs the team."""


class CommentPersonal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    body: str


class TicketOpened(CrmEvent):
    event_type: ClassVar[str] = "crm.ticket.opened"

    subject: str
    priority: Priority
    channel: str | None = None
    assignee: str | None = None
    lead_id: UUID | None = None
    external_ref: str | None = None


class TicketAssigned(CrmEvent):
    event_type: ClassVar[str] = "crm.ticket.assigned"

    from_assignee: str | None
    to_assignee: str


class TicketStatusChanged(CrmEvent):
    event_type: ClassVar[str] = "crm.ticket.status_changed"

    from_status: TicketStatus
    to_status: TicketStatus
    reason: str | None = None


class TicketCommentAdded(CrmEvent):
    event_type: ClassVar[str] = "crm.ticket.comment_added"

    comment_id: UUID
    author: str
    author_type: Literal["agent", "customer"]
    public: bool = True
    personal: CommentPersonal


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


class TicketPriorityChanged(CrmEvent):
    event_type: ClassVar[str] = "crm.ticket.priority_changed"

    from_priority: Priority
    to_priority: Priority
    reason: str | None = None
