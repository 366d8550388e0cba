"""Raw library limit: single-event appends through `eventsourcing` itself, no HTTP, no domain.

Each thread owns one `Counter` aggregate (created before the clock starts) and loops
`counter.bump(n); app.save(counter)`: every save is one transaction holding one new event.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from benchmarks.raw_model import Counter, RawAppendApp
from benchmarks.stats import latency_summary


def measure_raw_appends(
    env: dict[str, str], threads: int, seconds: float, warmup: float
) -> dict[str, Any]:
    """Events per second (= saves per second) with `threads` writer threads on one application."""
    app = RawAppendApp(env=env)
    try:
        counters = [Counter(name=f"raw-{threads}-{i}") for i in range(threads)]
        for counter in counters:
            app.save(counter)
        start_gate = threading.Barrier(threads + 1)
        counts = [0] * threads
        latencies: list[list[float]] = [[] for _ in range(threads)]
        errors: list[str] = []
        times: dict[str, float] = {}

        def writer(index: int) -> None:
            counter = counters[index]
            own_latencies = latencies[index]
            n = 0
            try:
                start_gate.wait(timeout=60)
                measure_from, stop_at = times["measure_from"], times["stop_at"]
                while True:
                    began = time.perf_counter()
                    if began >= stop_at:
                        break
                    n += 1
                    counter.bump(n)
                    app.save(counter)
                    if began >= measure_from:
                        own_latencies.append(time.perf_counter() - began)
                        counts[index] += 1
            except Exception as exc:  # reported, never hidden
                errors.append(f"{type(exc).__name__}: {exc}")

        workers = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(threads)]
        for worker in workers:
            worker.start()
        now = time.perf_counter()
        times["measure_from"] = now + warmup
        times["stop_at"] = now + warmup + seconds
        start_gate.wait(timeout=60)
        for worker in workers:
            worker.join(timeout=warmup + seconds + 120)
        ended = time.perf_counter()
        if any(worker.is_alive() for worker in workers):
            errors.append("a writer thread did not finish in time")
        elapsed = max(ended - times["measure_from"], 1e-9)
        total = sum(counts)
        return {
            "threads": threads,
            "seconds": round(elapsed, 3),
            "events": total,
            "events_per_s": round(total / elapsed, 1),
            "latency_ms": latency_summary([x for per in latencies for x in per]),
            "errors": len(errors),
            "error_samples": errors[:5],
        }
    finally:
        app.close()
