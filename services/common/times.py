"""The one text form of a moment, and the one way to read one.

The rule for time zones: a moment the CRM stores or computes is always aware, and a naive one is
a programming error (`iso` refuses it); a date or timestamp a person types (command-line options,
import files, API date parameters) without an offset is UTC, and a plain date is midnight UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def iso(moment: datetime) -> str:
    """UTC, microseconds, offset: `2026-01-31T09:30:00.000000+00:00`. Read models store
    timestamps as this text (or as timestamptz on PostgreSQL), so comparing the texts compares
    the moments."""
    if moment.tzinfo is None:
        raise ValueError(f"a stored moment needs a time zone, got {moment.isoformat()}")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def iso_text(value: datetime | str) -> str:
    """A moment, or ISO text of one with an offset, in `iso()`'s form."""
    return iso(datetime.fromisoformat(value) if isinstance(value, str) else value)


def parse_moment(text: str) -> datetime:
    """A date or timestamp as a person types it: `2024-01-31` is midnight UTC, a timestamp
    without an offset is UTC. ValueError names the text when it is neither."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or timestamp") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def as_utc(value: Any) -> datetime | None:
    """A timestamp column as an aware UTC datetime: PostgreSQL gives datetimes, SQLite and
    DuckDB text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)
