"""Limits: rate limits per principal, write quotas per tenant, the expensive-read cap, and
`min_position` waits that hold no worker thread.

Through the app `crm serve` runs, on the embedded store (per-process buckets); the buckets
shared in PostgreSQL are tests/integration/test_limits_postgres.py.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import uvicorn
from fastapi.testclient import TestClient

from services.bootstrap import Chronicle, Parts
from services.common.clock import ManualClock
from services.common.limits import BucketTable, RateLimiter, ReadSlots, SharedRateLimiter
from services.common.settings import Settings
from services.projections.registry import NAMES
from tests.contract.query_api import compose_serve
from tests.errors import error_shaped
from tests.harness.auth import keys_of
from tests.harness.services import free_port
from tests.waiting import eventually

ADA = {"personal": {"name": "Ada Lovelace"}}
SLOW = 0.001
"""A refill rate (tokens a second) too slow to add a token while a test runs."""


def serve(stack: ExitStack, tmp_path: Path, **limits: Any) -> TestClient:
    settings = Settings(data_dir=tmp_path / "crm-data", read_wait_timeout_s=5.0, **limits)
    client, _ = compose_serve(stack, settings)
    return client


def retry_after(response: Any) -> int:
    value = int(response.headers["Retry-After"])
    assert value >= 1
    return value


# -- per principal, per tenant's writes ---------------------------------------------------------


def test_a_principal_over_its_burst_gets_429_with_retry_after_and_others_pass(
        tmp_path: Path) -> None:
    with ExitStack() as stack:
        client = serve(stack, tmp_path, rate_limit_per_s=SLOW, rate_limit_burst=3,
                       tenant_writes_per_s=0)
        keys = keys_of(client.app)
        rep_1, rep_2 = keys.headers(subject="rep-1"), keys.headers(subject="rep-2")
        for _ in range(3):
            assert client.get("/v1/customers", headers=rep_1).status_code == 200
        refused = client.get("/v1/customers", headers=rep_1)
        body = error_shaped(refused, 429, "rate_limited")
        assert body["details"]["retry_after_s"] == retry_after(refused)
        assert retry_after(refused) > 60  # a token a thousand seconds: not soon
        # Writes are requests too, and the same principal stays refused.
        error_shaped(client.post("/v1/customers", json=ADA, headers=rep_1), 429, "rate_limited")
        assert client.get("/v1/customers", headers=rep_2).status_code == 200
        assert client.post("/v1/customers", json=ADA, headers=rep_2).status_code == 201


def test_the_same_principal_in_another_tenant_has_a_bucket_of_its_own(tmp_path: Path) -> None:
    with ExitStack() as stack:
        client = serve(stack, tmp_path, rate_limit_per_s=SLOW, rate_limit_burst=1,
                       tenant_writes_per_s=0)
        keys = keys_of(client.app)
        assert client.get("/v1/customers", headers=keys.headers("acme", "rep-1")).status_code \
            == 200
        error_shaped(client.get("/v1/customers", headers=keys.headers("acme", "rep-1")), 429,
                     "rate_limited")
        assert client.get("/v1/customers", headers=keys.headers("globex", "rep-1")) \
            .status_code == 200


def test_a_tenant_over_its_write_quota_gets_429_on_writes_while_its_reads_pass(
        tmp_path: Path) -> None:
    with ExitStack() as stack:
        client = serve(stack, tmp_path, tenant_writes_per_s=SLOW, tenant_write_burst=2)
        keys = keys_of(client.app)
        rep_1, rep_2 = keys.headers("acme", "rep-1"), keys.headers("acme", "rep-2")
        assert client.post("/v1/customers", json=ADA, headers=rep_1).status_code == 201
        assert client.post("/v1/customers", json=ADA, headers=rep_2).status_code == 201
        for headers in (rep_1, rep_2):  # the quota is the tenant's, whoever writes
            refused = client.post("/v1/customers", json=ADA, headers=headers)
            body = error_shaped(refused, 429, "write_quota_exceeded")
            assert body["details"]["tenant_id"] == "acme"
            assert retry_after(refused) > 60
        assert client.get("/v1/customers", headers=rep_1).status_code == 200
        assert client.post("/v1/customers", json=ADA,
                           headers=keys.headers("globex", "rep-1")).status_code == 201


def test_limits_of_zero_limit_nothing(tmp_path: Path) -> None:
    with ExitStack() as stack:
        client = serve(stack, tmp_path, rate_limit_per_s=0, rate_limit_burst=1,
                       tenant_writes_per_s=0, tenant_write_burst=1)
        client.headers.update(keys_of(client.app).headers(subject="rep-1"))
        for _ in range(5):
            assert client.post("/v1/customers", json=ADA).status_code == 201


# -- the token bucket ---------------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 1, tzinfo=UTC))


def takes(limiter: RateLimiter, key: str, count: int) -> list[bool]:
    return [limiter.take(key).allowed for _ in range(count)]


def test_a_bucket_refills_at_its_rate_up_to_its_burst(clock: ManualClock) -> None:
    limiter = RateLimiter(rate_per_s=2, burst=4, clock=clock)
    assert takes(limiter, "rate:t:a", 5) == [True] * 4 + [False]
    refused = limiter.take("rate:t:a")
    assert refused.retry_after_s == pytest.approx(0.5)
    assert refused.retry_after == 1  # whole seconds, rounded up
    clock.advance(timedelta(seconds=0.5))
    assert takes(limiter, "rate:t:a", 2) == [True, False]
    clock.advance(timedelta(hours=1))  # full again, and no fuller than the burst
    assert takes(limiter, "rate:t:a", 5) == [True] * 4 + [False]
    assert limiter.take("rate:t:b").allowed  # a bucket per key


def test_retry_after_is_the_time_until_the_next_token_rounded_up(clock: ManualClock) -> None:
    limiter = RateLimiter(rate_per_s=0.25, burst=1, clock=clock)
    assert limiter.take("k").allowed
    assert limiter.take("k").retry_after == 4
    clock.advance(timedelta(seconds=3.5))
    assert limiter.take("k").retry_after == 1


def test_full_buckets_are_forgotten_when_there_are_many(clock: ManualClock,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.common.limits.PRUNE_ABOVE", 3)
    limiter = RateLimiter(rate_per_s=1, burst=2, clock=clock)
    for key in ("a", "b", "c"):
        limiter.take(key)
    clock.advance(timedelta(seconds=10))  # all full again
    assert limiter.take("d").allowed
    assert len(limiter._buckets) == 1


def test_an_unreachable_database_lets_requests_pass(clock: ManualClock) -> None:
    """The limits protect the service; they must not stop it when the database is away."""
    table = BucketTable(f"postgresql://nobody@127.0.0.1:{free_port()}/none", "public")
    limiter = SharedRateLimiter(table, rate_per_s=SLOW, burst=1, clock=clock)
    try:
        assert limiter.try_take("rate:t:a") is None  # nothing leased: ask the database
        assert all(limiter.take("rate:t:a").allowed for _ in range(3))
    finally:
        limiter.close()


# -- expensive reads ----------------------------------------------------------------------------


def test_expensive_reads_past_the_cap_get_503_with_retry_after(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "crm-data", expensive_reads_max=1,
                        expensive_read_wait_s=0.2)
    crm = Chronicle(settings, Parts(commands=True, read_models=NAMES, queries=True))
    try:
        with TestClient(crm.api()) as client:
            client.headers.update(keys_of(client.app).headers(subject="rep-1"))
            created = client.post("/v1/customers", json=ADA).json()
            history = f"/v1/customers/{created['customer_id']}/history"
            assert client.get(history).status_code == 200
            slots = crm.limits.expensive_reads
            assert slots.try_acquire()  # someone else's expensive read takes the only slot
            try:
                for path, params in ((history, {}), ("/v1/analytics/funnel", {}),
                                     ("/v1/analytics/lifecycle", {}),
                                     ("/v1/analytics/retention", {}),
                                     ("/v1/analytics/service", {}),
                                     ("/v1/analytics/sales", {}),
                                     (f"/v1/customers/{created['customer_id']}",
                                      {"as_of": "2030-01-01"}),
                                     (f"/v1/customers/{created['customer_id']}",
                                      {"as_of_recorded": "2030-01-01"})):
                    refused = client.get(path, params=params)
                    body = error_shaped(refused, 503, "too_many_expensive_reads")
                    assert refused.headers["Retry-After"] == "1", path
                    assert body["details"]["capacity"] == 1
                # Cheap reads and writes do not queue behind the cap.
                assert client.get("/v1/customers").status_code == 200
                assert client.post("/v1/customers", json=ADA).status_code == 201
            finally:
                slots.release()
            assert client.get("/v1/analytics/funnel").status_code == 200
            assert client.get(history).status_code == 200
            unknown = client.get(f"/v1/customers/{uuid4()}/history")
            error_shaped(unknown, 404, "not_found")
            assert slots.in_use == 0  # every slot given back, whatever the answer
    finally:
        crm.stop()


def test_a_slot_freed_while_waiting_is_taken() -> None:
    import asyncio

    slots = ReadSlots(capacity=1, wait_s=30)
    assert slots.try_acquire()

    async def scenario() -> bool:
        waiting = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        slots.release()
        return await asyncio.wait_for(waiting, 30)

    assert asyncio.run(scenario())
    assert slots.in_use == 1


# -- min_position waits -------------------------------------------------------------------------


@pytest.fixture
def unstarted(tmp_path: Path) -> Iterator[tuple[Chronicle, str, dict[str, str]]]:
    """`crm serve` behind a real server (real worker threads), its projectors not started so
    nothing is applied; yields (the parts, base URL, credentials)."""
    settings = Settings(data_dir=tmp_path / "crm-data", read_wait_timeout_s=120,
                        expensive_reads_max=100)
    crm = Chronicle(settings, Parts(commands=True, read_models=NAMES, queries=True))
    api = crm.api()
    headers = keys_of(api).headers(subject="rep-1")
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=free_port(),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        eventually(lambda: server.started, 30, "the server did not start")
        yield crm, f"http://127.0.0.1:{server.config.port}", headers
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        crm.stop()


def call(url: str, headers: dict[str, str], body: dict[str, Any] | None = None,
         timeout_s: float = 60) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if body else "GET",
                                     headers={**headers, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_sixty_waits_for_an_unapplied_position_do_not_hold_up_a_plain_list(
        unstarted: tuple[Chronicle, str, dict[str, str]]) -> None:
    """Each wait used to hold a worker thread: 60 of them took all 40, and every sync route
    queued behind them until they timed out."""
    crm, base, headers = unstarted
    status, created = call(f"{base}/v1/customers", headers, ADA)
    assert status == 201, created
    waiting_url = f"{base}/v1/customers?min_position={created['position']}"
    slots = crm.limits.expensive_reads
    with ThreadPoolExecutor(60) as pool:
        waits = [pool.submit(call, waiting_url, headers, None, 180) for _ in range(60)]
        eventually(lambda: slots.in_use == 60, 60,
                   lambda: f"{slots.in_use} of the 60 waits are waiting")
        status, page = call(f"{base}/v1/customers", headers)
        assert status == 200, page
        status, _ = call(f"{base}/v1/customers/{created['customer_id']}/history", headers)
        assert status == 200
        assert slots.in_use == 60 and not any(w.done() for w in waits), \
            "the waits ended before the plain requests were answered"
        crm.start()  # the read models apply the position: every wait answers
        answers = [w.result(timeout=120) for w in waits]
    assert [status for status, _ in answers] == [200] * 60
    assert all(page["items"][0]["customer_id"] == created["customer_id"]
               for _, page in answers)
    assert slots.in_use == 0
