"""Every query of the tasks model, in either SQL dialect: a tenant's tasks by assignee, status,
due time and record, soonest due first, a page at a time; a customer's open tasks — from the
store, or folded in memory from events for a point-in-time view."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from services.common.privacy.vault import PersonalDataVault
from services.common.times import iso, iso_text
from services.projections.model import ConsumedEvent, Row, fold
from services.projections.personal import open_values
from services.projections.stores.sql import SqlReadStore
from services.projections.tasks.projection import ERASED, TASKS, TasksProjection

NAME = TasksProjection.name

StatusFilter = Literal["open", "completed", "cancelled", "any"]
Cursor = tuple[str, str]
"""(due_at, task id) of the last task of a page; the next page starts after it."""
IN_DOCUMENT = 20
"""Open tasks the customer-360 lists (soonest due first); it counts them all."""

_COLUMNS = tuple(TASKS.columns)


@dataclass(frozen=True)
class TaskFilter:
    """What a task list is narrowed to; None: any."""

    tenant_id: str
    status: StatusFilter = "open"
    assignee: str | None = None
    due_before: datetime | None = None
    """Due before this moment (exclusive)."""
    customer_id: str | None = None
    lead_id: str | None = None
    ticket_id: str | None = None
    book: Sequence[str] | None = None
    """Only tasks assigned to or created by one of these people."""


def list_tasks(store: SqlReadStore, where: TaskFilter, *, limit: int = 50,
               after: Cursor | Sequence[Any] | None = None,
               vault: PersonalDataVault | None = None, now: datetime | None = None,
               ) -> tuple[list[dict[str, Any]], Cursor | None]:
    """One page of tasks, soonest due first (ties by id), and the cursor of the next page
    (None on the last page). Keyset pagination on (due_at, id): one index range scan per page,
    and tasks created meanwhile never shift a page already read."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    conditions = ["t.tenant_id = ?",
                  f"NOT EXISTS (SELECT 1 FROM {ERASED.name} e WHERE e.id = t.customer_id)"]
    params: list[Any] = [where.tenant_id]
    if where.status != "any":
        conditions.append("t.status = ?")
        params.append(where.status)
    for column, value in (("assignee", where.assignee), ("customer_id", where.customer_id),
                          ("lead_id", where.lead_id), ("ticket_id", where.ticket_id)):
        if value is not None:
            conditions.append(f"t.{column} = ?")
            params.append(value)
    if where.due_before is not None:
        conditions.append("t.due_at < ?")
        params.append(iso(where.due_before))
    if where.book is not None:
        marks = ", ".join("?" for _ in where.book)
        conditions.append(f"(t.assignee IN ({marks}) OR t.created_by IN ({marks}))")
        params += [*where.book, *where.book]
    if after is not None:
        due, last_id = iso_text(after[0]), str(after[1])
        conditions.append("(t.due_at > ? OR (t.due_at = ? AND t.id > ?))")
        params += [due, due, last_id]
    found = store.query(
        f"SELECT {', '.join(f't.{c}' for c in _COLUMNS)} FROM {TASKS.name} t "
        f"WHERE {' AND '.join(conditions)} ORDER BY t.due_at, t.id LIMIT ?", [*params, limit + 1])
    rows = [{name: store.from_db(TASKS.columns[name], raw[name]) for name in _COLUMNS}
            for raw in found[:limit]]
    items = [task_item(row, vault, now) for row in rows]
    following = (rows[-1]["due_at"], rows[-1]["id"]) if len(found) > limit else None
    return items, following


def customer_tasks(store: SqlReadStore, customer_id: str, *,
                   vault: PersonalDataVault | None = None,
                   now: datetime | None = None) -> dict[str, Any]:
    """The customer's open tasks for its customer-360: how many, how many overdue, the next
    due time, and the first `IN_DOCUMENT` of them, soonest due first."""
    moment = now or datetime.now(UTC)
    counted = store.query(
        f"SELECT COUNT(*) AS n, SUM(CASE WHEN due_at <= ? THEN 1 ELSE 0 END) AS overdue, "
        f"MIN(due_at) AS next_due FROM {TASKS.name} WHERE customer_id = ? AND status = ?",
        [iso(moment), customer_id, "open"])
    found = store.query(
        f"SELECT {', '.join(_COLUMNS)} FROM {TASKS.name} WHERE customer_id = ? AND status = ? "
        "ORDER BY due_at, id LIMIT ?", [customer_id, "open", IN_DOCUMENT])
    rows = [{name: store.from_db(TASKS.columns[name], raw[name]) for name in _COLUMNS}
            for raw in found]
    head = counted[0] if counted else {}
    return {"open": int(head.get("n") or 0), "overdue": int(head.get("overdue") or 0),
            "next_due_at": store.from_db("ts", head.get("next_due")),
            "items": [task_item(row, vault, moment) for row in rows]}


def customer_tasks_as_of(events: Iterable[ConsumedEvent], customer_id: str,
                         as_of: datetime) -> dict[str, Any]:
    """The same part of the document folded in memory from the customer's events (values in
    clear: nothing of it is written anywhere)."""
    folded = fold(TasksProjection(), events)
    open_rows = sorted((row for row in folded.all(TASKS)
                        if row["customer_id"] == customer_id and row["status"] == "open"),
                       key=lambda row: (row["due_at"], row["id"]))
    moment = iso(as_of)
    return {"open": len(open_rows),
            "overdue": sum(1 for row in open_rows if row["due_at"] <= moment),
            "next_due_at": open_rows[0]["due_at"] if open_rows else None,
            "items": [task_item(row, None, as_of) for row in open_rows[:IN_DOCUMENT]]}


def customer_tasks_all(events: Iterable[ConsumedEvent]) -> list[dict[str, Any]]:
    """Every task of these events, open or closed, oldest first (the subject export)."""
    folded = fold(TasksProjection(), events)
    rows = sorted(folded.all(TASKS), key=lambda row: (row["created_at"], row["position"]))
    return [task_item(row, None, None) for row in rows]


def task_item(row: Row, vault: PersonalDataVault | None,
              now: datetime | None) -> dict[str, Any]:
    """A task as the API serves it: its personal values opened (None once erased)."""
    task_id, customer_id = row["id"], row["customer_id"]
    values = open_values(vault, customer_id, task_id, row["sealed"]) or {}
    outcome = open_values(vault, customer_id, task_id, row["outcome"]) or {}
    due = datetime.fromisoformat(row["due_at"])
    seconds = row["remind_before_s"]
    moment = now or datetime.now(UTC)
    return {
        "task_id": task_id, "customer_id": customer_id, "lead_id": row["lead_id"],
        "ticket_id": row["ticket_id"], "title": values.get("title"), "note": values.get("note"),
        "assignee": row["assignee"], "created_by": row["created_by"], "status": row["status"],
        "due_at": row["due_at"],
        "remind_before": duration_text(seconds) if seconds else None,
        "remind_at": iso(due - timedelta(seconds=seconds)) if seconds else None,
        "overdue": row["status"] == "open" and due <= moment,
        "reminded_at": row["reminded_at"], "created_at": row["created_at"],
        "closed_at": row["closed_at"], "closed_by": row["closed_by"],
        "outcome_note": outcome.get("note"), "version": row["version"],
    }


def duration_text(seconds: int) -> str:
    """The rules file's spelling of a duration: "15m", "1d12h", "45s"."""
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"),
                                           (seconds, "s")) if n]
    return "".join(parts) or "0s"
