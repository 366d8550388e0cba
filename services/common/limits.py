"""Limits: token-bucket rate limits and a cap on concurrent expensive reads.

A `RateLimiter` answers, for a key (`rate:<tenant>:<subject>`, `writes:<tenant>`), whether one
more request may pass now or in how many seconds a token will be there. Two backends:

- `RateLimiter` keeps the buckets in this process (the embedded default: one process serves).
- `SharedRateLimiter` keeps them in PostgreSQL (`crm_rate_buckets`), so replicas share one
  bucket per key. To keep a database round trip off most requests it leases tokens in chunks
  (a tenth of the burst) with one `UPDATE … RETURNING` and spends them in memory; the refill
  arithmetic happens in that UPDATE, so every replica sees the others' spending.

`ReadSlots` caps the expensive reads (history, as-of views, analytics, `min_position` waits)
one process runs at once. Nothing here knows HTTP: `services/common/limited.py` applies them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
import psycopg.errors
from psycopg import sql

from services.common.clock import Clock, SystemClock
from services.common.settings import Settings

log = logging.getLogger("chronicle.limits")

LEASE_FRACTION = 0.1
"""A replica leases a tenth of the burst at a time: one database round trip per that many
requests, and at most that many tokens idle in one replica's hands."""

PRUNE_ABOVE = 10_000
"""Buckets kept in memory before the full ones (indistinguishable from absent) are dropped."""


@dataclass(frozen=True)
class Verdict:
    """Whether a request may pass; if not, how long until a token is there."""

    allowed: bool
    retry_after_s: float = 0.0

    @property
    def retry_after(self) -> int:
        """`Retry-After` in whole seconds: rounded up, at least 1."""
        return max(1, math.ceil(self.retry_after_s))


ALLOWED = Verdict(True)


def _refused(deficit: float, rate_per_s: float) -> Verdict:
    return Verdict(False, max(0.0, deficit) / rate_per_s)


class Limiter(Protocol):
    """What the HTTP edge asks, whatever keeps the buckets."""

    rate_per_s: float
    burst: int

    def try_take(self, key: str) -> Verdict | None:
        """Take a token from memory: the verdict, or None when only the database can tell
        (then call `take` off the event loop)."""
        ...

    def take(self, key: str) -> Verdict:
        """Take a token; may block on the database."""
        ...

    def close(self) -> None: ...


@dataclass
class _Bucket:
    tokens: float
    at: float
    """When `tokens` was right (epoch seconds of the limiter's clock)."""


class RateLimiter:
    """Token buckets in this process: `rate_per_s` tokens a second, up to `burst`; one token
    a request. Thread-safe; never blocks."""

    def __init__(self, rate_per_s: float, burst: int, clock: Clock | None = None) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate_per_s, self.burst = float(rate_per_s), burst
        self._clock = clock or SystemClock()
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def try_take(self, key: str) -> Verdict:
        now = self._clock.now().timestamp()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= PRUNE_ABOVE:
                    self._prune(now)
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens
                                + self.rate_per_s * max(0.0, now - bucket.at))
            bucket.at = max(bucket.at, now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return ALLOWED
            return _refused(1.0 - bucket.tokens, self.rate_per_s)

    take = try_take

    def _prune(self, now: float) -> None:
        full_after_s = self.burst / self.rate_per_s
        for key in [k for k, b in self._buckets.items() if now - b.at >= full_after_s]:
            del self._buckets[key]

    def close(self) -> None:
        return None


class BucketTable:
    """`crm_rate_buckets` in the PostgreSQL schema, through one connection guarded by a lock
    (a lease is rare enough that one connection per process is plenty). Opened, and the table
    created if missing, on first use; reopened after a failure."""

    def __init__(self, postgres_url: str, schema: str) -> None:
        self._url = postgres_url
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        table = sql.Identifier(schema, "crm_rate_buckets")
        self._create_sql = sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, "
            "tokens double precision NOT NULL, updated_at timestamptz NOT NULL)").format(table)
        self._insert_sql = sql.SQL(
            "INSERT INTO {} (key, tokens, updated_at) "
            "VALUES (%(key)s, %(burst)s, to_timestamp(%(now)s)) ON CONFLICT (key) DO NOTHING"
        ).format(table)
        # The refill happens here, on the row every replica shares: the tokens grow by the
        # rate since the last lease (never backwards, never past the burst), then the lease
        # takes whole tokens. FOR UPDATE serialises replicas leasing the same key.
        self._lease_sql = sql.SQL(
            "WITH refill AS ("
            " SELECT key, LEAST(%(burst)s, tokens + %(rate)s * GREATEST(0, %(now)s"
            "  - EXTRACT(EPOCH FROM updated_at)::double precision)) AS tokens,"
            "  GREATEST(updated_at, to_timestamp(%(now)s)) AS at"
            " FROM {table} WHERE key = %(key)s FOR UPDATE)"
            " UPDATE {table} AS b SET updated_at = r.at,"
            "  tokens = r.tokens - LEAST(%(chunk)s, GREATEST(0, FLOOR(r.tokens)))"
            " FROM refill AS r WHERE b.key = r.key"
            " RETURNING LEAST(%(chunk)s, GREATEST(0, FLOOR(r.tokens))), b.tokens"
        ).format(table=table)

    def lease(self, key: str, rate_per_s: float, burst: int, chunk: int,
              now: float) -> tuple[int, float]:
        """Take up to `chunk` whole tokens from the shared bucket `key` (refilled up to `now`,
        epoch seconds): (tokens granted, tokens left in the bucket)."""
        params = {"key": key, "rate": float(rate_per_s), "burst": float(burst),
                  "chunk": float(chunk), "now": now}
        with self._lock:
            try:
                conn = self._connection()
                row = conn.execute(self._lease_sql, params).fetchone()
                if row is None:  # a new key: a full bucket, then lease from it
                    conn.execute(self._insert_sql, params)
                    row = conn.execute(self._lease_sql, params).fetchone()
            except psycopg.Error:
                self._close_quietly()
                raise
        assert row is not None
        return int(row[0]), float(row[1])

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=10)
            try:
                conn.execute(self._create_sql)
            except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable):
                pass  # another replica created it at the same moment: it is there
            except psycopg.Error:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _close_quietly(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:  # closing a broken connection: nothing more to do
                log.debug("closing the rate-limit connection failed", exc_info=True)

    def close(self) -> None:
        with self._lock:
            self._close_quietly()


class SharedRateLimiter:
    """Token buckets kept in PostgreSQL, so every replica spends from the same bucket.

    Tokens are leased a chunk at a time and spent in memory: `try_take` answers from the
    lease (or from a refusal still running), and only an empty lease needs `take`, which
    asks the database. A refused key is refused in memory until its token is due, so a
    client hammering a full bucket costs no round trips. If the database cannot be reached
    the request passes (logged): the limits protect the service, they must not stop it.
    """

    def __init__(self, table: BucketTable, rate_per_s: float, burst: int,
                 clock: Clock | None = None) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate_per_s, self.burst = float(rate_per_s), burst
        self.chunk = max(1, int(burst * LEASE_FRACTION))
        self._table = table
        self._clock = clock or SystemClock()
        self._leased: dict[str, int] = {}
        self._refused_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._fetching = threading.Lock()

    def try_take(self, key: str) -> Verdict | None:
        with self._lock:
            return self._from_memory(key, self._clock.now().timestamp())

    def _from_memory(self, key: str, now: float) -> Verdict | None:
        if self._leased.get(key, 0) > 0:
            self._leased[key] -= 1
            return ALLOWED
        until = self._refused_until.get(key)
        if until is not None:
            if now < until:
                return Verdict(False, until - now)
            del self._refused_until[key]
        return None

    def take(self, key: str) -> Verdict:
        with self._fetching:  # one lease at a time: the others then spend it
            now = self._clock.now().timestamp()
            with self._lock:
                known = self._from_memory(key, now)
            if known is not None:
                return known
            try:
                granted, left = self._table.lease(key, self.rate_per_s, self.burst, self.chunk,
                                                  now)
            except psycopg.Error as exc:  # connection refused, server gone: let it pass
                log.warning("rate limit %s not checked: the database did not answer (%s)",
                            key, exc)
                return ALLOWED
            with self._lock:
                if len(self._leased) + len(self._refused_until) >= PRUNE_ABOVE:
                    self._leased = {k: n for k, n in self._leased.items() if n > 0}
                    self._refused_until = {k: t for k, t in self._refused_until.items()
                                           if t > now}
                if granted == 0:
                    verdict = _refused(1.0 - left, self.rate_per_s)
                    self._refused_until[key] = now + verdict.retry_after_s
                    return verdict
                self._leased[key] = granted - 1
                return ALLOWED

    def close(self) -> None:
        self._table.close()


class ReadSlots:
    """At most `capacity` expensive reads at once in this process (0: no cap).

    Thread-safe and not tied to an event loop: `acquire` polls (a full cap is the exception,
    not the rule) for up to `wait_s` before giving up.
    """

    def __init__(self, capacity: int, wait_s: float = 2.0) -> None:
        self.capacity, self.wait_s = capacity, wait_s
        self.in_use = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self.capacity and self.in_use >= self.capacity:
                return False
            self.in_use += 1
            return True

    async def acquire(self) -> bool:
        """A slot (True), or False when none freed within `wait_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        pause = 0.005
        while not self.try_acquire():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.05)
        return True

    def release(self) -> None:
        with self._lock:
            self.in_use -= 1


@dataclass
class Limits:
    """The limits of one process, as the HTTP edge applies them (`app.state.limits`)."""

    per_principal: Limiter | None
    """`rate:<tenant>:<subject>`: every request of a principal in a tenant (None: no limit)."""
    tenant_writes: Limiter | None
    """`writes:<tenant>`: a tenant's POST/PUT/PATCH/DELETE requests (None: no limit)."""
    expensive_reads: ReadSlots
    on_close: Callable[[], None] = lambda: None

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> Limits:
        """In PostgreSQL (shared by the replicas) when the store is, else in this process."""
        slots = ReadSlots(settings.expensive_reads_max, settings.expensive_read_wait_s)
        table: BucketTable | None = None
        if settings.store == "postgres":
            assert settings.postgres_url is not None
            table = BucketTable(settings.postgres_url.get_secret_value(),
                                settings.postgres_schema)

        def limiter(rate_per_s: float, burst: int) -> Limiter | None:
            if rate_per_s <= 0:
                return None
            if table is not None:
                return SharedRateLimiter(table, rate_per_s, burst, clock)
            return RateLimiter(rate_per_s, burst, clock)

        return cls(limiter(settings.rate_limit_per_s, settings.rate_limit_burst),
                   limiter(settings.tenant_writes_per_s, settings.tenant_write_burst),
                   slots, table.close if table is not None else (lambda: None))

    def close(self) -> None:
        self.on_close()
