"""Sealing a store written before personal data was encrypted (`crm privacy seal`).

Stored events whose `personal` object (or, in version 1 of the affected types, a free-text
field) is in plain text are rewritten in place as today's version with `personal` sealed under
the customer's key — the one change to stored events the system ever makes, and one that keeps
every value: each rewritten event is read back and compared with what it was. The read models
built from the old events hold the values too, so they are rebuilt afterwards (the command
does it), and the log's hash chain is recomputed over the new bytes and signed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import resolve_topic

from services.common.event_store import ChronicleStore
from services.common.events.envelope import CrmEvent, PersonalTextEvent
from services.common.privacy.vault import CustomerForgotten, is_sealed

BATCH = 2000


@dataclass
class SealingResult:
    scanned: int = 0
    sealed: int = 0
    """Events rewritten with their personal values sealed."""
    verified: int = 0
    """Events read back after the rewrite and found equal to what they were."""


def needs_sealing(cls: type[CrmEvent], state: dict[str, Any]) -> bool:
    """Whether a stored state holds personal values in plain text."""
    personal = state.get("personal")
    if isinstance(personal, dict) and not is_sealed(personal):
        return True
    if issubclass(cls, PersonalTextEvent) and state.get("schema_version", 1) < 2:
        return any(state.get(name) is not None for name in cls.personal_fields)
    return False


def seal_store(store: ChronicleStore, progress: Callable[[int, int], None] | None = None,
               batch: int = BATCH) -> SealingResult:
    """Rewrite every stored event that holds personal values in plain text (see module doc)."""
    result = SealingResult()
    head = store.recorder.max_notification_id() or 0
    mapper = store.mapper
    for notifications in _batches(store, batch):
        rewrites: list[tuple[int, bytes, CrmEvent]] = []
        for notification in notifications:
            result.scanned += 1
            cls: type[CrmEvent] = resolve_topic(notification.topic)
            if not needs_sealing(cls, json.loads(notification.state)):
                continue
            event = cast(CrmEvent, mapper.to_domain_event(notification))
            try:
                state = mapper.to_stored_event(event).state
            except CustomerForgotten:  # erased since: its plain text goes, sealed by nobody
                event = event.model_copy(update={"personal": None})
                state = mapper.to_stored_event(event).state
            rewrites.append((notification.id, state, event))
        if rewrites:
            _rewrite(store, [(position, state) for position, state, _ in rewrites])
            for position, _, before in rewrites:
                after = _read_one(store, position)
                if after != before:
                    raise RuntimeError(f"the event at position {position} did not read back "
                                       "the same after sealing: the store was left as it is "
                                       "from there on")
                result.verified += 1
            result.sealed += len(rewrites)
        if progress is not None:
            progress(notifications[-1].id, head)
    return result


def plain_text_left(store: ChronicleStore, batch: int = BATCH) -> int:
    """How many stored events still hold personal values in plain text."""
    return sum(needs_sealing(resolve_topic(n.topic), json.loads(n.state))
               for notifications in _batches(store, batch) for n in notifications)


def _batches(store: ChronicleStore, batch: int) -> Iterator[Sequence[Any]]:
    start = 1
    while True:
        notifications = store.recorder.select_notifications(start=start, limit=batch)
        if not notifications:
            return
        yield notifications
        start = notifications[-1].id + 1


def _read_one(store: ChronicleStore, position: int) -> CrmEvent:
    [notification] = store.recorder.select_notifications(start=position, limit=1)
    return cast(CrmEvent, store.mapper.to_domain_event(StoredEvent(
        originator_id=notification.originator_id,
        originator_version=notification.originator_version,
        topic=notification.topic, state=notification.state)))


def _rewrite(store: ChronicleStore, rewrites: list[tuple[int, bytes]]) -> None:
    recorder = store.recorder
    if isinstance(recorder, PostgresApplicationRecorder):
        from psycopg import sql

        statement = sql.SQL("UPDATE {}.{} SET state = %s WHERE notification_id = %s").format(
            sql.Identifier(recorder.datastore.schema), sql.Identifier(recorder.events_table_name))
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.executemany(statement, [(state, position) for position, state in rewrites])
    elif isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute("PRAGMA secure_delete = ON")  # the old pages' plain text is zeroed
            cursor.executemany(f"UPDATE {recorder.events_table_name} SET state = ? "
                               "WHERE rowid = ?", [(state, position) for position, state in rewrites])
    else:
        raise TypeError(f"cannot rewrite events of {type(recorder).__name__}")


def purge_old_copies(store_settings: Any, *, analytics_too: bool = True) -> list[str]:
    """Rewrite the files that may still hold the plain text as dead rows or free pages, once
    the events are sealed and the read models rebuilt (every store closed): the SQLite files
    are vacuumed, the PostgreSQL events table is rewritten (VACUUM FULL), and the DuckDB
    analytics file — derived data — is deleted, to be rebuilt. What was done, to tell."""
    import sqlite3

    from services.common.settings import Settings

    settings = cast(Settings, store_settings)
    done: list[str] = []
    if settings.store == "postgres":
        import psycopg
        from psycopg import sql

        assert settings.postgres_url is not None
        with psycopg.connect(settings.postgres_url.get_secret_value(), autocommit=True) as conn:
            conn.execute(sql.SQL("VACUUM FULL {}.{}").format(
                sql.Identifier(settings.postgres_schema), sql.Identifier("chronicle_events")))
        done.append(f"VACUUM FULL {settings.postgres_schema}.chronicle_events")
    else:
        paths = [settings.sqlite_path, settings.readmodels_sqlite_path]
        for path in paths:
            if path.exists():
                with sqlite3.connect(path, isolation_level=None) as database:
                    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    database.execute("VACUUM")
                    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                database.close()
                done.append(f"vacuumed {path}")
    analytics = settings.analytics_file
    for path in () if not analytics_too else (analytics, analytics.with_name(analytics.name + ".wal")):
        if path.exists():
            path.unlink()
            done.append(f"deleted {path}")
    return done
