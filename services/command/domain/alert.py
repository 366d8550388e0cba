"""Alert: a request for a person's attention, raised by a rule, acknowledged and resolved."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from services.command.domain.aggregate import AggregateRoot, CommandContext
from services.command.domain.errors import RuleViolation
from services.common.events.alert import (
    AlertAcknowledged,
    AlertKind,
    AlertRaised,
    AlertResolved,
    SubjectKind,
)

_ALERT_NAMESPACE = UUID("5b0b8c1e-8f5a-4d53-9a52-7d7d4f3c2a10")


def alert_id_for(decision_key: str) -> UUID:
    """The same decision always raises the same alert (a re-issued command cannot add one)."""
    return uuid5(_ALERT_NAMESPACE, decision_key)


class Alert(AggregateRoot):
    kind = "alert"
    created_by = AlertRaised

    status: str  # open | acknowledged | resolved
    subject_kind: SubjectKind
    subject_id: UUID
    assignees: tuple[str, ...]

    @classmethod
    def raise_alert(
        cls, alert_id: UUID, ctx: CommandContext, *, customer_id: UUID, kind: AlertKind,
        subject_kind: SubjectKind, subject_id: UUID, assignees: list[str], summary: str,
        due_at: datetime | None = None,
    ) -> Alert:
        people = list(dict.fromkeys(a for a in assignees if a))
        if not people:
            raise RuleViolation("alert_needs_assignee", "an alert needs at least one person")
        alert = cls(alert_id)
        alert._record(AlertRaised, ctx, customer_id=customer_id, kind=kind,
                      subject_kind=subject_kind, subject_id=subject_id, assignees=people,
                      summary=summary, due_at=due_at)
        return alert

    def acknowledge(self, ctx: CommandContext, note: str | None) -> None:
        if self.status != "open":
            raise RuleViolation(f"alert_{self.status}", f"the alert is already {self.status}",
                                status=self.status)
        self._record(AlertAcknowledged, ctx, subject_kind=self.subject_kind,
                     subject_id=self.subject_id, by=ctx.actor, note=note)

    def resolve(self, ctx: CommandContext, note: str | None) -> None:
        if self.status == "resolved":
            raise RuleViolation("alert_resolved", "the alert is already resolved",
                                status=self.status)
        self._record(AlertResolved, ctx, subject_kind=self.subject_kind,
                     subject_id=self.subject_id, by=ctx.actor, note=note)

    def _when_AlertRaised(self, event: AlertRaised) -> None:
        self._when_created(event)
        self.status = "open"
        self.subject_kind, self.subject_id = event.subject_kind, event.subject_id
        self.assignees = tuple(event.assignees)

    def _when_AlertAcknowledged(self, event: AlertAcknowledged) -> None:
        self.status = "acknowledged"

    def _when_AlertResolved(self, event: AlertResolved) -> None:
        self.status = "resolved"
