"""The library's SQLite and PostgreSQL application recorders, chaining every event they write.

The chain rows are written in the same transaction as the events, after the database has
given them their positions, and reading the chain's head happens inside that transaction
while it holds the events' write lock (SQLite: the one writer; PostgreSQL: the `LOCK TABLE …
IN EXCLUSIVE MODE` of the library's default write path). So concurrent writers, the group
committer's shared transactions and bulk `EventBatch` saves all extend one exact chain, in
position order, and an event is never stored without its chain row. On PostgreSQL the
database computes the row of a single-event save itself (its `sha256`, the same bytes as
hashing.py) in one statement queued behind the insert, so that save waits for no extra round
trip; batches, and SQLite, are hashed here.

`ChronicleStore` selects these recorders (services/common/event_store.py). A store that holds
events but no chain rows yet (written before the chain existed) is chained from its first
event when it is opened, in one transaction, before anything else can be written.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from services.common.audit_chain.hashing import (
    GENESIS,
    chain_hash,
    content_hash,
    originator_bytes,
)
from services.common.audit_chain.tables import (
    EMPTY,
    PAGE,
    ChainHead,
    ChainRow,
    ChainTables,
    EventRow,
    PostgresChainTables,
    SQLiteChainTables,
)


class ChainWriteRefused(RuntimeError):
    """The store gave new events positions at or before the chain's head: an event at the end
    of the log was deleted behind the application's back (SQLite reuses the highest rowid).
    Writes stop until someone has looked (`crm audit verify`) and restored the store."""


class Predecessors:
    """The `prev_hash` of each event: the content hash of the event of the same aggregate one
    version before it, if that is stored at a lower position; else 32 zero bytes.

    The latest event of each aggregate seen so far answers most questions; the rest are read
    from the events table by its primary key and hashed as stored (events the caller has
    already verified, or trusts).
    """

    def __init__(self, tables: ChainTables, cursor: Any) -> None:
        self._tables, self._cursor = tables, cursor
        self.latest: dict[bytes, tuple[int, bytes]] = {}
        """originator → (version, content hash) of its latest event so far."""
        self._positions: dict[tuple[bytes, int], int] = {}
        """Where prefetched events are (the others in `latest` were seen in position order)."""

    def prefetched(self, rows: dict[tuple[bytes, int], EventRow]) -> None:
        """Take these stored events (a batch's predecessors, read at once) as known."""
        for (originator, version), row in rows.items():
            self.latest[originator] = (version, content_hash(*row[1:]))
            self._positions[(originator, version)] = row[0]

    def previous(self, originator: bytes, version: int, position: int) -> bytes:
        if version <= 1:
            return GENESIS
        latest = self.latest.get(originator)
        if latest is not None and latest[0] == version - 1:
            before = self._positions.get((originator, version - 1))
            return latest[1] if before is None or before < position else GENESIS
        found = self._tables.stored_events(self._cursor, [(originator, version - 1)])
        row = found.get((originator, version - 1))
        if row is None or row[0] >= position:
            return GENESIS
        return content_hash(*row[1:])


def link(head: ChainHead, positions: Sequence[int], originators: Sequence[bytes],
         events: Sequence[StoredEvent], predecessors: Predecessors) -> list[ChainRow]:
    """The chain rows of `events` stored at `positions`, after `head`."""
    rows: list[ChainRow] = []
    before, seq, after = head.chain, head.seq, head.position
    latest = predecessors.latest
    for position, originator, event in zip(positions, originators, events, strict=True):
        if position <= after:
            raise ChainWriteRefused(
                f"the store gave a new event position {position}, not after the audit chain's "
                f"position {after}: the log was changed behind the application's back (an event "
                "at its end deleted?). Run `crm audit verify`; writes stop until it is restored")
        version = event.originator_version
        content = content_hash(originator, version, event.topic, event.state)
        previous = predecessors.previous(originator, version, position)
        seq += 1
        before = chain_hash(before, position, seq, content, previous)
        rows.append((position, seq, originator, version, content, previous, before))
        latest[originator] = (version, content)
        after = position
    return rows


def chain_new_events(tables: ChainTables, cursor: Any, positions: Sequence[int],
                     events: Sequence[StoredEvent]) -> None:
    """Write the chain rows of events just inserted through `cursor` (same transaction)."""
    originators = [originator_bytes(event.originator_id) for event in events]
    in_batch = set(zip(originators, (e.originator_version for e in events), strict=True))
    head, stored = tables.head_and_events(cursor, [
        (o, e.originator_version - 1) for o, e in zip(originators, events, strict=True)
        if e.originator_version > 1 and (o, e.originator_version - 1) not in in_batch])
    predecessors = Predecessors(tables, cursor)
    predecessors.prefetched(stored)
    tables.insert_rows(cursor, link(head, positions, originators, events, predecessors))


def chain_unchained(tables: ChainTables) -> int:
    """Chain a store's events from its first one if the chain is empty (a store written before
    the chain existed); how many were chained. One transaction under the write lock, so a
    writer or another process opening the store at the same time waits, then sees it done."""
    with tables.snapshot() as cursor:  # the common case, without taking the write lock
        if tables.head(cursor).seq or not tables.max_event_position(cursor):
            return 0
    with tables.writing() as cursor:
        if tables.head(cursor).seq:
            return 0
        total = tables.max_event_position(cursor)
        print(f"audit chain: chaining the {total:,} events already in the store (once; "
              "docs/privacy.md \"Tamper evidence\")", file=sys.stderr, flush=True)
        started = time.perf_counter()
        head = chain_from_start(tables, cursor)
        print(f"audit chain: chained {head.seq:,} events in {time.perf_counter() - started:.1f}s",
              file=sys.stderr, flush=True)
        return head.seq


def chain_from_start(tables: ChainTables, cursor: Any) -> ChainHead:
    """Write the chain rows of every stored event into an empty chain (the caller holds the
    write lock); the new head."""
    head = EMPTY
    predecessors = Predecessors(tables, cursor)
    while rows := tables.event_rows(cursor, head.position, PAGE):
        events = [StoredEvent(originator_id=row[1].hex(), originator_version=row[2],
                              topic=row[3], state=row[4]) for row in rows]
        new = link(head, [row[0] for row in rows], [row[1] for row in rows], events,
                   predecessors)
        tables.insert_rows(cursor, new)
        head = ChainHead(new[-1][0], new[-1][1], new[-1][6])
    return head


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """`SQLiteApplicationRecorder` that writes each event's chain row with it."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.audit_tables: ChainTables = SQLiteChainTables(self)

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *SQLiteChainTables.statements()]

    def create_table(self) -> None:
        super().create_table()
        chain_unchained(self.audit_tables)

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        positions = super()._insert_events(c, stored_events, **kwargs)
        if stored_events:
            assert positions is not None
            # A failure here raises inside the library's transaction, which rolls it back.
            chain_new_events(self.audit_tables, c, positions, stored_events)
        return positions


class ChainedPostgresApplicationRecorder(PostgresApplicationRecorder):
    """`PostgresApplicationRecorder` that writes each event's chain row with it."""

    def __init__(self, datastore: PostgresDatastore, *,
                 events_table_name: str = "stored_events"):
        if datastore.enable_db_functions:
            # That path inserts through a database function without the table lock (and
            # without this recorder's hook); followers skip events on it anyway.
            raise ValueError("the audit chain needs the library's locked write path: unset "
                             "POSTGRES_ENABLE_DB_FUNCTIONS")
        super().__init__(datastore, events_table_name=events_table_name)
        self.audit_tables: ChainTables = PostgresChainTables(self)
        self.sql_create_statements.extend(self.audit_tables.create_statements())

    def create_table(self) -> None:
        super().create_table()
        chain_unchained(self.audit_tables)

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                                       **kwargs: Any) -> Sequence[int] | None:
        # Called inside the write transaction, after the insert, with the table lock held.
        positions = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        assert positions is not None
        tables = self.audit_tables
        try:
            if len(positions) == 1 and isinstance(tables, PostgresChainTables) \
                    and not tables.text_ids:
                # A single command's event, hashed by the database in a statement queued behind
                # the insert: no extra round trip (fetching the head and the predecessor first
                # cost about 0.7 ms a save here). A batch is hashed here: one round trip for
                # hundreds of events, where a recursive statement took longer.
                tables.chain_in_database(curs, positions[0])
            else:
                chain_new_events(tables, curs, positions, stored_events)
        except Exception as exc:
            _abort_transaction(curs, exc)
            raise
        return positions


def _abort_transaction(curs: Any, reason: Exception) -> None:
    """Put the write transaction into the failed state, so it cannot commit.

    The library's write path catches what its hooks raise and re-raises it only after leaving
    the transaction block, which commits unless the database itself refused something. An
    error raised in the database makes that commit a rollback, as it is for a conflict.
    """
    import psycopg
    from psycopg.sql import SQL, Literal

    message = f"audit chain: {reason}".replace("$", "").replace("%", "%%")
    try:
        with curs.connection.pipeline():  # leaving it syncs: the error is raised here
            curs.execute(SQL("DO $abort$ BEGIN RAISE EXCEPTION {}; END $abort$").format(
                Literal(message)))
    except psycopg.Error:
        pass  # the point: the transaction is failed now


def chained_recorder_topic(factory: Any) -> str | None:
    """The topic of the chaining recorder for the library's `factory` (None: the in-memory
    store, which keeps no chain)."""
    from eventsourcing.postgres import PostgresFactory
    from eventsourcing.sqlite import SQLiteFactory
    from eventsourcing.utils import get_topic

    if isinstance(factory, SQLiteFactory):
        return get_topic(ChainedSQLiteApplicationRecorder)
    if isinstance(factory, PostgresFactory):
        return get_topic(ChainedPostgresApplicationRecorder)
    return None
