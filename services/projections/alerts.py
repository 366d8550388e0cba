"""The alerts read model: every alert a rule raised, its assignees and where it stands.

An alert is raised once (`AlertRaised`, which names the people it is for), may be acknowledged,
and is resolved; the row keeps who did each and when. `alert_assignees` holds one row per
(alert, person), so "my open alerts" is an index range scan on (tenant, assignee) joined to
the alerts by primary key, however many alerts the tenant has.

Rows never hold personal data: the summary is written by the rule and names records by their
title, and notes are the short single-line remarks the acknowledge/resolve commands accept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal

from services.common.events.alert import AlertAcknowledged, AlertRaised, AlertResolved
from services.common.events.envelope import CrmEvent
from services.projections.model import ConsumedEvent, Projection, Row, Rows, Table
from services.projections.stores.base import iso
from services.projections.stores.sql import SqlReadStore

ALERTS = "alerts"
ASSIGNEES = "alert_assignees"

StatusFilter = Literal["open", "acknowledged", "resolved", "active"]
"""`active`: open or acknowledged — what still needs someone."""
_STATUSES: dict[str, tuple[str, ...]] = {
    "open": ("open",), "acknowledged": ("acknowledged",), "resolved": ("resolved",),
    "active": ("open", "acknowledged"),
}

Cursor = tuple[str, int]
"""(raised_at, position) of the last alert of a page; the next page starts after it."""


class AlertsProjection(Projection):
    """One row per alert (id = alert id), one per (alert, assignee)."""

    name: ClassVar[str] = "alerts"
    tables: ClassVar[tuple[Table, ...]] = (
        Table(ALERTS, {
            "id": "text", "tenant_id": "text", "customer_id": "text", "kind": "text",
            "subject_kind": "text", "subject_id": "text", "assignees": "json",
            "summary": "text", "status": "text", "raised_at": "ts", "raised_by": "text",
            "due_at": "ts", "acknowledged_at": "ts", "acknowledged_by": "text",
            "resolved_at": "ts", "resolved_by": "text", "note": "text", "position": "int",
            "cause_event_id": "text",
        }, indexes=(("tenant_id", "status", "raised_at", "position"),
                    ("customer_id",), ("subject_id",))),
        Table(ASSIGNEES, {"id": "text", "alert_id": "text", "assignee": "text",
                          "tenant_id": "text"},
              indexes=(("tenant_id", "assignee"),)),
    )

    def keys(self, event: CrmEvent) -> Iterable[tuple[str, str]]:
        if isinstance(event, AlertAcknowledged | AlertResolved):
            return ((ALERTS, str(event.aggregate_id)),)
        return ()  # AlertRaised creates its rows without reading any; nothing else is ours

    def on_AlertRaised(self, rows: Rows, consumed: ConsumedEvent) -> None:
        event = consumed.event
        assert isinstance(event, AlertRaised)
        alert_id = str(event.aggregate_id)
        rows.put(ALERTS, {
            "id": alert_id, "tenant_id": event.tenant_id, "customer_id": str(event.customer_id),
            "kind": event.kind, "subject_kind": event.subject_kind,
            "subject_id": str(event.subject_id), "assignees": list(event.assignees),
            "summary": event.summary, "status": "open", "raised_at": iso(event.occurred_at),
            "raised_by": event.actor, "due_at": iso(event.due_at) if event.due_at else None,
            "acknowledged_at": None, "acknowledged_by": None, "resolved_at": None,
            "resolved_by": None, "note": None,
            # The raise's position never changes, so it orders pages stably (see read_alerts).
            "position": consumed.position,
            "cause_event_id": str(event.causation_id) if event.causation_id else None,
        })
        for assignee in event.assignees:
            rows.put(ASSIGNEES, {"id": f"{alert_id}:{assignee}", "alert_id": alert_id,
                                 "assignee": assignee, "tenant_id": event.tenant_id})

    def on_AlertAcknowledged(self, rows: Rows, consumed: ConsumedEvent) -> None:
        event = consumed.event
        assert isinstance(event, AlertAcknowledged)
        row = _raised(rows, event)
        rows.put(ALERTS, {**row, "status": "acknowledged",
                          "acknowledged_at": iso(event.occurred_at), "acknowledged_by": event.by,
                          "note": event.note if event.note is not None else row["note"]})

    def on_AlertResolved(self, rows: Rows, consumed: ConsumedEvent) -> None:
        event = consumed.event
        assert isinstance(event, AlertResolved)
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


# -- reads --------------------------------------------------------------------------------------

_COLUMNS = tuple(AlertsProjection.tables[0].columns)


def read_alerts(store: SqlReadStore, tenant_id: str, *, status: StatusFilter = "active",
                assignee: str | None = None, kind: str | None = None,
                customer_id: str | None = None, subject_id: str | None = None,
                limit: int = 50, before: Cursor | Sequence[Any] | None = None,
                ) -> tuple[list[dict[str, Any]], Cursor | None]:
    """One page of the tenant's alerts, newest raise first, and the cursor of the next page
    (None on the last page).

    Keyset pagination on (raised_at, position), as the timeline does: a page costs one index
    range scan however deep it is, and alerts raised meanwhile never shift later pages.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    statuses = _STATUSES[status]
    join = ""
    params: list[Any] = []
    if assignee is not None:
        join = (f" JOIN {ASSIGNEES} x ON x.alert_id = a.id AND x.tenant_id = ? "
                "AND x.assignee = ?")
        params += [tenant_id, assignee]
    where = ["a.tenant_id = ?", f"a.status IN ({', '.join('?' * len(statuses))})"]
    params += [tenant_id, *statuses]
    for column, value in (("kind", kind), ("customer_id", customer_id),
                          ("subject_id", subject_id)):
        if value is not None:
            where.append(f"a.{column} = ?")
            params.append(value)
    if before is not None:
        at, position = _iso_text(before[0]), int(before[1])
        where.append("(a.raised_at < ? OR (a.raised_at = ? AND a.position < ?))")
        params += [at, at, position]
    columns = ", ".join(f"a.{name}" for name in _COLUMNS)
    found = store.query(
        f"SELECT {columns} FROM {ALERTS} a{join} WHERE {' AND '.join(where)} "
        "ORDER BY a.raised_at DESC, a.position DESC LIMIT ?", [*params, limit + 1])
    types = AlertsProjection.tables[0].columns
    items = [_item({name: store.from_db(types[name], raw[name]) for name in _COLUMNS})
             for raw in found[:limit]]
    next_cursor = (items[-1]["raised_at"], items[-1]["position"]) if len(found) > limit else None
    return items, next_cursor


def _item(row: Row) -> dict[str, Any]:
    item = {name: value for name, value in row.items() if name != "tenant_id"}
    item["alert_id"] = item.pop("id")
    return item


def _iso_text(value: datetime | str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return iso(value)
