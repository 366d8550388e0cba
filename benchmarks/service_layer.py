"""Diagnostic: our command service called in-process (no HTTP), to split where the time goes.

Same command as the HTTP tag mix (`CommandService.tag_customer`: load the customer by replaying
its events, decide, save one event), same rotation over customers (at most 100 tags each),
on its own store so it cannot disturb the other measurements.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID

from benchmarks.stats import latency_summary
from services.command.domain.customer import MAX_TAGS

TAGS_PER_CUSTOMER = MAX_TAGS  # a customer takes at most this many tags


def measure_service_layer(
    settings: Any, threads: int, seconds: float, warmup: float, customers_per_thread: int
) -> dict[str, Any]:
    from services.command.domain.aggregate import CommandContext
    from services.command.service import CommandService, NewCustomer
    from services.common.event_store import open_event_store
    from services.common.events.customer import CustomerPersonal

    store = open_event_store(settings)
    try:
        service = CommandService(store, settings)
        ctx = CommandContext(actor="bench", tenant_id=settings.default_tenant)
        pools: list[list[UUID]] = [
            [
                UUID(service.register_customer(
                    ctx, NewCustomer(personal=CustomerPersonal(name=f"Bench s{threads}-{i}-{j}"))
                ).ids["customer_id"])
                for j in range(customers_per_thread)
            ]
            for i in range(threads)
        ]
        start_gate = threading.Barrier(threads + 1)
        counts = [0] * threads
        latencies: list[list[float]] = [[] for _ in range(threads)]
        errors: list[str] = []
        times: dict[str, float] = {}
        exhausted = [False] * threads

        def worker(index: int) -> None:
            pool, own = pools[index], latencies[index]
            sent = 0
            try:
                start_gate.wait(timeout=60)
                measure_from, stop_at = times["measure_from"], times["stop_at"]
                while True:
                    began = time.perf_counter()
                    if began >= stop_at:
                        break
                    customer = sent // TAGS_PER_CUSTOMER
                    if customer >= len(pool):
                        exhausted[index] = True
                        break
                    service.tag_customer(ctx, pool[customer], f"t{sent % TAGS_PER_CUSTOMER + 1}")
                    sent += 1
                    if began >= measure_from:
                        own.append(time.perf_counter() - began)
                        counts[index] += 1
            except Exception as exc:  # reported, never hidden
                errors.append(f"{type(exc).__name__}: {exc}")

        workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
        for w in workers:
            w.start()
        now = time.perf_counter()
        times["measure_from"], times["stop_at"] = now + warmup, now + warmup + seconds
        start_gate.wait(timeout=60)
        for w in workers:
            w.join(timeout=warmup + seconds + 120)
        elapsed = max(time.perf_counter() - times["measure_from"], 1e-9)
        if any(exhausted):
            errors.append("a thread ran out of customers before the end (pool too small)")
        total = sum(counts)
        return {
            "threads": threads,
            "seconds": round(elapsed, 3),
            "commands": total,
            "commands_per_s": round(total / elapsed, 1),
            "latency_ms": latency_summary([x for per in latencies for x in per]),
            "errors": len(errors),
            "error_samples": errors[:5],
        }
    finally:
        store.close()
