"""Every query of the alerts model: a tenant's alerts by assignee, status, kind, customer or
subject, newest raise first, a page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from services.common.times import iso_text
from services.projections.alerts.projection import ALERTS, ASSIGNEES, AlertsProjection
from services.projections.model import Row
from services.projections.stores.sql import SqlReadStore

NAME = AlertsProjection.name

StatusFilter = Literal["open", "acknowledged", "resolved", "active"]
"""`active`: open or acknowledged — what still needs someone."""
_STATUSES: dict[str, tuple[str, ...]] = {
    "open": ("open",), "acknowledged": ("acknowledged",), "resolved": ("resolved",),
    "active": ("open", "acknowledged"),
}

Cursor = tuple[str, int]
"""(raised_at, position) of the last alert of a page; the next page starts after it."""

_COLUMNS = tuple(ALERTS.columns)


def read_alerts(store: SqlReadStore, tenant_id: str, *, status: StatusFilter = "active",
                assignee: str | None = None, kind: str | None = None,
                customer_id: str | None = None, subject_id: str | None = None,
                limit: int = 50, before: Cursor | Sequence[Any] | None = None,
                assigned_to_any_of: Sequence[str] | None = None,
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
        join = (f" JOIN {ASSIGNEES.name} x ON x.alert_id = a.id AND x.tenant_id = ? "
                "AND x.assignee = ?")
        params += [tenant_id, assignee]
    where = ["a.tenant_id = ?", f"a.status IN ({', '.join('?' * len(statuses))})"]
    params += [tenant_id, *statuses]
    if assigned_to_any_of is not None:  # a caller's book: alerts for one of these people
        marks = ", ".join("?" for _ in assigned_to_any_of)
        where.append(f"EXISTS (SELECT 1 FROM {ASSIGNEES.name} b WHERE b.alert_id = a.id "
                     f"AND b.tenant_id = a.tenant_id AND b.assignee IN ({marks}))")
        params += list(assigned_to_any_of)
    for column, value in (("kind", kind), ("customer_id", customer_id),
                          ("subject_id", subject_id)):
        if value is not None:
            where.append(f"a.{column} = ?")
            params.append(value)
    if before is not None:
        at, position = iso_text(before[0]), int(before[1])
        where.append("(a.raised_at < ? OR (a.raised_at = ? AND a.position < ?))")
        params += [at, at, position]
    columns = ", ".join(f"a.{name}" for name in _COLUMNS)
    found = store.query(
        f"SELECT {columns} FROM {ALERTS.name} a{join} WHERE {' AND '.join(where)} "
        "ORDER BY a.raised_at DESC, a.position DESC LIMIT ?", [*params, limit + 1])
    types = ALERTS.columns
    items = [_item({name: store.from_db(types[name], raw[name]) for name in _COLUMNS})
             for raw in found[:limit]]
    next_cursor = (items[-1]["raised_at"], items[-1]["position"]) if len(found) > limit else None
    return items, next_cursor


def _item(row: Row) -> dict[str, Any]:
    item = {name: value for name, value in row.items() if name != "tenant_id"}
    item["alert_id"] = item.pop("id")
    return item
