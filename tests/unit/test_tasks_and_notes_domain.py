"""The rules of tasks and notes on the aggregates themselves (no HTTP, no store), and how their
events keep free text only under `personal`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from services.command.domain.aggregate import CommandContext
from services.command.domain.errors import RuleViolation
from services.command.domain.note import Note
from services.command.domain.task import Task
from services.common.events.note import NoteAdded, NoteEdited
from services.common.events.task import TaskCompleted, TaskCreated

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CTX = CommandContext(actor="rep-1", tenant_id="default", occurred_at=NOW)


def new_task(remind_before: timedelta | None = timedelta(minutes=15),
             due: datetime = NOW + timedelta(days=1)) -> Task:
    return Task.create(uuid4(), CTX, customer_id=uuid4(), title="Call Ada back",
                       assignee="rep-1", due_at=due, remind_before=remind_before)


@contextmanager
def refused(rule: str) -> Iterator[None]:
    """The block is refused by this rule."""
    with pytest.raises(RuleViolation) as caught:
        yield
    assert caught.value.rule == rule, caught.value.rule


def test_a_new_task_is_due_from_now_on_about_one_record_with_a_sensible_reminder() -> None:
    with refused("due_in_the_past"):
        new_task(due=NOW - timedelta(hours=1))
    within_tolerance = new_task(due=NOW - timedelta(minutes=1))  # a clock a little behind
    assert within_tolerance.status == "open"
    with refused("task_has_one_subject"):
        Task.create(uuid4(), CTX, customer_id=uuid4(), title="x", assignee="rep-1",
                    due_at=NOW + timedelta(days=1), lead_id=uuid4(), ticket_id=uuid4())
    for bad in (timedelta(0), timedelta(days=366)):
        with refused("invalid_reminder"):
            new_task(remind_before=bad)


def test_a_closed_task_accepts_nothing_more() -> None:
    done, cancelled = new_task(), new_task()
    done.complete(CTX, note="Agreed")
    cancelled.cancel(CTX)
    for task, rule in ((done, "task_completed"), (cancelled, "task_cancelled")):
        for act in (lambda t: t.complete(CTX), lambda t: t.cancel(CTX),
                    lambda t: t.reassign(CTX, "rep-2"),
                    lambda t: t.reschedule(CTX, NOW + timedelta(days=3), None),
                    lambda t: t.record_reminder(CTX, t.due_at),
                    lambda t: t.record_overdue(CTX, t.due_at)):
            with refused(rule):
                act(task)


def test_an_open_task_refuses_a_change_that_changes_nothing() -> None:
    task = new_task()
    with refused("no_change"):
        task.reassign(CTX, "rep-1")
    with refused("no_change"):
        task.reschedule(CTX, task.due_at, timedelta(minutes=15))
    task.reschedule(CTX, task.due_at, None)  # the same time, without its reminder
    assert task.remind_before_s is None
    with refused("due_in_the_past"):
        task.reschedule(CTX, NOW - timedelta(days=1), None)


def test_the_rule_records_a_reminder_and_an_overdue_once_per_due_time() -> None:
    task = new_task()
    due = task.due_at
    with refused("task_rescheduled"):
        task.record_reminder(CTX, due + timedelta(hours=1))
    task.record_reminder(CTX, due)
    with refused("already_reminded"):
        task.record_reminder(CTX, due)
    with refused("not_due_yet"):
        task.record_overdue(CTX, due)
    late = CommandContext(actor="rule:task-reminder", tenant_id="default",
                          occurred_at=due + timedelta(seconds=1))
    task.record_overdue(late, due)
    with refused("already_overdue"):
        task.record_overdue(late, due)
    later = due + timedelta(days=2)
    task.reschedule(late, later, timedelta(hours=1))
    task.record_reminder(late, later)  # reminded again, for the new time
    assert task.reminded_for == later and task.overdue_for == due
    without = new_task(remind_before=None)
    with refused("no_reminder"):
        without.record_reminder(CTX, without.due_at)


def test_task_and_note_texts_are_kept_only_under_personal_and_never_in_the_aggregate() -> None:
    task = new_task()
    task.complete(CTX, note="Signed on Friday")
    created, completed = task.collect_events()
    assert isinstance(created, TaskCreated) and isinstance(completed, TaskCompleted)
    assert created.data()["personal"] == {"title": "Call Ada back", "note": None}
    assert "title" not in created.data() and completed.note == "Signed on Friday"
    note = Note.add(uuid4(), CTX, customer_id=uuid4(), subject_kind="customer",
                    subject_id=uuid4(), body="Prefers calls after 4pm", pinned=False)
    note.edit(CTX, body="Prefers calls after 5pm", pinned=None)
    added, edited = note.collect_events()
    assert isinstance(added, NoteAdded) and isinstance(edited, NoteEdited)
    assert added.data()["personal"] == {"body": "Prefers calls after 4pm"}
    assert (edited.body, edited.pinned) == ("Prefers calls after 5pm", None)
    kept = repr(vars(note)) + repr(vars(task))
    assert "4pm" not in kept and "5pm" not in kept and "Ada" not in kept


def test_a_note_refuses_blank_text_an_edit_that_changes_nothing_and_any_change_once_deleted(
        ) -> None:
    with refused("empty_note"):
        Note.add(uuid4(), CTX, customer_id=uuid4(), subject_kind="customer",
                 subject_id=uuid4(), body="  \n", pinned=False)
    note = Note.add(uuid4(), CTX, customer_id=uuid4(), subject_kind="lead", subject_id=uuid4(),
                    body="Budget in May", pinned=True)
    with refused("no_change"):
        note.edit(CTX, body="Budget in May", pinned=True)
    note.edit(CTX, body="Budget in May", pinned=False)  # only the pin changes
    assert [type(e).__name__ for e in note.collect_events()] == ["NoteAdded", "NoteEdited"]
    note.delete(CTX)
    for act in (lambda n: n.edit(CTX, body="Again", pinned=None), lambda n: n.delete(CTX)):
        with refused("note_deleted"):
            act(note)
