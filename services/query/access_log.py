"""The access log: who read which customer's personal data, and when.

Kept in the SQL read store (table `access_log`), apart from the event store: a read is not a
fact about the customer, and reads must not flood a customer's history. Append-only — this
module inserts and selects, nothing updates or deletes a row. An entry holds ids, never
personal data nor the text someone searched for.

Recording stays off the request path: `record` puts entries on a bounded in-memory queue and a
daemon thread writes them in batches, one transaction per batch. When the queue is full,
`record` waits (up to `put_timeout_s`) and then raises `AccessLogUnavailable` rather than drop
an entry: the route answers 503 instead of serving personal data it could not log. What
`record` accepted is written before `close()` returns, unless the store stays unreachable
for `close`'s whole grace period (then it is logged as lost, with the count).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from services.common.times import iso
from services.projections.stores.sql import SqlReadStore

log = logging.getLogger("chronicle.access_log")

What = Literal["customer_360", "customer_360_as_of", "history", "search", "export",
               "subject_export", "ticket", "lead", "tasks", "notes"]

TABLE = "access_log"
BATCH_SIZE = 500
INTERVAL_S = 0.2
"""A batch is written every 200 ms, or as soon as 500 entries wait: a read waits for none of
it, and an auditor sees an entry well within a second."""
CAPACITY = 100_000
"""Entries held in memory at most (~100 bytes each: ~10 MB) while the store is slow."""
PUT_TIMEOUT_S = 5.0
RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)
"""Back-off between attempts to write a batch the store refused (then every 5 s)."""
CLOSE_GRACE_S = 15.0

_DDL: dict[str, tuple[str, ...]] = {
    "postgres": (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " tenant_id TEXT NOT NULL, subject TEXT NOT NULL, customer_id TEXT, what TEXT NOT NULL,"
        " route TEXT NOT NULL, at TIMESTAMPTZ NOT NULL)",
    ),
    "sqlite": (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " tenant_id TEXT NOT NULL, subject TEXT NOT NULL, customer_id TEXT, what TEXT NOT NULL,"
        " route TEXT NOT NULL, at TEXT NOT NULL)",
    ),
}
_INDEXES = (
    f"CREATE INDEX IF NOT EXISTS {TABLE}__tenant_customer_at ON {TABLE} "
    "(tenant_id, customer_id, at)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}__tenant_subject_at ON {TABLE} (tenant_id, subject, at)",
    # a time range over the whole tenant (neither customer nor subject given)
    f"CREATE INDEX IF NOT EXISTS {TABLE}__tenant_at ON {TABLE} (tenant_id, at)",
)


class AccessLogUnavailable(RuntimeError):
    """The entry could not be accepted (the log is closed, or full for too long)."""


@dataclass(frozen=True)
class Access:
    """One read of a customer's personal data. `customer_id` None: every customer of the
    tenant (an export). `route` is the route's template, never the query string."""

    tenant_id: str
    subject: str
    customer_id: str | None
    what: What
    route: str
    at: datetime


def ensure_table(store: SqlReadStore) -> None:
    """Create the table and its indexes if missing, behind the store's tenant wall (on
    PostgreSQL with a reader role, API reads see only the request's tenant's entries)."""
    with store.transaction() as tx:
        for statement in (*_DDL[store.dialect], *_INDEXES):
            tx.cur.execute(statement)
    store.tenant_wall(TABLE)


def append(store: SqlReadStore, entries: Iterable[Access]) -> int:
    """Insert entries in one transaction; how many."""
    rows = [(e.tenant_id, e.subject, e.customer_id, e.what, e.route,
             e.at if store.dialect == "postgres" else iso(e.at)) for e in entries]
    if rows:
        with store.transaction() as tx:
            tx.cur.executemany(store.p(
                f"INSERT INTO {TABLE} (tenant_id, subject, customer_id, what, route, at) "
                "VALUES (?, ?, ?, ?, ?, ?)"), rows)
    return len(rows)


EXPORT_ROUTE = "crm export"


def record_export(store: SqlReadStore, subject: str, tenants: Iterable[str],
                  customers: Iterable[tuple[str, str]] = ()) -> int:
    """Record, synchronously (the command line has no request to keep fast), an export that
    wrote personal data: one entry per (tenant, customer) when it named customers, else one
    per tenant with no customer (every customer of the tenant). How many entries."""
    at = datetime.now(UTC)
    named = sorted(set(customers))
    entries = ([Access(tenant, subject, customer, "export", EXPORT_ROUTE, at)
                for tenant, customer in named] if named else
               [Access(tenant, subject, None, "export", EXPORT_ROUTE, at)
                for tenant in sorted(set(tenants))])
    ensure_table(store)
    return append(store, entries)


class _Flushed(threading.Event):
    """A marker on the queue: set once every entry put before it is written."""


class AccessLog:
    """Records accesses in the background; `flush()` waits for what was recorded so far,
    `close()` flushes and stops the writer."""

    def __init__(self, store: SqlReadStore, *, batch_size: int = BATCH_SIZE,
                 interval_s: float = INTERVAL_S, capacity: int = CAPACITY,
                 put_timeout_s: float = PUT_TIMEOUT_S) -> None:
        self.store = store
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.put_timeout_s = put_timeout_s
        ensure_table(store)
        self._queue: queue.Queue[Access | _Flushed] = queue.Queue(maxsize=capacity)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._abandon = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    # -- producers ---------------------------------------------------------------------------

    def record(self, tenant_id: str, subject: str, customer_ids: Iterable[str | None],
               what: What, route: str) -> None:
        """One entry per customer id, stamped now. Returns once they are queued (never
        written in the caller's thread); AccessLogUnavailable if they cannot be."""
        at = datetime.now(UTC)
        for customer_id in customer_ids:
            self._put(Access(tenant_id, subject, customer_id, what, route, at))

    def _put(self, item: Access | _Flushed) -> None:
        if self._closed:
            raise AccessLogUnavailable("the access log is closed")
        try:
            self._queue.put(item, timeout=self.put_timeout_s)
        except queue.Full:
            raise AccessLogUnavailable(
                f"the access log has held {self._queue.maxsize:,} unwritten entries for "
                f"{self.put_timeout_s:g}s") from None
        if self._queue.qsize() >= self.batch_size:
            self._wake.set()

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every entry recorded before this call is written; False on timeout."""
        marker = _Flushed()
        self._put(marker)
        self._wake.set()
        return marker.wait(timeout_s)

    def close(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """Write what is queued and stop the writer; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._wake.set()
        self._thread.join(grace_s)
        if self._thread.is_alive():  # the store refuses writes: stop retrying
            self._abandon.set()
            self._thread.join(5.0)
        lost = sum(1 for item in _drain_all(self._queue) if isinstance(item, Access))
        if lost:
            log.error("access log closed with %d entries unwritten: the store refused them",
                      lost)

    # -- the writer --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            stopping = self._stopping.is_set()  # read before draining: nothing slips past
            if not self._drain():
                return
            if stopping:
                return

    def _drain(self) -> bool:
        """Write everything queued, a batch at a time; False when told to abandon."""
        while True:
            batch: list[Access] = []
            markers: list[_Flushed] = []
            while len(batch) < self.batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, _Flushed):
                    markers.append(item)
                    break  # answer the flush as soon as what came before it is written
                batch.append(item)
            if not batch and not markers:
                return True
            if batch and not self._write(batch):
                return False
            for marker in markers:
                marker.set()

    def _write(self, batch: list[Access]) -> bool:
        """Write one batch, retrying while the store refuses it (an entry is dropped only
        when `close` gives up); False if abandoned."""
        attempt = 0
        while True:
            try:
                append(self.store, batch)
                return True
            except Exception:
                delay = RETRY_S[min(attempt, len(RETRY_S) - 1)]
                log.exception("writing %d access-log entries failed (attempt %d); retrying "
                              "in %gs", len(batch), attempt + 1, delay)
                attempt += 1
                if self._abandon.wait(delay):
                    log.error("access log abandoned %d entries the store refused", len(batch))
                    return False


def _drain_all(items: queue.Queue[Any]) -> list[Any]:
    drained = []
    while True:
        try:
            drained.append(items.get_nowait())
        except queue.Empty:
            return drained


# -- reading ------------------------------------------------------------------------------------


def read_access(store: SqlReadStore, tenant_id: str, *, customer_id: str | None = None,
                subject: str | None = None, start: datetime | None = None,
                end: datetime | None = None, limit: int = 100,
                before: tuple[str, int] | None = None,
                ) -> tuple[list[dict[str, Any]], tuple[str, int] | None]:
    """A tenant's entries, newest first, `start` inclusive and `end` exclusive; keyset
    pagination on (at, id): `before` is the previous page's last key, and the second value
    returned is this page's (None on the last page)."""
    postgres = store.dialect == "postgres"

    def moment(value: datetime | str) -> Any:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value if postgres else iso(value)

    where: list[str] = ["tenant_id = ?"]
    params: list[Any] = [tenant_id]
    for column, value in (("customer_id", customer_id), ("subject", subject)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if start is not None:
        where.append("at >= ?")
        params.append(moment(start))
    if end is not None:
        where.append("at < ?")
        params.append(moment(end))
    if before is not None:
        where.append("(at < ? OR (at = ? AND id < ?))")
        params += [moment(before[0]), moment(before[0]), before[1]]
    rows = store.query(
        f"SELECT id, customer_id, subject, what, route, at FROM {TABLE} "
        f"WHERE {' AND '.join(where)} ORDER BY at DESC, id DESC LIMIT ?",
        [*params, limit + 1])
    items = [{"customer_id": row["customer_id"], "subject": row["subject"],
              "what": row["what"], "route": row["route"], "at": store.from_db("ts", row["at"]),
              "id": int(row["id"])} for row in rows[:limit]]
    following = (items[-1]["at"], items[-1]["id"]) if len(rows) > limit else None
    for item in items:
        del item["id"]
    return items, following
