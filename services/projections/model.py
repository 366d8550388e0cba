"""The shapes every projection works with: consumed events, tables, handlers and the working set.

A projection is a pure function of (state, event). Each read model is one `Projection` subclass
with one handler per event type it uses, declared by the type its `event` parameter takes, and
the rows that handler reads declared beside it:

    class Timeline(Projection):
        name = "timeline"
        tables = (ENTRIES, RECORDS)
        ignored = frozenset({CustomerRecordLinked})

        @handler(reads=[RECORDS.row("aggregate_id")])
        def stage_changed(self, rows: Rows, event: LeadStageChanged, position: int) -> None: ...

Every published event type is either handled or listed in `ignored`: the class fails at its
creation (so at import) otherwise, and a misspelt or missing handler never reaches production.
The framework loads the rows a batch's handlers read, applies the batch, and writes the changed
rows with the consumed offsets in one transaction. The same code runs on a live Kafka consumer,
the embedded bus, a rebuild, and in memory for point-in-time views.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from services.common.events.catalog import PUBLISHED_EVENT_CLASSES
from services.common.events.envelope import CrmEvent
from services.common.privacy.vault import PersonalDataVault

if TYPE_CHECKING:
    from services.common.settings import Settings

ColumnType = Literal["text", "int", "float", "bool", "ts", "json"]
"""`ts` values are ISO 8601 UTC strings in Python; `json` values are dicts or lists."""

Row = dict[str, Any]
RowKey = tuple[str, str]
"""(table name, row id)."""


@dataclass(frozen=True)
class ConsumedEvent:
    """An event as a projector sees it: where it came from and its global position."""

    partition: int
    offset: int
    position: int
    event: CrmEvent


@dataclass(frozen=True)
class Reads:
    """A row a handler reads: its table, and the event attribute that holds the row's id."""

    table: str
    key: str
    """E.g. `aggregate_id`, `customer_id`; an attribute that is None names no row."""

    def of(self, event: CrmEvent) -> RowKey | None:
        value = getattr(event, self.key)
        return None if value is None else (self.table, str(value))


@dataclass(frozen=True)
class Table:
    """A read-model table. Every table has a text primary key column `id`."""

    name: str
    columns: Mapping[str, ColumnType]
    indexes: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        if self.columns.get("id") != "text":
            raise ValueError(f"table {self.name} needs a text `id` column")

    def row(self, key: str) -> Reads:
        """The row of this table whose id is the event's `key` attribute (for `reads=`)."""
        return Reads(self.name, key)


class ProjectionDefinitionError(TypeError):
    """A projection class that does not say what it does with every published event type."""


H = TypeVar("H", bound=Callable[..., None])


def handler(fn: H | None = None, /, *, reads: Sequence[Reads] = ()) -> Any:
    """Mark a method `(self, rows, event, position)` as the handler of the event type(s) its
    `event` parameter is annotated with (`A | B` handles both); `reads` names the rows it may
    read, so a batch loads them all in one query per table."""

    def mark(method: H) -> H:
        method.__dict__["_handler_reads"] = tuple(reads)
        return method

    return mark(fn) if fn is not None else mark


@dataclass(frozen=True)
class _Handler:
    method: Callable[..., None]
    reads: tuple[Reads, ...]


def _handled_types(cls: type, name: str, method: Callable[..., None]) -> tuple[type, ...]:
    where = f"{cls.__qualname__}.{name}"
    parameters = list(inspect.signature(method).parameters)
    if parameters != ["self", "rows", "event", "position"]:
        raise ProjectionDefinitionError(
            f"{where}: a handler takes (self, rows, event, position), not ({', '.join(parameters)})")
    try:
        hint = typing.get_type_hints(method)["event"]
    except NameError as exc:
        raise ProjectionDefinitionError(f"{where}: unknown event type in its annotation ({exc})") \
            from None
    except KeyError:
        raise ProjectionDefinitionError(f"{where}: annotate `event` with the event type it "
                                        "handles") from None
    handled = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    published = set(PUBLISHED_EVENT_CLASSES)
    for event_type in handled:
        if event_type not in published:
            raise ProjectionDefinitionError(
                f"{where}: {getattr(event_type, '__name__', event_type)} is not a published "
                "event type")
    return handled


def events_outside(*prefixes: str) -> frozenset[type[CrmEvent]]:
    """Every published event type whose wire type starts with none of `prefixes` (e.g.
    `"crm.ticket."`): for `ignored` in a model that follows only some aggregates. An event
    type added later to one of those aggregates must still be handled or ignored by name."""
    return frozenset(cls for cls in PUBLISHED_EVENT_CLASSES
                     if not cls.event_type.startswith(prefixes))


def _names(event_types: Iterable[type]) -> str:
    return ", ".join(sorted(t.__name__ for t in event_types))


class Projection:
    """Base of every read model: declare `name`, `tables`, the handlers and `ignored`.

    Handlers must be deterministic: the same rows and event give the same writes, whichever
    runner calls them. They read rows only through `rows.get` and only those `reads=` names.
    """

    name: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]]
    store_kind: ClassVar[Literal["sql", "analytics"]] = "sql"
    """`sql`: PostgreSQL (embedded: SQLite). `analytics`: DuckDB."""
    ignored: ClassVar[frozenset[type[CrmEvent]]] = frozenset()
    """Published event types this model ignores on purpose. (Internal events such as
    TenantRulesChanged never reach a projection.)"""
    handlers: ClassVar[Mapping[type[CrmEvent], _Handler]] = {}
    holds_personal: ClassVar[bool] = False
    """Keeps personal values (sealed with `vault`; services/projections/personal.py)."""
    vault: PersonalDataVault | None = None
    """The store's vault, set by whoever runs the projection into a store; None when it is
    folded in memory (values then stay as they are, and are never written)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        inherited = dict(cls.handlers)
        own: dict[type[CrmEvent], _Handler] = {}
        for name, member in vars(cls).items():
            reads = getattr(member, "_handler_reads", None)
            if reads is None:
                continue
            for event_type in _handled_types(cls, name, member):
                if event_type in own:
                    raise ProjectionDefinitionError(
                        f"{cls.__qualname__}: {event_type.__name__} has two handlers "
                        f"({own[event_type].method.__name__} and {name})")
                own[event_type] = _Handler(member, reads)
        cls.handlers = {**inherited, **own}
        published = set(PUBLISHED_EVENT_CLASSES)
        checks = (("neither handled nor ignored", published - set(cls.handlers) - cls.ignored),
                  ("both handled and ignored", set(cls.handlers) & cls.ignored),
                  ("ignored but not published", cls.ignored - published))
        problems = [f"{text}: {_names(found)}" for text, found in checks if found]
        if problems:
            raise ProjectionDefinitionError(f"{cls.__qualname__}: {'; '.join(problems)}")

    @classmethod
    def from_settings(cls, settings: Settings) -> Projection:
        """The projection configured from settings (a model with thresholds overrides this)."""
        return cls()

    def keys(self, event: CrmEvent) -> list[RowKey]:
        """(table, id) of every row the event's handler reads."""
        found = self.handlers.get(type(event))
        if found is None:
            return []
        return [key for key in (ref.of(event) for ref in found.reads) if key is not None]

    def apply(self, rows: Rows, consumed: ConsumedEvent) -> None:
        found = self.handlers.get(type(consumed.event))
        if found is not None:
            found.method(self, rows, consumed.event, consumed.position)

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)


_MISSING = object()


def _name(table: Table | str) -> str:
    return table.name if isinstance(table, Table) else table


@dataclass
class Rows:
    """The working set of one batch: rows loaded from the store plus this batch's changes.

    Changes made while applying one event are undone if that event fails, so a poison event
    never leaves half of its writes behind.
    """

    loaded: dict[tuple[str, str], Row | None] = field(default_factory=dict)
    changed: dict[tuple[str, str], Row | None] = field(default_factory=dict)
    _undo: list[tuple[tuple[str, str], Any]] = field(default_factory=list)

    def get(self, table: Table | str, row_id: str) -> Row | None:
        """The row as of the events applied so far (a copy-free view: do not mutate it)."""
        key = (_name(table), row_id)
        if key in self.changed:
            return self.changed[key]
        if key not in self.loaded:
            raise KeyError(f"row {key} is not among the rows its handler declares in `reads=`")
        return self.loaded[key]

    def put(self, table: Table | str, row: Row) -> None:
        """Insert or replace the row with this `id`."""
        key = (_name(table), str(row["id"]))
        self._undo.append((key, self.changed.get(key, _MISSING)))
        self.changed[key] = row

    def delete(self, table: Table | str, row_id: str) -> None:
        key = (_name(table), row_id)
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

    def get(self, table: Table | str, row_id: str) -> Row | None:
        key = (_name(table), row_id)
        if key in self.changed:
            return self.changed[key]
        return self.loaded.get(key)

    def all(self, table: Table | str) -> list[Row]:
        wanted = _name(table)
        return [row for (name, _), row in self.changed.items() if name == wanted and row is not None]


def fold(projection: Projection, events: Iterable[ConsumedEvent]) -> MemoryRows:
    """Apply events in order to an empty in-memory state."""
    rows = MemoryRows()
    for consumed in events:
        rows.begin_event()
        projection.apply(rows, consumed)
    return rows
