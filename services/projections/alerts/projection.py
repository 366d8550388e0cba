"""The alerts read model: every alert a rule raised, its assignees and where it stands.

An alert is raised once (`AlertRaised`, which names the people it is for), may be acknowledged,
and is resolved; the row keeps who did each and when. `alert_assignees` holds one row per
(alert, person), so "my open alerts" is an index range scan on (tenant, assignee) joined to
the alerts by primary key, however many alerts the tenant has.

Rows never hold personal data: the summary is written by the rule and names records by their
title, and notes are the short single-line remarks the acknowledge/resolve commands accept.
"""

from __future__ import annotations

from typing import ClassVar

from services.common.events.alert import AlertAcknowledged, AlertRaised, AlertResolved
from services.common.times import iso
from services.projections.model import Projection, Row, Rows, Table, events_outside, handler

ALERTS = Table("alerts", {
    "id": "text", "tenant_id": "text", "customer_id": "text", "kind": "text",
    "subject_kind": "text", "subject_id": "text", "assignees": "json",
    "summary": "text", "status": "text", "raised_at": "ts", "raised_by": "text",
    "due_at": "ts", "acknowledged_at": "ts", "acknowledged_by": "text",
    "resolved_at": "ts", "resolved_by": "text", "note": "text", "position": "int",
    "cause_event_id": "text",
}, indexes=(("tenant_id", "status", "raised_at", "position"), ("customer_id",),
            ("subject_id",)))
ASSIGNEES = Table("alert_assignees", {"id": "text", "alert_id": "text", "assignee": "text",
                                      "tenant_id": "text"},
                  indexes=(("tenant_id", "assignee"),))
ALERT = ALERTS.row("aggregate_id")


class AlertsProjection(Projection):
    """One row per alert (id = alert id), one per (alert, assignee)."""

    name: ClassVar[str] = "alerts"
    tables: ClassVar[tuple[Table, ...]] = (ALERTS, ASSIGNEES)
    ignored = events_outside("crm.alert.")
    """Everything but the alert's own events."""

    @handler
    def raised(self, rows: Rows, event: AlertRaised, position: int) -> None:
        alert_id = str(event.aggregate_id)
        rows.put(ALERTS, {
            "id": alert_id, "tenant_id": event.tenant_id, "customer_id": str(event.customer_id),
            "kind": event.kind, "subject_kind": event.subject_kind,
            "subject_id": str(event.subject_id), "assignees": list(event.assignees),
            "summary": event.summary, "status": "open", "raised_at": iso(event.occurred_at),
            "raised_by": event.actor, "due_at": iso(event.due_at) if event.due_at else None,
            "acknowledged_at": None, "acknowledged_by": None, "resolved_at": None,
            "resolved_by": None, "note": None,
            # The raise's position never changes, so it orders pages stably (see reads.py).
            "position": position,
            "cause_event_id": str(event.causation_id) if event.causation_id else None,
        })
        for assignee in event.assignees:
            rows.put(ASSIGNEES, {"id": f"{alert_id}:{assignee}", "alert_id": alert_id,
                                 "assignee": assignee, "tenant_id": event.tenant_id})

    @handler(reads=[ALERT])
    def acknowledged(self, rows: Rows, event: AlertAcknowledged, position: int) -> None:
        row = _raised(rows, event)
        rows.put(ALERTS, {**row, "status": "acknowledged",
                          "acknowledged_at": iso(event.occurred_at), "acknowledged_by": event.by,
                          "note": event.note if event.note is not None else row["note"]})

    @handler(reads=[ALERT])
    def resolved(self, rows: Rows, event: AlertResolved, position: int) -> None:
        row = _raised(rows, event)
        rows.put(ALERTS, {**row, "status": "resolved", "resolved_at": iso(event.occurred_at),
                          "resolved_by": event.by,
                          "note": event.note if event.note is not None else row["note"]})


def _raised(rows: Rows, event: AlertAcknowledged | AlertResolved) -> Row:
    row = rows.get(ALERTS, str(event.aggregate_id))
    if row is None:
        # An alert's events share its stream, so its raise always comes first: a missing row
        # means the read model lost events, and the runner's error policy should hear of it.
        raise LookupError(f"{event.event_type} for alert {event.aggregate_id}, which was never "
                          "raised in this read model")
    return row
