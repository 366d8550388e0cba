"""`crm export`: the event store's notification log as flat files (docs/export.md).

One row per published event, in position order, with the envelope as columns and the event's
own fields as a JSON string (`data`), personal data apart (`personal`) so it can be left out.
Parquet is partitioned by the month of business time (`occurred_month=YYYY-MM/part-0.parquet`),
because analysts slice by business time and a back-dated import must land in its own month,
not in the month it was loaded. NDJSON is one file per run.

The log is read in batches and written as it goes: memory stays bounded by the batch and the
Parquet buffers, whatever the size of the store.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal, cast
from uuid import UUID

import pyarrow as pa
import pyarrow.parquet as pq
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic, resolve_topic

from services.common.event_store import ChronicleStore
from services.common.events.catalog import BY_TYPE, PUBLISHED_EVENT_CLASSES
from services.common.events.envelope import CrmEvent
from services.common.private_files import private_dir, private_file
from services.common.times import as_utc

ExportFormat = Literal["parquet", "ndjson"]
EXPORT_SCHEMA_VERSION = 1
"""Bumped when a column changes meaning or type; readers find it in `_manifest.json`."""

ENVELOPE_COLUMNS: tuple[str, ...] = (
    "position", "event_id", "type", "schema_version", "aggregate_id", "aggregate_version",
    "customer_id", "tenant_id", "actor", "occurred_at", "recorded_at", "correlation_id",
    "causation_id",
)
_UTC_US = pa.timestamp("us", tz="UTC")
ARROW_SCHEMA = pa.schema([
    pa.field("position", pa.int64(), nullable=False),
    pa.field("event_id", pa.string(), nullable=False),
    pa.field("type", pa.string(), nullable=False),
    pa.field("schema_version", pa.int32(), nullable=False),
    pa.field("aggregate_id", pa.string(), nullable=False),
    pa.field("aggregate_version", pa.int64(), nullable=False),
    pa.field("customer_id", pa.string(), nullable=False),
    pa.field("tenant_id", pa.string(), nullable=False),
    pa.field("actor", pa.string(), nullable=False),
    pa.field("occurred_at", _UTC_US, nullable=False),
    pa.field("recorded_at", _UTC_US, nullable=False),
    pa.field("correlation_id", pa.string(), nullable=False),
    pa.field("causation_id", pa.string()),
    pa.field("data", pa.string(), nullable=False),
    pa.field("personal", pa.string()),
])
"""The columns of every export, both formats (NDJSON writes timestamps as ISO 8601 UTC text)."""

MANIFEST = "_manifest.json"
"""Leading underscore: pyarrow, pandas and Spark skip it when reading the directory."""
NDJSON_FILE = "events.ndjson"

ProgressCallback = Callable[[int, int, int], None]
"""Called after every batch with (last position scanned, head position, events written)."""


@dataclass(frozen=True)
class ExportFilter:
    """Which events to export. Empty collections mean no restriction.

    `start`/`end` bound business time (`occurred_at`) half-open, `[start, end)`; `customers`
    matches the envelope's `customer_id`.
    """

    start: datetime | None = None
    end: datetime | None = None
    types: frozenset[str] = frozenset()
    customers: frozenset[UUID] = frozenset()

    def __post_init__(self) -> None:
        unknown = sorted(t for t in self.types if t not in _PUBLISHED_TYPES)
        if unknown:
            raise ValueError(f"unknown event type(s) {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(_PUBLISHED_TYPES))}")
        for moment in (self.start, self.end):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("export time bounds must be timezone-aware")

    def topics(self) -> list[str] | None:
        """Stored topics to ask the recorder for, so unwanted types are never decoded."""
        return sorted(get_topic(BY_TYPE[t]) for t in self.types) if self.types else None

    def accepts(self, row: dict[str, Any]) -> bool:
        occurred: datetime = row["occurred_at"]
        if self.start is not None and occurred < self.start:
            return False
        if self.end is not None and occurred >= self.end:
            return False
        if self.customers and UUID(row["customer_id"]) not in self.customers:
            return False
        return not self.types or row["type"] in self.types

    def describe(self) -> dict[str, Any]:
        return {"from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None,
                "types": sorted(self.types), "customers": sorted(map(str, self.customers))}


_PUBLISHED_TYPES = frozenset(cls.event_type for cls in PUBLISHED_EVENT_CLASSES)


@dataclass
class ExportSummary:
    events: int = 0
    scanned: int = 0
    """Stored events read: all of them, or with a type filter only those of its types (the
    others are never read); internal ones and those the other filters leave out included."""
    stored: int = 0
    """Every event in the store when the export ended, whatever the filter, internal ones
    included: the "of N stored" of `crm export`."""
    files: list[Path] = field(default_factory=list)
    last_position: int = 0
    seconds: float = 0.0
    tenants: set[str] = field(default_factory=set)
    """Tenants with an exported event (the access log records whose data left)."""
    customers: set[tuple[str, str]] = field(default_factory=set)
    """(tenant, customer) of the exported events, kept only when the filter names customers
    (so bounded by it)."""

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class ExportError(RuntimeError):
    """The export cannot start (e.g. the target directory is not empty)."""


def export_events(
    store: ChronicleStore, out_dir: Path, *, fmt: ExportFormat, where: ExportFilter | None = None,
    personal: bool = True, batch_size: int = 10_000, buffer_rows: int = 100_000,
    overwrite: bool = False, on_progress: ProgressCallback | None = None,
) -> ExportSummary:
    """Write every published event the filter accepts, in position order, into `out_dir`.

    `buffer_rows` bounds the rows held for Parquet before they are written as row groups:
    events arrive in position order, not month order, so each month keeps its own writer.
    `_manifest.json` is written last: a directory without one is an unfinished export.
    """
    where = where or ExportFilter()
    _prepare(out_dir, overwrite)
    summary = ExportSummary()
    started = time.perf_counter()
    head = store.recorder.max_notification_id() or 0
    sink: _Sink = _ParquetSink(out_dir, buffer_rows) if fmt == "parquet" \
        else _NdjsonSink(out_dir / NDJSON_FILE)
    try:
        for batch, last_position, scanned in _read_log(store, where, batch_size):
            summary.scanned += scanned
            summary.last_position = last_position
            rows = [row for row in batch if where.accepts(row)]
            if not personal:
                for row in rows:
                    row["personal"] = None
            sink.write(rows)
            summary.events += len(rows)
            summary.tenants.update(row["tenant_id"] for row in rows)
            if where.customers:
                summary.customers.update((row["tenant_id"], row["customer_id"]) for row in rows)
            if on_progress is not None:
                on_progress(last_position, max(head, last_position), summary.events)
    finally:
        summary.files = sink.close()
    summary.stored = count_stored(store)
    summary.seconds = time.perf_counter() - started
    _write_manifest(out_dir, fmt, where, personal, summary)
    return summary


def count_stored(store: ChronicleStore) -> int:
    """How many events the store holds. Counted, because the last position is not a count on
    PostgreSQL: a failed insert burns its position."""
    recorder = store.recorder
    if isinstance(recorder, PostgresApplicationRecorder):
        from psycopg import sql

        query = sql.SQL("SELECT count(*) AS stored FROM {}.{}").format(
            sql.Identifier(recorder.datastore.schema), sql.Identifier(recorder.events_table_name))
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(query)
            row = curs.fetchone()
    elif isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(f"SELECT count(*) AS stored FROM {recorder.events_table_name}")
            row = curs.fetchone()
    else:  # in memory: positions without gaps
        return recorder.max_notification_id() or 0
    return int(row["stored"]) if row else 0


def _prepare(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise ExportError(f"{out_dir} is not empty; choose an empty directory or overwrite")
        shutil.rmtree(out_dir)
    private_dir(out_dir)  # exports hold personal data: 0700, each file 0600


def _write_manifest(out_dir: Path, fmt: ExportFormat, where: ExportFilter, personal: bool,
                    summary: ExportSummary) -> None:
    manifest = {
        "export_schema_version": EXPORT_SCHEMA_VERSION, "format": fmt,
        "created_at": datetime.now(UTC).isoformat(), "filter": where.describe(),
        "personal": personal, "events": summary.events,
        "last_position_scanned": summary.last_position,
        "files": [str(path.relative_to(out_dir)) for path in summary.files],
    }
    private_file(out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


# -- reading the log --------------------------------------------------------------------------


def _read_log(store: ChronicleStore, where: ExportFilter, batch_size: int
              ) -> Iterator[tuple[list[dict[str, Any]], int, int]]:
    """Batches of rows (internal events dropped) with the last position read and the count of
    stored events read."""
    recorder = store.recorder
    decode = _Decoder(store)
    topics = where.topics()
    start = 1
    while True:
        notifications = recorder.select_notifications(start=start, limit=batch_size,
                                                      topics=topics or ())
        if not notifications:
            return
        rows = [row for row in map(decode, notifications) if row is not None]
        last = notifications[-1].id
        yield rows, last, len(notifications)
        start = last + 1


class _Decoder:
    """A stored event as an export row.

    A current version-1 event without personal values is read straight from its stored JSON:
    it was validated when it was written and is exactly `model_dump_json()`, so validating it
    again would only cost time. Anything older, or holding sealed personal values, goes
    through the mapper, which upcasts and opens it.
    """

    def __init__(self, store: ChronicleStore) -> None:
        self._mapper = store.mapper
        self._classes: dict[str, type[CrmEvent]] = {}

    def __call__(self, notification: Any) -> dict[str, Any] | None:
        cls = self._classes.get(notification.topic)
        if cls is None:
            cls = self._classes[notification.topic] = resolve_topic(notification.topic)
        if cls.internal:
            return None
        payload = notification.state
        mapper = self._mapper
        if mapper.cipher:
            payload = mapper.cipher.decrypt(payload)
        if mapper.compressor:
            payload = mapper.compressor.decompress(payload)
        if cls.schema_version == 1 and "personal" not in cls.model_fields \
                and b'"schema_version"' not in payload:
            state: dict[str, Any] = json.loads(payload)
        else:
            event = cast(CrmEvent, mapper.to_domain_event(notification))
            state = event.model_dump(mode="json")
        return _row(notification.id, cls, state)


def _row(position: int, cls: type[CrmEvent], state: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "position": position, "event_id": state.pop("event_id"), "type": cls.event_type,
        "schema_version": cls.schema_version, "aggregate_id": state.pop("aggregate_id"),
        "aggregate_version": state.pop("aggregate_version"),
        "customer_id": state.pop("customer_id"), "tenant_id": state.pop("tenant_id"),
        "actor": state.pop("actor"),
        "occurred_at": as_utc(state.pop("occurred_at")),
        "recorded_at": as_utc(state.pop("recorded_at")),
        "correlation_id": state.pop("correlation_id"),
        "causation_id": state.pop("causation_id", None),
    }
    personal = state.pop("personal", None)
    row["data"] = json.dumps(state, separators=(",", ":"), ensure_ascii=False)
    row["personal"] = None if personal is None \
        else json.dumps(personal, separators=(",", ":"), ensure_ascii=False)
    return row


# -- writing files ----------------------------------------------------------------------------


class _Sink:
    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        raise NotImplementedError

    def close(self) -> list[Path]:
        raise NotImplementedError


class _ParquetSink(_Sink):
    """One open writer per business month; rows are buffered per month and written as row
    groups once `buffer_rows` are held in all."""

    def __init__(self, out_dir: Path, buffer_rows: int) -> None:
        self._dir = out_dir
        self._limit = buffer_rows
        self._buffers: dict[str, list[dict[str, Any]]] = {}
        self._held = 0
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._paths: list[Path] = []

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            self._buffers.setdefault(row["occurred_at"].strftime("%Y-%m"), []).append(row)
        self._held += len(rows)
        if self._held >= self._limit:
            self._flush()

    def _flush(self) -> None:
        for month, rows in self._buffers.items():
            if not rows:
                continue
            writer = self._writers.get(month)
            if writer is None:
                path = self._dir / f"occurred_month={month}" / "part-0.parquet"
                private_file(private_dir(path.parent) / path.name)  # the writer keeps the mode
                writer = self._writers[month] = pq.ParquetWriter(path, ARROW_SCHEMA,
                                                                 compression="zstd")
                self._paths.append(path)
            writer.write_table(pa.Table.from_pylist(rows, schema=ARROW_SCHEMA))
        self._buffers = {}
        self._held = 0

    def close(self) -> list[Path]:
        try:
            self._flush()
        finally:
            for writer in self._writers.values():
                writer.close()
        return sorted(self._paths)


class _NdjsonSink(_Sink):
    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[str] = private_file(path).open("w", encoding="utf-8")

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        self._file.writelines(_ndjson_line(row) for row in rows)

    def close(self) -> list[Path]:
        self._file.close()
        return [self._path]


def _ndjson_line(row: dict[str, Any]) -> str:
    out = dict(row)
    out["occurred_at"] = _iso_z(row["occurred_at"])
    out["recorded_at"] = _iso_z(row["recorded_at"])
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False) + "\n"


def _iso_z(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def month_partitions(out_dir: Path) -> Iterable[str]:
    """The business months present in a Parquet export, oldest first."""
    return sorted(p.name.partition("=")[2] for p in out_dir.glob("occurred_month=*"))
