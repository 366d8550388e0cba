"""Load generator of the query benchmark: N concurrent keep-alive clients sending GETs.

Runs as its own process (`python -m benchmarks.query_load CONFIG.json`) so that its CPU
time is apart from the server's. Each client sends its next request when the previous one is
answered (closed loop), choosing the path at random from `paths` (e.g. one customer-360 per
sampled customer id). It prints `MEASURE_START` / `MEASURE_END` when the measured window opens
and closes (the parent samples CPU counters then), and finally one `RESULT {json}` line.

Config: port, clients, warmup, seconds, paths (list), timeout (default 30), seed (default 1),
token (an API key sent as `Authorization: Bearer <token>` on every request; default none).
The HTTP client is benchmarks.loadgen's raw HTTP/1.1 client on asyncio streams.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time
from collections import Counter
from typing import Any

from benchmarks.loadgen import RawClient
from benchmarks.stats import latency_summary


async def run(config: dict[str, Any]) -> dict[str, Any]:
    port, clients = int(config["port"]), int(config["clients"])
    warmup, seconds = float(config["warmup"]), float(config["seconds"])
    timeout = float(config.get("timeout", 30.0))
    paths: list[str] = list(config["paths"])
    if not paths:
        raise ValueError("no paths to request")
    rng = random.Random(int(config.get("seed", 1)))
    token: str | None = config.get("token")
    connections = [RawClient(port, timeout, token) for _ in range(clients)]

    started = time.perf_counter()
    measure_from = started + warmup
    stop_at = measure_from + seconds
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    error_samples: list[str] = []
    response_bytes = [0]
    last_completion = [0.0]

    async def client_loop(index: int) -> None:
        client = connections[index]
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                return
            path = paths[rng.randrange(len(paths))]
            try:
                status, payload = await client.post(path, None)
            except Exception as exc:  # transport failure or timeout: an error, reported
                status, payload = 0, f"{type(exc).__name__}: {exc}".encode()
            ended = time.perf_counter()
            if began < measure_from:
                continue
            latencies.append(ended - began)
            statuses[status] += 1
            response_bytes[0] += len(payload)
            last_completion[0] = max(last_completion[0], ended)
            if status != 200 and len(error_samples) < 5:
                error_samples.append(f"{status} {path}: {payload[:300]!r}")

    async def window_marks() -> float:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        cpu_from = resource.getrusage(resource.RUSAGE_SELF)
        print("MEASURE_START", flush=True)
        await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
        cpu_to = resource.getrusage(resource.RUSAGE_SELF)
        print("MEASURE_END", flush=True)
        return (cpu_to.ru_utime - cpu_from.ru_utime) + (cpu_to.ru_stime - cpu_from.ru_stime)

    try:
        marks = asyncio.gather(window_marks(), *(client_loop(i) for i in range(clients)))
        loadgen_cpu = float((await marks)[0] or 0.0)
    finally:
        for connection in connections:
            await connection.close()

    elapsed = max(last_completion[0], stop_at) - measure_from
    completed = sum(statuses.values())
    ok = statuses.get(200, 0)
    return {
        "clients": clients,
        "distinct_paths": len(paths),
        "seconds": round(elapsed, 3),
        "requests": completed,
        "ok": ok,
        "errors": completed - ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "error_samples": error_samples,
        "requests_per_s": round(completed / elapsed, 1) if elapsed > 0 else None,
        "mean_response_bytes": round(response_bytes[0] / completed) if completed else None,
        "latency_ms": latency_summary(latencies),
        "loadgen_cpu_seconds": round(loadgen_cpu, 3),
    }


def main() -> None:
    with open(sys.argv[1]) as f:  # a file: the paths can exceed an argument's size limit
        config = json.load(f)
    result = asyncio.run(run(config))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
