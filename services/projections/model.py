"""The shapes every projection works with: consumed events, table specs and the working set.

A projection is a pure function of (state, event): `Projection.apply(rows, event)` reads and
writes rows of its tables through a `Rows` working set and touches nothing else. The framework
loads the rows a batch needs, applies the batch, and writes the changed rows together with the
consumed offsets in one transaction. The same code runs on a live Kafka consumer, the embedded
bus, a rebuild, and in memory for point-in-time views.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from services.common.events.envelope import CrmEvent

ColumnType = Literal["text", "int", "float", "bool", "ts", "json"]
"""`ts` values are ISO 8601 UTC strings in Python; `json` values are dicts or lists."""

Row = dict[str, Any]


@dataclass(frozen=True)
class ConsumedEvent:
    """An event as a projector sees it: where it came from and its global position."""

    partition: int
    offset: int
    position: int
    event: CrmEvent


@dataclass(frozen=True)
class Table:
    """A read-model table. Every table has a text primary key column `id`."""

    name: str
    columns: Mapping[str, ColumnType]
    indexes: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        if self.columns.get("id") != "text":
            raise ValueError(f"table {self.name} needs a text `id` column")


class Projection:
    """Base of every read model. Subclasses declare their tables and one handler per event type.

    `keys(event)` names the rows an event reads (so a batch loads them in one query per
    table); `apply(rows, event)` must be deterministic: the same rows and event give the same
    writes, whichever runner calls it.
    """

    name: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]]
    store_kind: ClassVar[Literal["sql", "analytics"]] = "sql"
    """`sql`: PostgreSQL (embedded: SQLite). `analytics`: DuckDB."""

    def keys(self, event: CrmEvent) -> Iterable[tuple[str, str]]:
        """(table, id) of every row `apply` will read for this event."""
        return ()

    def apply(self, rows: Rows, consumed: ConsumedEvent) -> None:
        handler = getattr(self, f"on_{type(consumed.event).__name__}", None)
        if handler is not None:
            handler(rows, consumed)
        # Every other event type is deliberately ignored by this projection.

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)


_MISSING = object()


@dataclass
class Rows:
    """The working set of one batch: rows loaded from the store plus this batch's changes.

    Changes made while applying one event are undone if that event fails, so a poison event
    never leaves half of its writes behind.
    """

    loaded: dict[tuple[str, str], Row | None] = field(default_factory=dict)
    changed: dict[tuple[str, str], Row | None] = field(default_factory=dict)
    _undo: list[tuple[tuple[str, str], Any]] = field(default_factory=list)

    def get(self, table: str, row_id: str) -> Row | None:
        """The row as of the events applied so far (a copy-free view: do not mutate it)."""
        key = (table, row_id)
        if key in self.changed:
            return self.changed[key]
        if key not in self.loaded:
            raise KeyError(f"row {key} was not named by keys(); the projection must declare it")
        return self.loaded[key]

    def put(self, table: str, row: Row) -> None:
        """Insert or replace the row with this `id`."""
        key = (table, str(row["id"]))
        self._undo.append((key, self.changed.get(key, _MISSING)))
        self.changed[key] = row

    def delete(self, table: str, row_id: str) -> None:
        key = (table, row_id)
        self._undo.append((key, self.changed.get(key, _MISSING)))
        self.changed[key] = None

    def begin_event(self) -> None:
        self._undo.clear()

    def undo_event(self) -> None:
        for key, previous in reversed(self._undo):
            if previous is _MISSING:
                self.changed.pop(key, None)
            else:
                self.changed[key] = previous
        self._undo.clear()

    def changes_by_table(self) -> dict[str, tuple[list[Row], list[str]]]:
        """{table: (rows to upsert, ids to delete)}."""
        out: dict[str, tuple[list[Row], list[str]]] = {}
        for (table, row_id), row in self.changed.items():
            upserts, deletes = out.setdefault(table, ([], []))
            if row is None:
                deletes.append(row_id)
            else:
                upserts.append(row)
        return out


class MemoryRows(Rows):
    """A working set with no store behind it: every row not yet written is absent.

    Point-in-time views fold a customer's events through a projection with this.
    """

    def get(self, table: str, row_id: str) -> Row | None:
        key = (table, row_id)
        if key in self.changed:
            return self.changed[key]
        return self.loaded.get(key)

    def all(self, table: str) -> list[Row]:
        return [row for (name, _), row in self.changed.items() if name == table and row is not None]


def fold(projection: Projection, events: Iterable[ConsumedEvent]) -> MemoryRows:
    """Apply events in order to an empty in-memory state."""
    rows = MemoryRows()
    for consumed in events:
        rows.begin_event()
        projection.apply(rows, consumed)
    return rows
