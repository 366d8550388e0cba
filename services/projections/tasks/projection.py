"""The tasks read model: one row per task, for "my tasks due this week" and a customer's open
tasks.

A task's title and notes are personal: each row keeps them sealed under the customer's key
(`sealed`: title and note; `outcome`: the note given on completion), opened by reads.py for
each answer. Once the customer is erased they open to nothing, and `tasks_erased_customers`
keeps their tasks out of every list (an erased customer's records accept no command, so
their open tasks could never be closed).
"""

from __future__ import annotations

from typing import Any, ClassVar

from services.common.events.customer import CustomerErased
from services.common.events.envelope import CrmEvent
from services.common.events.task import (
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskOverdue,
    TaskReassigned,
    TaskReminded,
    TaskRescheduled,
)
from services.common.times import iso
from services.projections.model import Projection, Rows, Table, events_outside, handler
from services.projections.personal import seal_values

TASKS = Table("tasks", {
    "id": "text", "tenant_id": "text", "customer_id": "text", "lead_id": "text",
    "ticket_id": "text", "assignee": "text", "created_by": "text", "status": "text",
    "due_at": "ts", "remind_before_s": "int", "reminded_at": "ts", "overdue_at": "ts",
    "created_at": "ts", "closed_at": "ts", "closed_by": "text", "updated_at": "ts",
    "version": "int", "position": "int", "sealed": "json", "outcome": "json",
}, indexes=(("tenant_id", "status", "due_at", "id"),
            ("tenant_id", "assignee", "status", "due_at", "id"),
            ("customer_id", "status", "due_at", "id"), ("lead_id",), ("ticket_id",)))
"""`reminded_at` and `overdue_at`: when the rule recorded the reminder and the passed due time
of the current due time (cleared by a reschedule)."""
ERASED = Table("tasks_erased_customers", {"id": "text", "tenant_id": "text"})
TASK = TASKS.row("aggregate_id")


class TasksProjection(Projection):
    """One row per task (id = task id)."""

    name: ClassVar[str] = "tasks"
    tables: ClassVar[tuple[Table, ...]] = (TASKS, ERASED)
    holds_personal: ClassVar[bool] = True
    ignored = events_outside("crm.task.") - {CustomerErased}
    """Everything but the task's own events and the erasure of its customer."""

    def _sealed(self, event: CrmEvent, values: dict[str, Any]) -> Any:
        return seal_values(self.vault, str(event.customer_id), str(event.aggregate_id), values)

    @handler
    def created(self, rows: Rows, event: TaskCreated, position: int) -> None:
        rows.put(TASKS, {
            "id": str(event.aggregate_id), "tenant_id": event.tenant_id,
            "customer_id": str(event.customer_id),
            "lead_id": str(event.lead_id) if event.lead_id else None,
            "ticket_id": str(event.ticket_id) if event.ticket_id else None,
            "assignee": event.assignee, "created_by": event.actor, "status": "open",
            "due_at": iso(event.due_at), "remind_before_s": event.remind_before_s,
            "reminded_at": None, "overdue_at": None, "created_at": iso(event.occurred_at),
            "closed_at": None, "closed_by": None, "updated_at": iso(event.recorded_at),
            "version": event.aggregate_version, "position": position,
            "sealed": self._sealed(event, {"title": event.title, "note": event.note}),
            "outcome": None,
        })

    @handler(reads=[TASK])
    def completed(self, rows: Rows, event: TaskCompleted, position: int) -> None:
        _change(rows, event, status="completed", closed_at=iso(event.occurred_at),
                closed_by=event.actor, outcome=self._sealed(event, {"note": event.note}))

    @handler(reads=[TASK])
    def cancelled(self, rows: Rows, event: TaskCancelled, position: int) -> None:
        _change(rows, event, status="cancelled", closed_at=iso(event.occurred_at),
                closed_by=event.actor)

    @handler(reads=[TASK])
    def rescheduled(self, rows: Rows, event: TaskRescheduled, position: int) -> None:
        _change(rows, event, due_at=iso(event.due_at), remind_before_s=event.remind_before_s,
                reminded_at=None, overdue_at=None)

    @handler(reads=[TASK])
    def reassigned(self, rows: Rows, event: TaskReassigned, position: int) -> None:
        _change(rows, event, assignee=event.to_assignee)

    @handler(reads=[TASK])
    def reminded(self, rows: Rows, event: TaskReminded, position: int) -> None:
        _change(rows, event, reminded_at=iso(event.occurred_at))

    @handler(reads=[TASK])
    def overdue(self, rows: Rows, event: TaskOverdue, position: int) -> None:
        _change(rows, event, overdue_at=iso(event.occurred_at))

    @handler
    def customer_erased(self, rows: Rows, event: CustomerErased, position: int) -> None:
        for customer_id in (event.customer_id, *event.erased_customer_ids):
            rows.put(ERASED, {"id": str(customer_id), "tenant_id": event.tenant_id})


def _change(rows: Rows, event: CrmEvent, **changes: Any) -> None:
    row = rows.get(TASKS, str(event.aggregate_id))
    if row is None:
        # A task's events share its stream, so its creation always comes first: a missing row
        # means the read model lost events, and the runner's error policy should hear of it.
        raise LookupError(f"{event.event_type} for task {event.aggregate_id}, which this read "
                          "model never saw created")
    rows.put(TASKS, {**row, **changes, "version": event.aggregate_version,
                     "updated_at": iso(event.recorded_at)})
