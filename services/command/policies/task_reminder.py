"""Task reminders: when a task's reminder time comes (its due time less `remind_before`), its
assignee gets an alert; when its due time passes with the task still open, the assignee (and
whoever gave them the task) get another. Each is recorded on the task (`TaskReminded`,
`TaskOverdue`) together with its alert, once per due time: a rescheduled task is reminded
again for its new time, and the clearing policy resolves the alerts of a task completed,
cancelled or moved (and a reminder once the task is overdue).

The deadlines are the task's own times in the policy state, so they survive restarts: a
reminder whose time passed while no engine ran is issued by the next round, and the key of
each decision (task, due time, which alert) makes a repeat of it write nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.command.domain.alert import alert_id_for
from services.command.domain.rules import RuleSet, format_duration
from services.command.policies.actions import Action
from services.command.policies.state import uuid
from services.command.service import AlertSpec
from services.common.auth.principal import is_reserved
from services.common.times import as_utc
from services.projections.policy_state.reads import PolicyStateReads

RULE_ID = "task-reminder"


def decide(state: PolicyStateReads, tenant: str, rules: RuleSet, now: datetime,
           limit: int) -> list[Action]:
    reminders = [_reminder(task, tenant) for task in state.tasks_to_remind(tenant, now,
                                                                          limit=limit)]
    overdue = [_overdue(task, tenant) for task in state.tasks_past_due(tenant, now, limit=limit)]
    return reminders + overdue


def _due(task: dict[str, Any]) -> datetime:
    due = as_utc(task["due_at"])
    assert due is not None
    return due


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _reminder(task: dict[str, Any], tenant: str) -> Action:
    due = _due(task)
    task_id = uuid(task["id"])
    key = f"policy:task-reminder:{task_id}:{due.isoformat()}:reminder"
    ahead = format_duration(timedelta(seconds=int(task["remind_before_s"])))
    # The title is personal (sealed under the customer's key): the alert names the task by id,
    # and the reader opens the task for the rest.
    alert = AlertSpec(alert_id=alert_id_for(key), kind="task_reminder",
                      assignees=[task["assignee"]],
                      summary=f"Task {task['id'][:8]} is due at {_when(due)} (reminder {ahead} "
                              "before)", due_at=due)
    return Action(
        policy="task_reminder", key=key, tenant_id=tenant, rule_id=RULE_ID,
        cause_event_id=uuid(task["schedule_event_id"]),
        correlation_id=uuid(task["correlation_id"]),
        issue=lambda service, ctx, idem: service.remind_task(ctx, task_id, due_at=due,
                                                             alert=alert, idempotency=idem),
        describe={"task_id": str(task_id), "due_at": due.isoformat(), "alert": "reminder"},
    )


def _overdue(task: dict[str, Any], tenant: str) -> Action:
    due = _due(task)
    task_id = uuid(task["id"])
    key = f"policy:task-reminder:{task_id}:{due.isoformat()}:overdue"
    assignee, creator = task["assignee"], task["created_by"]
    people = [assignee] + ([creator] if creator and creator != assignee
                           and not is_reserved(creator) else [])
    alert = AlertSpec(alert_id=alert_id_for(key), kind="task_overdue", assignees=people,
                      summary=f"Task {task['id'][:8]} is overdue: it was due at {_when(due)}",
                      due_at=due)
    return Action(
        policy="task_reminder", key=key, tenant_id=tenant, rule_id=RULE_ID,
        cause_event_id=uuid(task["schedule_event_id"]),
        correlation_id=uuid(task["correlation_id"]),
        issue=lambda service, ctx, idem: service.mark_task_overdue(ctx, task_id, due_at=due,
                                                                   alert=alert,
                                                                   idempotency=idem),
        describe={"task_id": str(task_id), "due_at": due.isoformat(), "alert": "overdue"},
    )
