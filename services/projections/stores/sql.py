"""Read models in PostgreSQL (production) or SQLite (embedded), one code path.

The two differ only in placeholders, column types and how JSON, booleans and timestamps are
passed; every statement is otherwise the same SQL.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.common.private_files import SQLITE_COMPANIONS, private_dir, private_file
from services.common.tenancy import READING_TENANT
from services.common.times import iso
from services.projections.model import ColumnType, Projection, Row, Table
from services.projections.stores.base import (
    DeadLetter,
    Progress,
    ReadStore,
    StoreTransaction,
    chunks,
    physical,
)

_TYPES: dict[str, dict[ColumnType, str]] = {
    "postgres": {"text": "TEXT", "int": "BIGINT", "float": "DOUBLE PRECISION",
                 "bool": "BOOLEAN", "ts": "TIMESTAMPTZ", "json": "JSONB"},
    "sqlite": {"text": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "INTEGER",
               "ts": "TEXT", "json": "TEXT"},
}

_BOOKKEEPING = (
    "CREATE TABLE IF NOT EXISTS projection_generations ("
    " projection TEXT PRIMARY KEY, active INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS projection_progress ("
    " projection TEXT NOT NULL, generation INTEGER NOT NULL, source_partition INTEGER NOT NULL,"
    " source_offset BIGINT NOT NULL, position BIGINT NOT NULL, event_recorded_at TEXT,"
    " updated_at TEXT, PRIMARY KEY (projection, generation, source_partition))",
    "CREATE TABLE IF NOT EXISTS projection_dead_letters ("
    " projection TEXT NOT NULL, generation INTEGER NOT NULL, source_partition INTEGER NOT NULL,"
    " source_offset BIGINT NOT NULL, position BIGINT, event_id TEXT, event_type TEXT,"
    " error TEXT NOT NULL, payload TEXT, recorded_at TEXT NOT NULL,"
    " PRIMARY KEY (projection, generation, source_partition, source_offset))",
)

_MAX_PARAMS = 900  # SQLite's default cap on bound parameters is 999


class SqlReadStore(ReadStore):
    kind = "sql"

    def __init__(self, *, postgres_url: str | None = None, schema: str = "public",
                 sqlite_path: Path | None = None, reader_url: str | None = None) -> None:
        if (postgres_url is None) == (sqlite_path is None):
            raise ValueError("give exactly one of postgres_url and sqlite_path")
        self.dialect = "postgres" if postgres_url else "sqlite"
        self._lock = threading.RLock()  # one connection, used by one transaction at a time
        self._readers: Any = None
        self.reader_role: str | None = None
        if postgres_url is not None:
            import psycopg
            from psycopg.rows import dict_row

            self._conn: Any = psycopg.connect(postgres_url, autocommit=False, row_factory=dict_row,
                                              connect_timeout=10)
            self._conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            self._conn.execute(f'SET search_path TO "{schema}"')
            self._conn.commit()
            self.schema = schema
            if reader_url is not None:
                self._open_readers(reader_url, schema)
        else:
            assert sqlite_path is not None
            private_dir(sqlite_path.parent)
            private_file(sqlite_path, SQLITE_COMPANIONS)  # its -wal and -shm follow
            self._conn = sqlite3.connect(sqlite_path, check_same_thread=False,
                                         isolation_level=None, timeout=30)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            # Queries read through their own connection: in WAL mode they neither wait for
            # nor block a projector's write transaction.
            self._reader = sqlite3.connect(sqlite_path, check_same_thread=False,
                                           isolation_level=None, timeout=30)
            self._reader.row_factory = sqlite3.Row
            self._reader_lock = threading.Lock()
        with self._tx() as cur:
            for statement in _BOOKKEEPING:
                cur.execute(statement)

    # -- plumbing -----------------------------------------------------------------------------

    def p(self, sql: str) -> str:
        """Write statements with `?`; PostgreSQL wants `%s`."""
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock:
            if self.dialect == "postgres":
                try:
                    with self._conn.cursor() as cur:
                        yield cur
                    self._conn.commit()
                except BaseException:
                    self._conn.rollback()
                    raise
            else:
                cur = self._conn.cursor()
                cur.execute("BEGIN IMMEDIATE")
                try:
                    yield cur
                    cur.execute("COMMIT")
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                finally:
                    cur.close()

    def to_db(self, kind: ColumnType, value: Any) -> Any:
        if value is None:
            return None
        if kind == "json":
            if self.dialect == "postgres":
                from psycopg.types.json import Jsonb

                return Jsonb(value)
            return json.dumps(value, separators=(",", ":"))
        if kind == "bool" and self.dialect == "sqlite":
            return 1 if value else 0
        return value

    def from_db(self, kind: ColumnType, value: Any) -> Any:
        if value is None:
            return None
        if kind == "json" and isinstance(value, str):
            return json.loads(value)
        if kind == "bool":
            return bool(value)
        if kind == "ts" and isinstance(value, datetime):
            return iso(value)
        if kind == "float":
            return float(value)
        return value

    def _row(self, table: Table, raw: Any) -> Row:
        return {name: self.from_db(kind, raw[name]) for name, kind in table.columns.items()}

    # -- generations --------------------------------------------------------------------------

    def create_generation(self, projection: Projection, generation: int) -> None:
        types = _TYPES[self.dialect]
        with self._tx() as cur:
            for table in projection.tables:
                name = physical(table, generation)
                columns = ", ".join(
                    f'"{col}" {types[kind]}' + (" PRIMARY KEY" if col == "id" else "")
                    for col, kind in table.columns.items()
                )
                cur.execute(f'CREATE TABLE IF NOT EXISTS "{name}" ({columns})')
                for index in table.indexes:
                    index_name = f"{name}__{'_'.join(index)}"
                    cols = ", ".join(f'"{c}"' for c in index)
                    cur.execute(f'CREATE INDEX IF NOT EXISTS "{index_name}" ON "{name}" ({cols})')
                if self.dialect == "postgres" and "tenant_id" in table.columns:
                    self._wall(cur, name)
            self._grant_reads(cur)

    def tenant_wall(self, table: str) -> None:
        """Keep the reader role to the request's tenant on a table with a `tenant_id` column
        (PostgreSQL; the embedded store has one user and no roles)."""
        if self.dialect == "postgres":
            with self._tx() as cur:
                self._wall(cur, table)
                self._grant_reads(cur)

    @staticmethod
    def _wall(cur: Any, table: str) -> None:
        """Row-level security on a table: only rows of the tenant in `crm.tenant`. The owner
        (the projectors) is not subject to it; the reader role is."""
        cur.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
        cur.execute("SELECT 1 FROM pg_policies WHERE schemaname = current_schema() "
                    "AND tablename = %s AND policyname = 'tenant_wall'", (table,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE POLICY tenant_wall ON "{table}" '
                        "USING (tenant_id = current_setting('crm.tenant', true))")

    def _grant_reads(self, cur: Any) -> None:
        if self.reader_role is not None:
            cur.execute(f'GRANT USAGE ON SCHEMA "{self.schema}" TO "{self.reader_role}"')
            cur.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{self.schema}" '
                        f'TO "{self.reader_role}"')

    def _open_readers(self, reader_url: str, schema: str) -> None:
        from psycopg.conninfo import conninfo_to_dict
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        self.reader_role = str(conninfo_to_dict(reader_url).get("user") or "")
        if not self.reader_role or self.reader_role == conninfo_to_dict(
                self._conn.info.dsn).get("user"):
            raise ValueError("CRM_POSTGRES_READER_URL must name a role of its own, not the "
                             "read models' owner")

        def configure(conn: Any) -> None:
            conn.execute(f'SET search_path TO "{schema}"')
            conn.commit()

        self._readers = ConnectionPool(reader_url, min_size=1, max_size=4, open=True,
                                       kwargs={"row_factory": dict_row, "connect_timeout": 10},
                                       configure=configure, name="read-models-reader")
        with self._tx() as cur:
            self._grant_reads(cur)

    def activate(self, projection: Projection, generation: int) -> None:
        with self._tx() as cur:
            for table in projection.tables:
                cur.execute(f'DROP VIEW IF EXISTS "{table.name}"')
                # A view reads with its owner's rights unless it is a security invoker view:
                # then the reader role's row-level security applies through it.
                invoker = " WITH (security_invoker = true)" if self.dialect == "postgres" else ""
                cur.execute(f'CREATE VIEW "{table.name}"{invoker} AS SELECT * FROM '
                            f'"{physical(table, generation)}"')
            if self.dialect == "postgres":
                self._grant_reads(cur)
            cur.execute(self.p("DELETE FROM projection_generations WHERE projection = ?"),
                        (projection.name,))
            cur.execute(self.p("INSERT INTO projection_generations (projection, active) "
                               "VALUES (?, ?)"), (projection.name, generation))

    def drop_generation(self, projection: Projection, generation: int) -> None:
        active, _ = self.generations(projection.name)
        if active == generation:
            raise ValueError(f"generation {generation} of {projection.name} is active")
        with self._tx() as cur:
            for table in projection.tables:
                cur.execute(f'DROP TABLE IF EXISTS "{physical(table, generation)}"')
            cur.execute(self.p("DELETE FROM projection_progress WHERE projection = ? "
                               "AND generation = ?"), (projection.name, generation))

    def generations(self, projection: str) -> tuple[int | None, int]:
        with self._tx() as cur:
            cur.execute(self.p("SELECT active FROM projection_generations WHERE projection = ?"),
                        (projection,))
            found = cur.fetchone()
            active = int(found["active"]) if found else None
            cur.execute(self.p("SELECT MAX(generation) AS g FROM projection_progress "
                               "WHERE projection = ?"), (projection,))
            top = cur.fetchone()
        highest = max(active or 0, int(top["g"]) if top and top["g"] is not None else 0)
        return active, highest

    # -- reads --------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        tenant = READING_TENANT.get()
        if self._readers is not None and tenant is not None:
            # An API request: read as the reader role, behind the tenant wall.
            with self._readers.connection() as conn:
                conn.execute("SELECT set_config('crm.tenant', %s, true)", (tenant,))
                return [dict(row) for row in conn.execute(self.p(sql), tuple(params))]
        if self.dialect == "sqlite":
            with self._reader_lock:
                return [dict(row) for row in self._reader.execute(sql, tuple(params)).fetchall()]
        with self._tx() as cur:
            cur.execute(self.p(sql), tuple(params))
            return [dict(row) for row in cur.fetchall()]

    def dead_letter_counts(self) -> dict[str, int]:
        rows = self.query("SELECT projection, COUNT(*) AS n FROM projection_dead_letters "
                          "GROUP BY projection")
        return {row["projection"]: int(row["n"]) for row in rows}

    def all_progress(self, projection: str, generation: int) -> dict[int, Progress]:
        with self.transaction() as tx:
            return tx.progress(projection, generation)

    def transaction(self) -> _SqlTransaction:
        return _SqlTransaction(self)

    def close(self) -> None:
        if self._readers is not None:
            self._readers.close()
        with self._lock:
            self._conn.close()
        if self.dialect == "sqlite":
            with self._reader_lock:
                self._reader.close()


class _SqlTransaction(StoreTransaction):
    def __init__(self, store: SqlReadStore) -> None:
        self.store = store
        self._context: Any = None
        self.cur: Any = None

    def __enter__(self) -> _SqlTransaction:
        self._context = self.store._tx()
        self.cur = self._context.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._context.__exit__(*exc)

    def _x(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.cur.execute(self.store.p(sql), tuple(params))

    def progress(self, projection: str, generation: int, lock: bool = False) -> dict[int, Progress]:
        lock_clause = " FOR UPDATE" if lock and self.store.dialect == "postgres" else ""
        self._x("SELECT source_partition, source_offset, position, event_recorded_at, updated_at "
                "FROM projection_progress WHERE projection = ? AND generation = ?" + lock_clause,
                (projection, generation))
        return {
            int(r["source_partition"]): Progress(int(r["source_partition"]), int(r["source_offset"]),
                                                 int(r["position"]), r["event_recorded_at"],
                                                 r["updated_at"])
            for r in self.cur.fetchall()
        }

    def active_generation(self, projection: str) -> int | None:
        self._x("SELECT active FROM projection_generations WHERE projection = ?", (projection,))
        found = self.cur.fetchone()
        return int(found["active"]) if found else None

    def load(self, table: Table, generation: int, ids: Sequence[str]) -> dict[str, Row]:
        found: dict[str, Row] = {}
        name = physical(table, generation)
        columns = ", ".join(f'"{c}"' for c in table.columns)
        for part in chunks(list(ids), _MAX_PARAMS):
            if self.store.dialect == "postgres":
                self.cur.execute(f'SELECT {columns} FROM "{name}" WHERE id = ANY(%s)', (list(part),))
            else:
                marks = ",".join("?" * len(part))
                self.cur.execute(f'SELECT {columns} FROM "{name}" WHERE id IN ({marks})', tuple(part))
            for raw in self.cur.fetchall():
                row = self.store._row(table, raw)
                found[row["id"]] = row
        return found

    def write(self, table: Table, generation: int, upserts: list[Row], deletes: list[str]) -> None:
        name = physical(table, generation)
        store = self.store
        if deletes:
            for part in chunks(deletes, _MAX_PARAMS):
                marks = ",".join("?" * len(part))
                self._x(f'DELETE FROM "{name}" WHERE id IN ({marks})', part)
        if not upserts:
            return
        cols = list(table.columns)
        quoted = ", ".join(f'"{c}"' for c in cols)
        marks = ", ".join("?" * len(cols))
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in cols if c != "id")
        statement = store.p(f'INSERT INTO "{name}" ({quoted}) VALUES ({marks}) '
                            f"ON CONFLICT (id) DO UPDATE SET {updates}")
        kinds = [table.columns[c] for c in cols]
        params = [tuple(store.to_db(k, row.get(c)) for c, k in zip(cols, kinds, strict=True))
                  for row in upserts]
        self.cur.executemany(statement, params)

    def save_progress(self, projection: str, generation: int, progress: Progress) -> None:
        self._x("INSERT INTO projection_progress (projection, generation, source_partition, "
                "source_offset, position, event_recorded_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (projection, generation, source_partition) DO UPDATE SET "
                "source_offset = excluded.source_offset, position = excluded.position, "
                "event_recorded_at = excluded.event_recorded_at, updated_at = excluded.updated_at",
                (projection, generation, progress.partition, progress.offset, progress.position,
                 progress.event_recorded_at, progress.updated_at or iso(datetime.now(UTC))))

    def dead_letter(self, letter: DeadLetter) -> None:
        self._x("INSERT INTO projection_dead_letters (projection, generation, source_partition, "
                "source_offset, position, event_id, event_type, error, payload, recorded_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (letter.projection, letter.generation, letter.partition, letter.offset,
                 letter.position, letter.event_id, letter.event_type, letter.error[:4000],
                 letter.payload, iso(datetime.now(UTC))))
