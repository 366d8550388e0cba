"""Import files read row by row, each row with the line number it starts on: CSV with a header
row, or NDJSON (one JSON object per line)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

FileFormat = Literal["csv", "ndjson"]


class ImportFormatError(ValueError):
    """The file as a whole cannot be imported (unknown format, wrong header)."""


@dataclass(frozen=True)
class SourceRow:
    """A row as read: its fields (blank values left out), or why it could not be read."""

    line: int
    fields: dict[str, Any]
    error: str | None = None
    text: str = ""
    """The row as read (an NDJSON line; a CSV row as a JSON object), for the rejects file."""


def detect_format(path: Path, given: str | None) -> FileFormat:
    chosen = (given or path.suffix.lstrip(".")).lower()
    if chosen in ("jsonl", "json"):
        chosen = "ndjson"
    if chosen not in ("csv", "ndjson"):
        raise ImportFormatError(f"cannot tell the format of {path.name}: name it .csv, .ndjson "
                                "or .jsonl, or pass --format csv|ndjson")
    return chosen  # type: ignore[return-value]


def read_rows(path: Path, fmt: FileFormat, columns: frozenset[str],
              required: frozenset[str]) -> Iterator[SourceRow]:
    """Every data row of the file, in file order. A CSV header naming unknown columns, or
    lacking a required one, refuses the whole file before any row is read."""
    if fmt == "csv":
        yield from _csv_rows(path, columns, required)
    else:
        yield from _ndjson_rows(path)


def _csv_rows(path: Path, columns: frozenset[str], required: frozenset[str]) -> Iterator[SourceRow]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFormatError(f"line 1: unreadable header: {exc}") from None
        unknown = [name for name in header if name not in columns]
        missing = sorted(required - set(header))
        if unknown or missing or len(set(header)) != len(header):
            problems = []
            if unknown:
                problems.append(f"unknown column(s) {', '.join(unknown)}")
            if missing:
                problems.append(f"missing column(s) {', '.join(missing)}")
            if len(set(header)) != len(header):
                problems.append("a column is named twice")
            raise ImportFormatError(f"header of {path.name}: {'; '.join(problems)} (columns: "
                                    f"{', '.join(sorted(columns))})")
        line = reader.line_num + 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield SourceRow(line, {}, f"unreadable CSV: {exc}")
                line = reader.line_num + 1
                continue
            if not values or all(not value.strip() for value in values):
                pass  # blank line
            elif len(values) != len(header):
                yield SourceRow(line, {}, f"expected {len(header)} fields, found {len(values)}",
                                json.dumps(values, ensure_ascii=False))
            else:
                fields = {name: value for name, value in zip(header, values, strict=True)
                          if value.strip()}
                text = json.dumps(dict(zip(header, values, strict=True)), ensure_ascii=False)
                yield SourceRow(line, fields, text=text)
            line = reader.line_num + 1


def _ndjson_rows(path: Path) -> Iterator[SourceRow]:
    with path.open(encoding="utf-8-sig") as handle:
        for line, text in enumerate(handle, start=1):
            text = text.strip()
            if not text:
                continue
            try:
                document = json.loads(text)
            except ValueError as exc:
                yield SourceRow(line, {}, f"not JSON: {exc}", text)
                continue
            if not isinstance(document, dict):
                yield SourceRow(line, {}, "not a JSON object", text)
                continue
            fields = {key: value for key, value in document.items()
                      if value is not None and value != ""}
            yield SourceRow(line, fields, text=text)
