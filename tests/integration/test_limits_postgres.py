"""Rate limits kept in PostgreSQL: replicas spend from one bucket per key.

Each `SharedRateLimiter` below stands for a replica: its own connection (`BucketTable`), its
own leases, the same schema. Time comes from a manual clock, so refills are exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql
from pydantic import SecretStr

from services.common.clock import ManualClock
from services.common.limits import BucketTable, Limits, SharedRateLimiter
from services.common.settings import Settings
from tests.harness.engines import new_postgres_schema


@pytest.fixture
def schema(postgres_url: str) -> str:
    return new_postgres_schema(postgres_url)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 1, tzinfo=UTC))


@pytest.fixture
def replicas(postgres_url: str, schema: str,
             clock: ManualClock) -> Iterator[list[SharedRateLimiter]]:
    """Two replicas' limiters: 1 token a second, bursts of 10 (leased one at a time)."""
    limiters = [SharedRateLimiter(BucketTable(postgres_url, schema), rate_per_s=1, burst=10,
                                  clock=clock) for _ in range(2)]
    yield limiters
    for limiter in limiters:
        limiter.close()


def tokens_left(postgres_url: str, schema: str, key: str) -> float:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        row = conn.execute(sql.SQL("SELECT tokens FROM {} WHERE key = %s").format(
            sql.Identifier(schema, "crm_rate_buckets")), (key,)).fetchone()
    assert row is not None
    return float(row[0])


def test_two_replicas_spend_from_one_bucket(replicas: list[SharedRateLimiter],
                                            clock: ManualClock) -> None:
    first, second = replicas
    assert all(first.take("rate:acme:rep-1").allowed for _ in range(6))
    # The second replica sees what the first spent: 4 left, then refused.
    assert [second.take("rate:acme:rep-1").allowed for _ in range(5)] == [True] * 4 + [False]
    refused = first.take("rate:acme:rep-1")
    assert not refused.allowed and refused.retry_after == 1
    assert second.take("rate:acme:rep-2").allowed  # another key, another bucket
    clock.advance(timedelta(seconds=3))  # three tokens, wherever they are spent
    spent = [limiter.take("rate:acme:rep-1").allowed for limiter in (first, second) * 3]
    assert spent.count(True) == 3


def test_a_replica_leases_a_tenth_of_the_burst_and_spends_it_in_memory(
        postgres_url: str, schema: str, clock: ManualClock) -> None:
    limiter = SharedRateLimiter(BucketTable(postgres_url, schema), rate_per_s=1, burst=100,
                                clock=clock)
    try:
        assert limiter.try_take("writes:acme") is None  # nothing leased yet
        assert limiter.take("writes:acme").allowed
        assert tokens_left(postgres_url, schema, "writes:acme") == 90
        for _ in range(9):  # the rest of the lease: no round trip
            verdict = limiter.try_take("writes:acme")
            assert verdict is not None and verdict.allowed
        assert limiter.try_take("writes:acme") is None
        assert tokens_left(postgres_url, schema, "writes:acme") == 90
    finally:
        limiter.close()


def test_a_refused_key_is_refused_from_memory_until_its_token_is_due(
        replicas: list[SharedRateLimiter], clock: ManualClock) -> None:
    first, _ = replicas
    for _ in range(10):
        first.take("rate:acme:rep-1")
    assert not first.take("rate:acme:rep-1").allowed
    remembered = first.try_take("rate:acme:rep-1")
    assert remembered is not None and not remembered.allowed
    clock.advance(timedelta(seconds=1))
    assert first.try_take("rate:acme:rep-1") is None  # due: ask the database again
    assert first.take("rate:acme:rep-1").allowed


def test_the_limits_of_a_postgres_deployment_are_shared(postgres_url: str, schema: str,
                                                        clock: ManualClock) -> None:
    settings = Settings(postgres_url=SecretStr(postgres_url), postgres_schema=schema,
                        rate_limit_per_s=1, rate_limit_burst=10, tenant_writes_per_s=0)
    one, other = Limits.from_settings(settings, clock), Limits.from_settings(settings, clock)
    try:
        assert one.tenant_writes is None and isinstance(one.per_principal, SharedRateLimiter)
        assert other.per_principal is not None
        assert all(one.per_principal.take("rate:acme:rep-1").allowed for _ in range(10))
        assert not other.per_principal.take("rate:acme:rep-1").allowed
    finally:
        one.close()
        other.close()


def test_concurrent_replicas_never_spend_more_than_the_bucket_holds(
        postgres_url: str, schema: str, clock: ManualClock) -> None:
    limiters = [SharedRateLimiter(BucketTable(postgres_url, schema), rate_per_s=1, burst=50,
                                  clock=clock) for _ in range(3)]
    try:
        with ThreadPoolExecutor(12) as pool:
            rounds = pool.map(lambda i: [limiters[i % 3].take("writes:acme").allowed
                                         for _ in range(20)], range(12))
            allowed = sum(sum(spent) for spent in rounds)
        assert allowed == 50
    finally:
        for limiter in limiters:
            limiter.close()
