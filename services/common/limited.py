"""The limits at the HTTP edge: rate limits on every authorised request, and a slot among
the expensive reads for the routes that declare one.

`enforce_rate_limits` runs inside `authorize` (services/common/auth/http.py), so every route
of both APIs passes it: 429 `rate_limited` per principal and tenant, 429
`write_quota_exceeded` per tenant's writes, each with `Retry-After`. `ExpensiveRead` (a route
parameter) holds one of the process's `expensive_reads_max` slots while the route runs; when
none frees within `expensive_read_wait_s` the answer is 503 `too_many_expensive_reads` with
`Retry-After: 1`. 503, not 429: the cap is the server's capacity, shared by every caller, and
says nothing about this caller's own rate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from services.common.limits import Limiter, Limits, ReadSlots, Verdict
from services.common.web import ApiError

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class TooManyRequests(ApiError):
    """An answer that asks the client to come back after `retry_after` seconds."""

    def __init__(self, status: int, code: str, message: str, retry_after: int,
                 **details: Any) -> None:
        super().__init__(status, code, message, retry_after_s=retry_after, **details)
        self.headers = {"Retry-After": str(retry_after)}


def limits_of(request: Request) -> Limits | None:
    """The limits `at_the_edge` put on the app (None for an app served without the edge)."""
    limits: Limits | None = getattr(request.app.state, "limits", None)
    return limits


async def _verdict(limiter: Limiter, key: str) -> Verdict:
    verdict = limiter.try_take(key)
    if verdict is None:  # the lease is spent: ask the database, off the event loop
        verdict = await run_in_threadpool(limiter.take, key)
    return verdict


async def enforce_rate_limits(request: Request, subject: str, tenant: str) -> None:
    """429 when the principal (in this tenant) is over its rate, or the tenant over its write
    quota; otherwise spends a token of each that applies."""
    limits = limits_of(request)
    if limits is None:
        return
    if limits.per_principal is not None:
        verdict = await _verdict(limits.per_principal, f"rate:{tenant}:{subject}")
        if not verdict.allowed:
            raise TooManyRequests(
                429, "rate_limited", f"too many requests: at most "
                f"{limits.per_principal.rate_per_s:g} a second (bursts of "
                f"{limits.per_principal.burst}) per caller; retry after "
                f"{verdict.retry_after} s", verdict.retry_after)
    if limits.tenant_writes is not None and request.method in WRITES:
        verdict = await _verdict(limits.tenant_writes, f"writes:{tenant}")
        if not verdict.allowed:
            raise TooManyRequests(
                429, "write_quota_exceeded", f"the tenant's write quota is spent: at most "
                f"{limits.tenant_writes.rate_per_s:g} writes a second (bursts of "
                f"{limits.tenant_writes.burst}); retry after {verdict.retry_after} s",
                verdict.retry_after, tenant_id=tenant)


@asynccontextmanager
async def expensive_read_slot(request: Request) -> AsyncIterator[None]:
    """Hold one of the process's expensive-read slots, or 503 when none frees in time."""
    limits = limits_of(request)
    slots = limits.expensive_reads if limits is not None else None
    if slots is None:
        yield
        return
    if not await slots.acquire():
        raise _too_many_expensive_reads(slots)
    try:
        yield
    finally:
        slots.release()


def _too_many_expensive_reads(slots: ReadSlots) -> TooManyRequests:
    return TooManyRequests(
        503, "too_many_expensive_reads", f"this server is running its {slots.capacity} "
        f"expensive reads (history, as-of views, analytics, min_position waits) at once; "
        f"retry shortly", 1, capacity=slots.capacity)


async def _expensive_read(request: Request) -> AsyncIterator[None]:
    async with expensive_read_slot(request):
        yield


async def _expensive_when_as_of(request: Request) -> AsyncIterator[None]:
    params = request.query_params
    if "as_of" in params or "as_of_recorded" in params:
        async with expensive_read_slot(request):
            yield
    else:
        yield


# scope="function": the slot is given back when the route returns, before the response is
# sent, so a closed-loop client's next request never finds its own previous one still there.
ExpensiveRead = Annotated[None, Depends(_expensive_read, scope="function")]
"""A route parameter (`_slot: ExpensiveRead`): the route runs holding an expensive-read slot."""
ExpensiveWhenAsOf = Annotated[None, Depends(_expensive_when_as_of, scope="function")]
"""Like `ExpensiveRead`, for a route that is expensive only with `as_of`/`as_of_recorded`."""
