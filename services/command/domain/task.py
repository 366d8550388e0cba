"""Task: work someone is to do for a customer by a due time, with an optional reminder.

A task is open until it is completed or cancelled; either closes it for good. While open it
may be rescheduled and reassigned. The task-reminder rule records `TaskReminded` when the
reminder time comes and `TaskOverdue` when the due time passes — each once per due time, so
rescheduling starts both again.

A task's title and notes are personal: they are written into its events (sealed there) but
never kept in this state (aggregates are cached in memory).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from services.command.domain.aggregate import AggregateRoot, CommandContext
from services.command.domain.errors import RuleViolation
from services.common.events.task import (
    MAX_REMIND_BEFORE_S,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskOverdue,
    TaskReassigned,
    TaskReminded,
    TaskRescheduled,
)

OPEN, COMPLETED, CANCELLED = "open", "completed", "cancelled"
PAST_DUE_TOLERANCE = timedelta(minutes=5)
"""A new task, or a new due time, may lie this far in the past (a clock a little behind, a
request that took a while); further back it would be overdue before anyone saw it."""


class Task(AggregateRoot):
    kind = "task"
    created_by = TaskCreated

    status: str
    assignee: str
    due_at: datetime
    remind_before_s: int | None
    reminded_for: datetime | None
    overdue_for: datetime | None
    lead_id: UUID | None
    ticket_id: UUID | None

    @classmethod
    def create(
        cls, task_id: UUID, ctx: CommandContext, *, customer_id: UUID, title: str,
        assignee: str, due_at: datetime, remind_before: timedelta | None = None,
        note: str | None = None, lead_id: UUID | None = None, ticket_id: UUID | None = None,
    ) -> Task:
        if lead_id is not None and ticket_id is not None:
            raise RuleViolation("task_has_one_subject",
                                "a task is about one lead or one ticket, not both")
        _check_due(ctx, due_at)
        task = cls(task_id)
        task._record(
            TaskCreated, ctx, customer_id=customer_id, title=title, note=note,
            assignee=assignee, due_at=due_at, remind_before_s=_seconds(remind_before),
            lead_id=lead_id, ticket_id=ticket_id,
        )
        return task

    def _refuse_unless_open(self, doing: str) -> None:
        if self.status != OPEN:
            raise RuleViolation(f"task_{self.status}", f"the task is {self.status}: it cannot "
                                f"be {doing}", status=self.status)

    def complete(self, ctx: CommandContext, note: str | None = None) -> None:
        self._refuse_unless_open("completed")
        self._record(TaskCompleted, ctx, note=note)

    def cancel(self, ctx: CommandContext) -> None:
        self._refuse_unless_open("cancelled")
        self._record(TaskCancelled, ctx)

    def reschedule(self, ctx: CommandContext, due_at: datetime,
                   remind_before: timedelta | None, *, keep_reminder: bool = False) -> None:
        """A new due time, with the reminder given (None: no reminder) or, with
        `keep_reminder`, the same reminder as before."""
        self._refuse_unless_open("rescheduled")
        seconds = self.remind_before_s if keep_reminder else _seconds(remind_before)
        if due_at == self.due_at and seconds == self.remind_before_s:
            raise RuleViolation("no_change", "the task is already due then, with this reminder")
        _check_due(ctx, due_at)
        self._record(TaskRescheduled, ctx, from_due_at=self.due_at, due_at=due_at,
                     remind_before_s=seconds)

    def reassign(self, ctx: CommandContext, assignee: str) -> None:
        self._refuse_unless_open("reassigned")
        if assignee == self.assignee:
            raise RuleViolation("no_change", f"the task is already assigned to {assignee}")
        self._record(TaskReassigned, ctx, from_assignee=self.assignee, to_assignee=assignee)

    # -- what the task-reminder rule records ----------------------------------------------------

    def record_reminder(self, ctx: CommandContext, due_at: datetime) -> None:
        """The reminder of the task due at `due_at` (refused once the task moved on)."""
        self._refuse_unless_open("reminded")
        self._refuse_if_moved(due_at)
        if self.remind_before_s is None:
            raise RuleViolation("no_reminder", "the task has no reminder")
        if self.reminded_for == self.due_at:
            raise RuleViolation("already_reminded", "the assignee was already reminded of "
                                "this due time")
        self._record(TaskReminded, ctx, due_at=self.due_at, remind_before_s=self.remind_before_s)

    def record_overdue(self, ctx: CommandContext, due_at: datetime) -> None:
        self._refuse_unless_open("overdue")
        self._refuse_if_moved(due_at)
        if self.overdue_for == self.due_at:
            raise RuleViolation("already_overdue", "the task is already recorded overdue for "
                                "this due time")
        now = ctx.occurred_at or datetime.now(UTC)
        if now < self.due_at:
            raise RuleViolation("not_due_yet", "the task is not due yet",
                                due_at=self.due_at.isoformat())
        self._record(TaskOverdue, ctx, due_at=self.due_at)

    def _refuse_if_moved(self, due_at: datetime) -> None:
        if due_at != self.due_at:
            raise RuleViolation("task_rescheduled", "the task was moved to another due time",
                                due_at=self.due_at.isoformat())

    # -- state --------------------------------------------------------------------------------

    def _when_TaskCreated(self, event: TaskCreated) -> None:
        self._when_created(event)
        self.status = OPEN
        self.assignee = event.assignee
        self.due_at = event.due_at
        self.remind_before_s = event.remind_before_s
        self.reminded_for = self.overdue_for = None
        self.lead_id, self.ticket_id = event.lead_id, event.ticket_id

    def _when_TaskCompleted(self, event: TaskCompleted) -> None:
        self.status = COMPLETED

    def _when_TaskCancelled(self, event: TaskCancelled) -> None:
        self.status = CANCELLED

    def _when_TaskRescheduled(self, event: TaskRescheduled) -> None:
        self.due_at = event.due_at
        self.remind_before_s = event.remind_before_s

    def _when_TaskReassigned(self, event: TaskReassigned) -> None:
        self.assignee = event.to_assignee

    def _when_TaskReminded(self, event: TaskReminded) -> None:
        self.reminded_for = event.due_at

    def _when_TaskOverdue(self, event: TaskOverdue) -> None:
        self.overdue_for = event.due_at


def _seconds(remind_before: timedelta | None) -> int | None:
    if remind_before is None:
        return None
    seconds = int(remind_before.total_seconds())
    if not 1 <= seconds <= MAX_REMIND_BEFORE_S:
        raise RuleViolation("invalid_reminder", "a reminder is between 1 second and 365 days "
                            "before the due time")
    return seconds


def _check_due(ctx: CommandContext, due_at: datetime) -> None:
    """A task is due from now on: a due time in the past (beyond a small tolerance) is refused,
    for a new task and for a new due time alike. A back-dated command (`occurred_at`) is
    judged at its own time, so history can be imported with its tasks."""
    if due_at.tzinfo is None:
        raise RuleViolation("due_at_without_offset", "due_at needs a time zone offset")
    now = ctx.occurred_at or datetime.now(UTC)
    if due_at < now - PAST_DUE_TOLERANCE:
        raise RuleViolation("due_in_the_past", "the due time has already passed",
                            due_at=due_at.isoformat(), now=now.isoformat())
