"""Alert events: something needs a person's attention (an overdue follow-up, an SLA breach,
a discount waiting for approval, a task's reminder or its passed due time), until it is
acknowledged and resolved."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

from services.common.events.envelope import CrmEvent

AlertKind = Literal["follow_up_overdue", "sla_breached", "discount_approval", "task_reminder",
                    "task_overdue"]
SubjectKind = Literal["lead", "ticket", "customer", "task"]


class AlertRaised(CrmEvent):
    event_type: ClassVar[str] = "crm.alert.raised"
    schema_version: ClassVar[int] = 2
    """v2: the kinds `task_reminder` and `task_overdue`, and tasks as subjects."""

    kind: AlertKind
    subject_kind: SubjectKind
    subject_id: UUID
    assignees: list[str]
    summary: str
    due_at: datetime | None = None
    """The deadline that was missed, if the alert is about one."""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Every v1 kind and subject kind is still one of v2."""


class AlertAcknowledged(CrmEvent):
    event_type: ClassVar[str] = "crm.alert.acknowledged"
    schema_version: ClassVar[int] = 2
    """v2: tasks as subjects."""

    subject_kind: SubjectKind
    subject_id: UUID
    by: str
    note: str | None = None

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Every v1 subject kind is still one of v2."""


class AlertResolved(CrmEvent):
    event_type: ClassVar[str] = "crm.alert.resolved"
    schema_version: ClassVar[int] = 2
    """v2: tasks as subjects."""

    subject_kind: SubjectKind
    subject_id: UUID
    by: str
    note: str | None = None

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Every v1 subject kind is still one of v2."""
