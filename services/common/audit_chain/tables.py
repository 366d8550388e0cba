"""The chain's two tables in the event store's own database, and every statement on them.

`crm_event_chain` holds one row per stored event, keyed by its position (the notification id):

| column | what |
|---|---|
| position | the event's notification id (SQLite rowid, PostgreSQL `notification_id`) |
| seq | its ordinal in the chain (1, 2, 3 …; PostgreSQL positions may have gaps, seq has none) |
| originator_id, originator_version | which event it is (the aggregate and its version) |
| content_hash | SHA-256 of the event's canonical content (hashing.content_hash) |
| prev_hash | the content_hash of the aggregate's previous version (zeros for its first) |
| chain_hash | the log-wide chain hash up to and including this row (hashing.chain_hash) |

`crm_audit_checkpoints` holds the signed checkpoints (checkpoints.Checkpoint), keyed by the
position they vouch for; `published_at` is set once the Kafka topic has acknowledged one.

One class per engine: SQLite (`?`, blobs, the events' ids as 32 hex digits) and PostgreSQL
(`%s`, bytea, uuid, schema-qualified names). Cursors are the library's own, in transactions the
recorders (writes) or `snapshot()` (verification) opened.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from services.common.audit_chain.hashing import GENESIS, originator_bytes

CHAIN_TABLE = "crm_event_chain"
CHECKPOINT_TABLE = "crm_audit_checkpoints"
PAGE = 10_000
"""Rows per read while verifying or chaining (keyset pages, so memory stays flat)."""

ChainRow = tuple[int, int, bytes, int, bytes, bytes, bytes]
"""(position, seq, originator, version, content_hash, prev_hash, chain_hash)."""
EventRow = tuple[int, bytes, int, str, bytes]
"""(position, originator, version, topic, state) of a stored event."""
CheckpointRow = tuple[int, int, bytes, str, str, bytes, str, str | None]
"""(position, count, chain_hash, created_at, key_id, signature, kind, reason)."""
CHECKPOINT_COLUMNS = "position, count, chain_hash, created_at, key_id, signature, kind, reason"


def _checkpoint(r: Any) -> CheckpointRow:
    return (r[0], r[1], bytes(r[2]), r[3], r[4], bytes(r[5]), r[6], r[7])


@dataclass(frozen=True)
class ChainHead:
    """Where the chain ends: the last row's position, seq and chain hash."""

    position: int
    seq: int
    chain: bytes


EMPTY = ChainHead(0, 0, GENESIS)


class ChainTables(ABC):
    """The SQL of the chain and checkpoint tables on one engine."""

    mark = "?"

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder

    # -- transactions ---------------------------------------------------------------------------

    @abstractmethod
    @contextmanager
    def snapshot(self) -> Iterator[Any]:
        """A cursor reading one consistent snapshot of events, chain and checkpoints."""

    @abstractmethod
    @contextmanager
    def writing(self) -> Iterator[Any]:
        """A cursor in a committed write transaction that holds the events' write lock."""

    @contextmanager
    def plain_write(self) -> Iterator[Any]:
        """A cursor in a committed write transaction (no lock on the events)."""
        with self.recorder.datastore.transaction(commit=True) as cursor:
            yield cursor

    # -- the chain ------------------------------------------------------------------------------

    @abstractmethod
    def create_statements(self) -> list[Any]: ...

    def head(self, cursor: Any) -> ChainHead:
        return self.head_before(cursor, None)

    @abstractmethod
    def head_before(self, cursor: Any, position: int | None) -> ChainHead:
        """The last chain row before `position` (None: the last of all), or EMPTY."""

    @abstractmethod
    def stored_events(self, cursor: Any, keys: Sequence[tuple[bytes, int]]
                      ) -> dict[tuple[bytes, int], EventRow]:
        """The stored events with these (originator, version) keys, by key (absent: none),
        through the events table's primary key."""

    def head_and_events(self, cursor: Any, keys: Sequence[tuple[bytes, int]]
                        ) -> tuple[ChainHead, dict[tuple[bytes, int], EventRow]]:
        """`head` and `stored_events` together (what every write asks first)."""
        return self.head(cursor), self.stored_events(cursor, keys)

    @abstractmethod
    def insert_rows(self, cursor: Any, rows: Sequence[ChainRow]) -> None: ...

    @abstractmethod
    def chain_rows(self, cursor: Any, after: int, limit: int) -> list[ChainRow]: ...

    @abstractmethod
    def event_rows(self, cursor: Any, after: int, limit: int) -> list[EventRow]: ...

    @abstractmethod
    def chain_position_of(self, cursor: Any, originator: bytes, version: int) -> int | None:
        """Where the chain recorded this event (aggregate and version), if anywhere. A scan:
        asked only once something broke, it keeps an index off every write."""

    @abstractmethod
    def max_event_position(self, cursor: Any) -> int: ...

    # -- checkpoints ----------------------------------------------------------------------------

    @abstractmethod
    def checkpoint_rows(self, cursor: Any, since: int = 0) -> list[CheckpointRow]:
        """Checkpoints at `since` or later, in position order."""

    @abstractmethod
    def last_checkpoint(self, cursor: Any) -> CheckpointRow | None: ...

    @abstractmethod
    def clear(self, cursor: Any) -> None:
        """Delete every chain row and checkpoint (a re-chain starts over)."""

    @abstractmethod
    def insert_checkpoint(self, cursor: Any, row: CheckpointRow) -> bool:
        """Store a checkpoint unless one exists at its position; whether it was stored."""

    @abstractmethod
    def unpublished(self, cursor: Any) -> list[CheckpointRow]: ...

    @abstractmethod
    def mark_published(self, cursor: Any, positions: Sequence[int], at: str) -> None: ...


class SQLiteChainTables(ChainTables):
    """SQLite: the events' rowid is the position; originators are stored as 16-byte blobs."""

    mark = "?"

    def __init__(self, recorder: Any) -> None:
        super().__init__(recorder)
        self.events = recorder.events_table_name

    def create_statements(self) -> list[Any]:
        return self.statements()

    @staticmethod
    def statements() -> list[str]:
        """The tables (the recorder adds them to its own statements, so they are created
        with the events table)."""
        return [
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} (position INTEGER PRIMARY KEY, "
            "seq INTEGER NOT NULL, originator_id BLOB NOT NULL, originator_version INTEGER NOT "
            "NULL, content_hash BLOB NOT NULL, prev_hash BLOB NOT NULL, chain_hash BLOB NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} (position INTEGER PRIMARY KEY, "
            "count INTEGER NOT NULL, chain_hash BLOB NOT NULL, created_at TEXT NOT NULL, "
            "key_id TEXT NOT NULL, signature BLOB NOT NULL, kind TEXT NOT NULL, reason TEXT, "
            "published_at TEXT)",
        ]

    @contextmanager
    def snapshot(self) -> Iterator[Any]:
        # One read transaction: in WAL mode every statement in it sees the same snapshot.
        with self.recorder.datastore.transaction(commit=False) as cursor:
            yield cursor

    @contextmanager
    def writing(self) -> Iterator[Any]:
        with self.recorder.datastore.transaction(commit=True) as cursor:
            # A write first, so the transaction holds the write lock before it reads anything
            # (a deferred transaction that read first could not write after another writer).
            cursor.execute(f"DELETE FROM {CHAIN_TABLE} WHERE 0")
            yield cursor

    def head_before(self, cursor: Any, position: int | None) -> ChainHead:
        if position is None:
            cursor.execute(f"SELECT position, seq, chain_hash FROM {CHAIN_TABLE} "
                           "ORDER BY position DESC LIMIT 1")
        else:
            cursor.execute(f"SELECT position, seq, chain_hash FROM {CHAIN_TABLE} "
                           "WHERE position < ? ORDER BY position DESC LIMIT 1", (position,))
        row = cursor.fetchone()
        return ChainHead(row[0], row[1], bytes(row[2])) if row else EMPTY

    def stored_events(self, cursor: Any, keys: Sequence[tuple[bytes, int]]
                      ) -> dict[tuple[bytes, int], EventRow]:
        found: dict[tuple[bytes, int], EventRow] = {}
        for originator, version in keys:
            cursor.execute(f"SELECT rowid, topic, state FROM {self.events} WHERE originator_id "
                           "= ? AND originator_version = ?", (_hex_id(originator), version))
            row = cursor.fetchone()
            if row is not None:
                found[(originator, version)] = (row[0], originator, version, row[1],
                                                bytes(row[2]))
        return found

    def insert_rows(self, cursor: Any, rows: Sequence[ChainRow]) -> None:
        cursor.executemany(f"INSERT INTO {CHAIN_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def chain_rows(self, cursor: Any, after: int, limit: int) -> list[ChainRow]:
        cursor.execute(f"SELECT * FROM {CHAIN_TABLE} WHERE position > ? ORDER BY position "
                       "LIMIT ?", (after, limit))
        return [tuple(row) for row in cursor.fetchall()]  # type: ignore[misc]

    def event_rows(self, cursor: Any, after: int, limit: int) -> list[EventRow]:
        cursor.execute(f"SELECT rowid, originator_id, originator_version, topic, state FROM "
                       f"{self.events} WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, limit))
        key = originator_bytes  # the library stores a UUID as its 32 hex digits
        return [(row[0], key(row[1]), row[2], row[3], bytes(row[4]))
                for row in cursor.fetchall()]

    def chain_position_of(self, cursor: Any, originator: bytes, version: int) -> int | None:
        cursor.execute(f"SELECT position FROM {CHAIN_TABLE} WHERE originator_id = ? AND "
                       "originator_version = ?", (originator, version))
        row = cursor.fetchone()
        return int(row[0]) if row else None

    def max_event_position(self, cursor: Any) -> int:
        cursor.execute(f"SELECT MAX(rowid) FROM {self.events}")
        row = cursor.fetchone()
        return int(row[0] or 0)

    def checkpoint_rows(self, cursor: Any, since: int = 0) -> list[CheckpointRow]:
        cursor.execute(f"SELECT {CHECKPOINT_COLUMNS} FROM {CHECKPOINT_TABLE} "
                       "WHERE position >= ? ORDER BY position", (since,))
        return [_checkpoint(r) for r in cursor.fetchall()]

    def clear(self, cursor: Any) -> None:
        cursor.execute(f"DELETE FROM {CHAIN_TABLE}")
        cursor.execute(f"DELETE FROM {CHECKPOINT_TABLE}")

    def last_checkpoint(self, cursor: Any) -> CheckpointRow | None:
        cursor.execute(f"SELECT {CHECKPOINT_COLUMNS} FROM {CHECKPOINT_TABLE} "
                       "ORDER BY position DESC LIMIT 1")
        r = cursor.fetchone()
        return None if r is None else _checkpoint(r)

    def insert_checkpoint(self, cursor: Any, row: CheckpointRow) -> bool:
        cursor.execute(f"INSERT INTO {CHECKPOINT_TABLE} ({CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, "
                       "?, ?, ?, ?, ?) ON CONFLICT (position) DO NOTHING RETURNING position", row)
        return cursor.fetchone() is not None

    def unpublished(self, cursor: Any) -> list[CheckpointRow]:
        cursor.execute(f"SELECT {CHECKPOINT_COLUMNS} FROM {CHECKPOINT_TABLE} "
                       "WHERE published_at IS NULL ORDER BY position")
        return [_checkpoint(r) for r in cursor.fetchall()]

    def mark_published(self, cursor: Any, positions: Sequence[int], at: str) -> None:
        cursor.executemany(f"UPDATE {CHECKPOINT_TABLE} SET published_at = ? WHERE position = ?",
                           [(at, position) for position in positions])


class PostgresChainTables(ChainTables):
    """PostgreSQL: `notification_id` is the position; tables in the store's schema."""

    mark = "%s"

    def __init__(self, recorder: Any) -> None:
        from psycopg.sql import SQL, Identifier

        super().__init__(recorder)
        schema = Identifier(recorder.datastore.schema)
        self._sql, self._id = SQL, Identifier
        self.chain = SQL("{}.{}").format(schema, Identifier(CHAIN_TABLE))
        self.checkpoints = SQL("{}.{}").format(schema, Identifier(CHECKPOINT_TABLE))
        self.events = SQL("{}.{}").format(schema, Identifier(recorder.events_table_name))
        self.id_type = Identifier(recorder.datastore.originator_id_type)
        self.text_ids = recorder.datastore.originator_id_type == "text"

    def _q(self, text: str) -> Any:
        return self._sql(text).format(chain=self.chain, checkpoints=self.checkpoints,
                                      events=self.events, id_type=self.id_type)

    def create_statements(self) -> list[Any]:
        return [
            self._q("CREATE TABLE IF NOT EXISTS {chain} (position bigint PRIMARY KEY, seq bigint "
                    "NOT NULL, originator_id {id_type} NOT NULL, originator_version bigint NOT "
                    "NULL, content_hash bytea NOT NULL, prev_hash bytea NOT NULL, chain_hash "
                    "bytea NOT NULL)"),
            self._q("CREATE TABLE IF NOT EXISTS {checkpoints} (position bigint PRIMARY KEY, "
                    "count bigint NOT NULL, chain_hash bytea NOT NULL, created_at text NOT NULL, "
                    "key_id text NOT NULL, signature bytea NOT NULL, kind text NOT NULL, "
                    "reason text, published_at text)"),
        ]

    def _originator(self, originator: bytes) -> UUID | str:
        return originator.decode() if self.text_ids else UUID(bytes=originator)

    def _key(self, originator: UUID | str) -> bytes:
        return originator.bytes if isinstance(originator, UUID) else originator.encode()

    @staticmethod
    def _tuples(cursor: Any) -> Any:
        from psycopg.rows import tuple_row

        return cursor.connection.cursor(row_factory=tuple_row)

    @contextmanager
    def snapshot(self) -> Iterator[Any]:
        with self.recorder.datastore.get_connection() as conn, \
                conn.transaction(force_rollback=True):
            cursor = conn.cursor()
            # Every page of both tables from one snapshot, while writers go on.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield cursor

    @contextmanager
    def writing(self) -> Iterator[Any]:
        with self.recorder.datastore.transaction(commit=True) as cursor:
            self.recorder._lock_table(cursor)  # the lock every event write takes first
            yield cursor

    def head_before(self, cursor: Any, position: int | None) -> ChainHead:
        cur = self._tuples(cursor)
        if position is None:
            cur.execute(self._q("SELECT position, seq, chain_hash FROM {chain} "
                                "ORDER BY position DESC LIMIT 1"))
        else:
            cur.execute(self._q("SELECT position, seq, chain_hash FROM {chain} WHERE position "
                                "< %s ORDER BY position DESC LIMIT 1"), (position,))
        row = cur.fetchone()
        return ChainHead(row[0], row[1], bytes(row[2])) if row else EMPTY

    def stored_events(self, cursor: Any, keys: Sequence[tuple[bytes, int]]
                      ) -> dict[tuple[bytes, int], EventRow]:
        if not keys:
            return {}
        cur = self._tuples(cursor)
        self._select_events(cur, keys)
        return self._events_by_key(cur)

    def head_and_events(self, cursor: Any, keys: Sequence[tuple[bytes, int]]
                        ) -> tuple[ChainHead, dict[tuple[bytes, int], EventRow]]:
        # Both queries sent before either answer is read: in the write path's pipeline they
        # cost one round trip, not two.
        head_cursor = self._tuples(cursor)
        head_cursor.execute(self._q("SELECT position, seq, chain_hash FROM {chain} "
                                    "ORDER BY position DESC LIMIT 1"))
        events_cursor = self._tuples(cursor) if keys else None
        if events_cursor is not None:
            self._select_events(events_cursor, keys)
        row = head_cursor.fetchone()
        head = ChainHead(row[0], row[1], bytes(row[2])) if row else EMPTY
        return head, self._events_by_key(events_cursor) if events_cursor is not None else {}

    def _select_events(self, cur: Any, keys: Sequence[tuple[bytes, int]]) -> None:
        cur.execute(self._q(
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%s::{id_type}[], %s::bigint[]) AS k(originator_id, originator_version) "
            "JOIN {events} AS e USING (originator_id, originator_version)"),
            ([self._originator(o) for o, _ in keys], [v for _, v in keys]), binary=True)

    def _events_by_key(self, cur: Any) -> dict[tuple[bytes, int], EventRow]:
        return {(self._key(r[1]), r[2]): (r[0], self._key(r[1]), r[2], r[3], r[4])
                for r in cur.fetchall()}

    def chain_in_database(self, cursor: Any, position: int) -> None:
        """Write the chain row of the one event just stored at `position` with one statement,
        hashing in the database (PostgreSQL's `sha256`, the same bytes as hashing.py): nothing
        to fetch, so a single command's save waits for no extra round trip. It reads the head
        and the predecessor under the table lock, like every write."""
        cur = self._tuples(cursor)
        cur.execute(self._q(_CHAIN_ONE_IN_DATABASE), (position,), prepare=True)

    def insert_rows(self, cursor: Any, rows: Sequence[ChainRow]) -> None:
        if not rows:
            return
        columns = list(zip(*rows, strict=True))
        cur = self._tuples(cursor)
        # One statement for the whole batch (a bulk import saves thousands of events at once).
        cur.execute(self._q(
            "INSERT INTO {chain} (position, seq, originator_id, originator_version, content_hash, "
            "prev_hash, chain_hash) SELECT * FROM unnest(%s::bigint[], %s::bigint[], "
            "%s::{id_type}[], %s::bigint[], %s::bytea[], %s::bytea[], %s::bytea[])"),
            (list(columns[0]), list(columns[1]), [self._originator(o) for o in columns[2]],
             list(columns[3]), list(columns[4]), list(columns[5]), list(columns[6])))

    def chain_rows(self, cursor: Any, after: int, limit: int) -> list[ChainRow]:
        cur = self._tuples(cursor)
        cur.execute(self._q("SELECT position, seq, originator_id, originator_version, "
                            "content_hash, prev_hash, chain_hash FROM {chain} WHERE position > %s "
                            "ORDER BY position LIMIT %s"), (after, limit), binary=True)
        key = self._key
        return [(r[0], r[1], key(r[2]), r[3], r[4], r[5], r[6]) for r in cur.fetchall()]

    def event_rows(self, cursor: Any, after: int, limit: int) -> list[EventRow]:
        cur = self._tuples(cursor)
        cur.execute(self._q("SELECT notification_id, originator_id, originator_version, topic, "
                            "state FROM {events} WHERE notification_id > %s "
                            "ORDER BY notification_id LIMIT %s"), (after, limit), binary=True)
        key = self._key
        return [(r[0], key(r[1]), r[2], r[3], r[4]) for r in cur.fetchall()]

    def chain_position_of(self, cursor: Any, originator: bytes, version: int) -> int | None:
        cur = self._tuples(cursor)
        cur.execute(self._q("SELECT position FROM {chain} WHERE originator_id = %s AND "
                            "originator_version = %s"), (self._originator(originator), version))
        row = cur.fetchone()
        return int(row[0]) if row else None

    def max_event_position(self, cursor: Any) -> int:
        cur = self._tuples(cursor)
        cur.execute(self._q("SELECT MAX(notification_id) FROM {events}"))
        row = cur.fetchone()
        return int(row[0] or 0) if row else 0

    def checkpoint_rows(self, cursor: Any, since: int = 0) -> list[CheckpointRow]:
        cur = self._tuples(cursor)
        cur.execute(self._q(f"SELECT {CHECKPOINT_COLUMNS} "
                            "FROM {checkpoints} WHERE position >= %s ORDER BY position"),
                    (since,))
        return [_checkpoint(r) for r in cur.fetchall()]

    def clear(self, cursor: Any) -> None:
        cur = self._tuples(cursor)
        cur.execute(self._q("DELETE FROM {chain}"))
        cur.execute(self._q("DELETE FROM {checkpoints}"))

    def last_checkpoint(self, cursor: Any) -> CheckpointRow | None:
        cur = self._tuples(cursor)
        cur.execute(self._q(f"SELECT {CHECKPOINT_COLUMNS} "
                            "FROM {checkpoints} ORDER BY position DESC LIMIT 1"))
        r = cur.fetchone()
        return None if r is None else _checkpoint(r)

    def insert_checkpoint(self, cursor: Any, row: CheckpointRow) -> bool:
        cur = self._tuples(cursor)
        cur.execute(self._q(f"INSERT INTO {{checkpoints}} ({CHECKPOINT_COLUMNS}) VALUES (%s, %s, "
                            "%s, %s, %s, %s, %s, %s) ON CONFLICT (position) DO NOTHING "
                            "RETURNING position"), row)
        return cur.fetchone() is not None

    def unpublished(self, cursor: Any) -> list[CheckpointRow]:
        cur = self._tuples(cursor)
        cur.execute(self._q(f"SELECT {CHECKPOINT_COLUMNS} "
                            "FROM {checkpoints} WHERE published_at IS NULL ORDER BY position"))
        return [_checkpoint(r) for r in cur.fetchall()]

    def mark_published(self, cursor: Any, positions: Sequence[int], at: str) -> None:
        cur = self._tuples(cursor)
        cur.execute(self._q("UPDATE {checkpoints} SET published_at = %s "
                            "WHERE position = ANY(%s)"), (at, list(positions)))


_CONTENT_SQL = (
    "sha256(int2send(16::int2) || uuid_send({t}.originator_id) || int8send({t}.originator_version)"
    " || int4send(octet_length(convert_to({t}.topic, 'UTF8'))) || convert_to({t}.topic, 'UTF8')"
    " || {t}.state)")
_ZEROS = "'\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea"
_CHAIN_ONE_IN_DATABASE = (
    "INSERT INTO {chain} (position, seq, originator_id, originator_version, content_hash, "
    "prev_hash, chain_hash) SELECT e.notification_id, coalesce(h.seq, 0) + 1, e.originator_id, "
    "e.originator_version, x.content, x.prev, "
    f"sha256(coalesce(h.chain_hash, {_ZEROS}) || int8send(e.notification_id) || "
    "int8send(coalesce(h.seq, 0) + 1) || x.content || x.prev) "
    "FROM {events} AS e LEFT JOIN LATERAL (SELECT seq, chain_hash FROM {chain} "
    "ORDER BY position DESC LIMIT 1) AS h ON true "
    f"CROSS JOIN LATERAL (SELECT {_CONTENT_SQL.format(t='e')} AS content, "
    f"coalesce((SELECT {_CONTENT_SQL.format(t='p')} FROM {{events}} AS p "
    "WHERE p.originator_id = e.originator_id AND p.originator_version = e.originator_version - 1 "
    f"AND p.notification_id < e.notification_id), {_ZEROS}) AS prev) AS x "
    "WHERE e.notification_id = %s")
"""The chain row of one new event, computed by PostgreSQL: its content hash, its predecessor's
(version − 1 at an earlier position), and the chain hash after the head."""


def _hex_id(originator: bytes) -> str:
    """An originator as the library's SQLite table stores it (a UUID as 32 hex digits)."""
    return originator.hex() if len(originator) == 16 else originator.decode()


def chain_tables_of(store: Any) -> ChainTables | None:
    """The chain tables of a `ChronicleStore`'s recorder; None for a store that keeps no chain
    (the in-memory store)."""
    tables = getattr(store.recorder, "audit_tables", None)
    return tables if isinstance(tables, ChainTables) else None
