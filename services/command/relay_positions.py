"""Where a relay keeps its position, and whether it may publish (see relay.py).

Table `chronicle_relay_position` (one row per topic) lives in the event store's own database.
On PostgreSQL one relay is active per schema and topic: it holds a session-level advisory lock
on a dedicated connection and writes its position through that same connection, so a relay
that lost its connection (and with it the lock) cannot record anything. On SQLite the embedded
server runs a single relay.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from services.common.event_store import ChronicleStore
from services.common.settings import Settings

log = logging.getLogger("chronicle.relay")

POSITION_TABLE = "chronicle_relay_position"


class RelayNotActive(RuntimeError):
    """Another relay holds the lock for this topic; this one may not publish."""


class PositionTable(Protocol):
    """Where a relay keeps its position, and whether it may publish."""

    def try_lead(self) -> bool:
        """True when this relay is (now) the one allowed to publish."""

    def load(self) -> int: ...

    def record(self, position: int) -> None: ...

    def step_down(self) -> None: ...

    def close(self) -> None: ...



def position_table(store: ChronicleStore, settings: Settings, topic: str) -> PositionTable:
    recorder = store.recorder
    if isinstance(recorder, PostgresApplicationRecorder):
        assert settings.postgres_url is not None, "a PostgreSQL store needs settings.postgres_url"
        return _PostgresPositions(settings.postgres_url.get_secret_value(),
                                  recorder.datastore.schema, topic)
    if isinstance(recorder, SQLiteApplicationRecorder):
        return _SQLitePositions(recorder.datastore, topic)
    return _MemoryPositions()


class _MemoryPositions:
    """For the in-memory store: the position lives as long as the process, like the events."""

    def __init__(self) -> None:
        self._position = 0

    def try_lead(self) -> bool:
        return True

    def load(self) -> int:
        return self._position

    def record(self, position: int) -> None:
        self._position = max(self._position, position)

    def step_down(self) -> None:
        pass

    def close(self) -> None:
        pass


class _SQLitePositions:
    """The position table in the events.sqlite file, written through the store's datastore
    (whose writer lock it shares with the command side)."""

    def __init__(self, datastore: SQLiteDatastore, topic: str) -> None:
        self._datastore = datastore
        self._topic = topic
        with datastore.transaction(commit=True) as curs:
            curs.execute(f"CREATE TABLE IF NOT EXISTS {POSITION_TABLE} (topic TEXT PRIMARY KEY, "
                         "position INTEGER NOT NULL, updated_at TEXT NOT NULL)")

    def try_lead(self) -> bool:
        return True

    def load(self) -> int:
        with self._datastore.transaction(commit=False) as curs:
            curs.execute(f"SELECT position FROM {POSITION_TABLE} WHERE topic = ?", [self._topic])
            row = curs.fetchone()
        return int(row[0]) if row else 0

    def record(self, position: int) -> None:
        with self._datastore.transaction(commit=True) as curs:
            curs.execute(
                f"INSERT INTO {POSITION_TABLE} (topic, position, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (topic) DO UPDATE SET position = excluded.position, "
                "updated_at = excluded.updated_at "
                f"WHERE excluded.position > {POSITION_TABLE}.position",
                [self._topic, position, datetime.now(UTC).isoformat()],
            )

    def step_down(self) -> None:
        pass

    def close(self) -> None:
        pass


class _PostgresPositions:
    """The position table in the store's schema, and the advisory lock electing one relay.

    Both go through one dedicated connection: the session-level lock lives exactly as long as
    that connection, and a relay that lost it cannot record a position any more.
    """

    def __init__(self, url: str, schema: str, topic: str) -> None:
        from psycopg import sql

        self._url = url
        self._topic = topic
        # Names the relay and its topic in pg_stat_activity (63 bytes at most).
        self.application_name = f"chronicle-relay:{topic}"[:63]
        self._table = sql.Identifier(schema, POSITION_TABLE)
        digest = hashlib.sha256(f"chronicle-relay:{schema}:{topic}".encode()).digest()
        self._lock_key = int.from_bytes(digest[:8], "big", signed=True)
        self._conn: Any = None
        self._leading = False
        self._mutex = threading.Lock()  # status() may read from another thread
        self._create_table()

    def _connection(self) -> Any:

        if self._conn is None or self._conn.closed:
            self._leading = False  # a new session holds no lock
            self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=10,
                                         application_name=self.application_name,
                                         keepalives=1, keepalives_idle=10)
        return self._conn

    def _run(self, statement: Any, params: tuple[Any, ...] = ()) -> Any:
        """Execute on the dedicated connection; a broken connection means the lock is gone."""

        with self._mutex:
            try:
                return self._connection().execute(statement, params).fetchone()
            except psycopg.OperationalError:
                self._drop()
                raise

    def _create_table(self) -> None:
        from psycopg import errors, sql

        create = sql.SQL("CREATE TABLE IF NOT EXISTS {} (topic text PRIMARY KEY, "
                         "position bigint NOT NULL, updated_at timestamptz NOT NULL)"
                         ).format(self._table)
        try:
            with self._mutex:
                self._connection().execute(create)
        except (errors.UniqueViolation, errors.DuplicateTable):
            pass  # another relay created it at the same moment

    def try_lead(self) -> bool:
        if self._leading:
            self._run("SELECT 1")  # still connected, so still holding the lock
            return self._leading
        row = self._run("SELECT pg_try_advisory_lock(%s)", (self._lock_key,))
        self._leading = bool(row[0])
        return self._leading

    def load(self) -> int:
        from psycopg import sql

        row = self._run(sql.SQL("SELECT position FROM {} WHERE topic = %s").format(self._table),
                        (self._topic,))
        return int(row[0]) if row else 0

    def record(self, position: int) -> None:
        from psycopg import sql

        if not self._leading:
            raise RelayNotActive("this relay lost the lock; not recording a position")
        self._run(sql.SQL(
            "INSERT INTO {table} (topic, position, updated_at) VALUES (%s, %s, now()) "
            "ON CONFLICT (topic) DO UPDATE SET position = EXCLUDED.position, "
            "updated_at = EXCLUDED.updated_at WHERE {table}.position < EXCLUDED.position "
            "RETURNING position"
        ).format(table=self._table), (self._topic, position))

    def step_down(self) -> None:
        if self._leading and self._conn is not None and not self._conn.closed:
            self._run("SELECT pg_advisory_unlock_all()")
        self._leading = False

    def close(self) -> None:
        with self._mutex:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._leading = False
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken
                pass
