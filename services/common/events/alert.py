"""Alert events: something needs a person's attention (an overdue follow-up, an SLA breach,
a discount waiting for approval), until it is acknowledged and resolved."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

from services.common.events.envelope import CrmEvent

AlertKind = Literal["follow_up_overdue", "sla_breached", "discount_approval"]
SubjectKind = Literal["lead", "ticket", "customer"]

class AlertRaised(CrmEvent):
    event_type: ClassVar[str] = "crm.alert.raised"

    kind: AlertKind
    subject_kind: SubjectKind
    subject_id: UUID
    assignees: list[str]
    summary: str
    due_at: datetime | None = None
    """The deadline that was missed, if the alert is about one."""

class AlertAcknowledged(CrmEvent):
    event_type: ClassVar[str] = "crm.alert.acknowledged"

    subject_kind: SubjectKind
    subject_id: UUID
    by: str
    note: str | None = None

class AlertResolved(CrmEvent):
    event_type: ClassVar[str] = "crm.alert.resolved"

    subject_kind: SubjectKind
    subject_id: UUID
    by: str
    note: str | None = None
