"""Read an export directory back as catalog events, in position order: a projection `Source`.

This is what lets `crm replay --to FILE.duckdb --from-export DIR` run the very projector code
of production on a copy, far from the production store. Parquet month partitions are each in
position order, so a k-way merge of their row batches restores the global order in bounded
memory.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pydantic import BaseModel

from services.common.events.catalog import BY_TYPE
from services.common.events.envelope import CrmEvent
from services.projections.offline.export import ENVELOPE_COLUMNS, NDJSON_FILE
from services.projections.sources import Source, SourceRecord

_READ_BATCH = 10_000


class ExportFormatError(ValueError):
    """The directory holds no export this reader understands."""


def read_export(directory: Path) -> Iterator[tuple[int, CrmEvent]]:
    """Every event of an export as (position, event), in position order."""
    for row in _rows(directory):
        yield row["position"], event_from_row(row)


def event_from_row(row: Mapping[str, Any]) -> CrmEvent:
    """Rebuild the catalog event an export row was made from.

    A `--no-personal` export has no personal data; events whose `personal` is required get
    one with empty text fields, which no analytics model reads.
    """
    cls = BY_TYPE.get(row["type"])
    if cls is None or cls.internal:
        raise ExportFormatError(f"position {row['position']}: unknown event type {row['type']!r}")
    fields: dict[str, Any] = {name: row[name] for name in ENVELOPE_COLUMNS
                              if name not in ("position", "type", "schema_version")}
    fields.update(json.loads(row["data"]))
    personal = row.get("personal")
    if personal is not None:
        fields["personal"] = json.loads(personal)
    elif "personal" in cls.model_fields and cls.model_fields["personal"].is_required():
        fields["personal"] = _blank_personal(cls)
    return cls.model_validate(fields)


def _blank_personal(cls: type[CrmEvent]) -> dict[str, Any]:
    model = cls.model_fields["personal"].annotation
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return {}
    return {name: "" for name, info in model.model_fields.items() if info.is_required()}


def _rows(directory: Path) -> Iterator[dict[str, Any]]:
    parquet_files = sorted(directory.glob("occurred_month=*/*.parquet"))
    ndjson = directory / NDJSON_FILE
    if parquet_files:
        yield from heapq.merge(*(_parquet_rows(path) for path in parquet_files),
                               key=lambda row: row["position"])
    elif ndjson.exists():
        yield from _ndjson_rows(ndjson)
    else:
        raise ExportFormatError(f"{directory} holds no export (no occurred_month=*/ Parquet "
                                f"partitions, no {NDJSON_FILE})")


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    with pq.ParquetFile(path) as parquet:
        for batch in parquet.iter_batches(batch_size=_READ_BATCH):
            yield from batch.to_pylist()


def _ndjson_rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                row["occurred_at"] = datetime.fromisoformat(row["occurred_at"])
                row["recorded_at"] = datetime.fromisoformat(row["recorded_at"])
                yield row


class ExportSource(Source):
    """An export directory as a one-partition topic whose offsets are the stored positions,
    exactly like `EventStoreSource`, so a replay of an export and one of the store record the
    same progress."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._events = read_export(directory)
        self._next = 1

    def seek(self, next_offsets: dict[int, int]) -> None:
        # A fresh generation starts at 1; a resumed one skips what it has applied (the export
        # is re-read from its start, since files are not indexed by position).
        wanted = max(1, next_offsets.get(0, 1))
        if wanted < self._next:
            self._events = read_export(self._directory)
        self._next = wanted

    def poll(self, max_records: int, timeout_s: float) -> list[SourceRecord]:
        out: list[SourceRecord] = []
        for position, event in self._events:
            if position < self._next:
                continue
            out.append(SourceRecord(0, position, position, event))
            if len(out) >= max_records:
                break
        if out:
            self._next = out[-1].offset + 1
        return out

    def lag(self, applied_offsets: dict[int, int]) -> int | None:
        return None  # unknown without reading ahead; the rebuild stops on an empty poll

    def reached(self, position: int, progress: Mapping[int, Any]) -> bool:
        applied = progress.get(0)
        return applied is not None and applied.position >= position
