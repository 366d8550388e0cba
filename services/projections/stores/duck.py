"""Analytics read models in DuckDB.

DuckDB allows one writing process per file, so the writer and its readers share this object
within one process. Rows go in as Arrow batches (`INSERT OR REPLACE … SELECT … FROM arrow`):
`executemany` manages under a thousand rows per second, Arrow batches hundreds of thousands.
"""

from __future__ import annotations

import atexit
import json
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from services.common.private_files import DUCKDB_COMPANIONS, make_private, private_dir
from services.common.times import iso
from services.projections.model import ColumnType, Projection, Row, Table
from services.projections.stores.base import (
    DeadLetter,
    Progress,
    ReadStore,
    StoreTransaction,
    physical,
)

_TYPES: dict[ColumnType, str] = {"text": "VARCHAR", "int": "BIGINT", "float": "DOUBLE",
                                 "bool": "BOOLEAN", "ts": "TIMESTAMPTZ", "json": "VARCHAR"}
_ARROW: dict[ColumnType, pa.DataType] = {"text": pa.string(), "int": pa.int64(),
                                         "float": pa.float64(), "bool": pa.bool_(),
                                         "ts": pa.string(), "json": pa.string()}

_BOOKKEEPING = (
    "CREATE TABLE IF NOT EXISTS projection_generations ("
    " projection VARCHAR PRIMARY KEY, active INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS projection_progress ("
    " projection VARCHAR NOT NULL, generation INTEGER NOT NULL, source_partition INTEGER NOT NULL,"
    " source_offset BIGINT NOT NULL, position BIGINT NOT NULL, event_recorded_at VARCHAR,"
    " updated_at VARCHAR, PRIMARY KEY (projection, generation, source_partition))",
    "CREATE TABLE IF NOT EXISTS projection_dead_letters ("
    " projection VARCHAR NOT NULL, generation INTEGER NOT NULL, source_partition INTEGER NOT NULL,"
    " source_offset BIGINT NOT NULL, position BIGINT, event_id VARCHAR, event_type VARCHAR,"
    " error VARCHAR NOT NULL, payload VARCHAR, recorded_at VARCHAR NOT NULL,"
    " PRIMARY KEY (projection, generation, source_partition, source_offset))",
)


_OPEN: weakref.WeakSet[DuckReadStore] = weakref.WeakSet()


@atexit.register
def _close_open_stores() -> None:
    """A connection still open when the interpreter exits is closed first, so DuckDB's
    bindings do not report it as leaked."""
    for store in list(_OPEN):
        store.close()


class DuckReadStore(ReadStore):
    kind = "analytics"

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            private_dir(Path(path).parent)
        self.path = path
        self._conn = duckdb.connect(str(path))
        if str(path) != ":memory:":
            make_private(Path(path), companions=DUCKDB_COMPANIONS)
        self._conn.execute("SET TimeZone = 'UTC'")
        self._lock = threading.RLock()
        self._closed = False
        with self._tx() as cur:
            for statement in _BOOKKEEPING:
                cur.execute(statement)
        _OPEN.add(self)

    @contextmanager
    def _tx(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("SET TimeZone = 'UTC'")
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()

    def reader(self) -> duckdb.DuckDBPyConnection:
        """A cursor for read-only queries from another thread of this process."""
        cur = self._conn.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        return cur

    # -- generations --------------------------------------------------------------------------

    def create_generation(self, projection: Projection, generation: int) -> None:
        with self._tx() as cur:
            for table in projection.tables:
                name = physical(table, generation)
                columns = ", ".join(
                    f'"{col}" {_TYPES[kind]}' + (" PRIMARY KEY" if col == "id" else "")
                    for col, kind in table.columns.items()
                )
                cur.execute(f'CREATE TABLE IF NOT EXISTS "{name}" ({columns})')

    def activate(self, projection: Projection, generation: int) -> None:
        with self._tx() as cur:
            for table in projection.tables:
                cur.execute(f'CREATE OR REPLACE VIEW "{table.name}" AS SELECT * FROM '
                            f'"{physical(table, generation)}"')
            cur.execute("INSERT OR REPLACE INTO projection_generations VALUES (?, ?)",
                        (projection.name, generation))

    def drop_generation(self, projection: Projection, generation: int) -> None:
        active, _ = self.generations(projection.name)
        if active == generation:
            raise ValueError(f"generation {generation} of {projection.name} is active")
        with self._tx() as cur:
            for table in projection.tables:
                cur.execute(f'DROP TABLE IF EXISTS "{physical(table, generation)}"')
            cur.execute("DELETE FROM projection_progress WHERE projection = ? AND generation = ?",
                        (projection.name, generation))

    def generations(self, projection: str) -> tuple[int | None, int]:
        with self._tx() as cur:
            found = cur.execute("SELECT active FROM projection_generations WHERE projection = ?",
                                (projection,)).fetchone()
            top = cur.execute("SELECT MAX(generation) FROM projection_progress "
                              "WHERE projection = ?", (projection,)).fetchone()
        active = int(found[0]) if found else None
        highest = max(active or 0, int(top[0]) if top and top[0] is not None else 0)
        return active, highest

    # -- reads --------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.reader()
        try:
            result = cur.execute(sql, list(params))
            names = [d[0] for d in result.description or ()]
            return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
        finally:
            cur.close()

    def dead_letter_counts(self) -> dict[str, int]:
        rows = self.query("SELECT projection, COUNT(*) AS n FROM projection_dead_letters "
                          "GROUP BY projection")
        return {row["projection"]: int(row["n"]) for row in rows}

    def all_progress(self, projection: str, generation: int) -> dict[int, Progress]:
        with self.transaction() as tx:
            return tx.progress(projection, generation)

    def transaction(self) -> _DuckTransaction:
        return _DuckTransaction(self)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()
        _OPEN.discard(self)


def _from_db(kind: ColumnType, value: Any) -> Any:
    if value is None:
        return None
    if kind == "json":
        return json.loads(value)
    if kind == "ts" and isinstance(value, datetime):
        return iso(value)
    return value


class _DuckTransaction(StoreTransaction):
    def __init__(self, store: DuckReadStore) -> None:
        self.store = store
        self._context: Any = None
        self.cur: duckdb.DuckDBPyConnection

    def __enter__(self) -> _DuckTransaction:
        self._context = self.store._tx()
        self.cur = self._context.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._context.__exit__(*exc)

    def progress(self, projection: str, generation: int, lock: bool = False) -> dict[int, Progress]:
        rows = self.cur.execute(
            "SELECT source_partition, source_offset, position, event_recorded_at, updated_at "
            "FROM projection_progress WHERE projection = ? AND generation = ?",
            (projection, generation)).fetchall()
        return {int(r[0]): Progress(int(r[0]), int(r[1]), int(r[2]), r[3], r[4]) for r in rows}

    def active_generation(self, projection: str) -> int | None:
        found = self.cur.execute("SELECT active FROM projection_generations WHERE projection = ?",
                                 (projection,)).fetchone()
        return int(found[0]) if found else None

    def load(self, table: Table, generation: int, ids: Sequence[str]) -> dict[str, Row]:
        if not ids:
            return {}
        keys = pa.table({"id": pa.array(list(ids), pa.string())})
        self.cur.register("wanted_ids", keys)
        try:
            cols = list(table.columns)
            quoted = ", ".join(f't."{c}"' for c in cols)
            result = self.cur.execute(
                f'SELECT {quoted} FROM "{physical(table, generation)}" t '
                f"JOIN wanted_ids w ON t.id = w.id").fetchall()
        finally:
            self.cur.unregister("wanted_ids")
        kinds = [table.columns[c] for c in cols]
        found: dict[str, Row] = {}
        for raw in result:
            row = {c: _from_db(k, v) for c, k, v in zip(cols, kinds, raw, strict=True)}
            found[row["id"]] = row
        return found

    def write(self, table: Table, generation: int, upserts: list[Row], deletes: list[str]) -> None:
        name = physical(table, generation)
        if deletes:
            self.cur.register("deleted_ids", pa.table({"id": pa.array(deletes, pa.string())}))
            try:
                self.cur.execute(f'DELETE FROM "{name}" WHERE id IN (SELECT id FROM deleted_ids)')
            finally:
                self.cur.unregister("deleted_ids")
        if not upserts:
            return
        cols = list(table.columns)
        arrays = []
        for col in cols:
            kind = table.columns[col]
            values = [row.get(col) for row in upserts]
            if kind == "json":
                values = [None if v is None else json.dumps(v, separators=(",", ":"))
                          for v in values]
            arrays.append(pa.array(values, _ARROW[kind]))
        batch = pa.Table.from_arrays(arrays, names=cols)
        self.cur.register("upsert_batch", batch)
        try:
            select = ", ".join(
                f'CAST("{c}" AS TIMESTAMPTZ)' if table.columns[c] == "ts" else f'"{c}"'
                for c in cols)
            quoted = ", ".join(f'"{c}"' for c in cols)
            self.cur.execute(f'INSERT OR REPLACE INTO "{name}" ({quoted}) '
                             f"SELECT {select} FROM upsert_batch")
        finally:
            self.cur.unregister("upsert_batch")

    def save_progress(self, projection: str, generation: int, progress: Progress) -> None:
        self.cur.execute(
            "INSERT OR REPLACE INTO projection_progress VALUES (?, ?, ?, ?, ?, ?, ?)",
            (projection, generation, progress.partition, progress.offset, progress.position,
             progress.event_recorded_at, progress.updated_at or iso(datetime.now(UTC))))

    def dead_letter(self, letter: DeadLetter) -> None:
        self.cur.execute(
            "INSERT OR IGNORE INTO projection_dead_letters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (letter.projection, letter.generation, letter.partition, letter.offset,
             letter.position, letter.event_id, letter.event_type, letter.error[:4000],
             letter.payload, iso(datetime.now(UTC))))
