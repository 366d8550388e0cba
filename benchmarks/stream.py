"""The live event stream's delay: from a command's 2xx to its event on GET /v1/stream, at fixed
command rates, beside the raw limit — a bare `select_notifications` poll loop on the same store,
in the same run, seeing the same events.

    .venv/bin/python -m benchmarks.stream [--seconds 30] [--rates 50,200]   (~3 min)
    .venv/bin/python -m benchmarks.stream --quick                           (~1 min)

`crm serve` on a fresh embedded store (SQLite) in its own process, as a user runs it. This
process drives an open loop of tag commands (POST /v1/customers/{id}/tags) at each rate, reads
one stream of those events (`type=crm.customer.tagged`) over a socket in a thread, and polls
the store's notification log in another thread every `POLL_S`. Each delay is the moment the
event was seen minus the moment the command's 2xx arrived; a negative delay is an event that
was seen before its command's answer.

Writes benchmarks/results/stream.json and the block between `<!-- stream:begin -->` and
`<!-- stream:end -->` of docs/BENCHMARKS.md (the rest of the page is left as it is).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from benchmarks.docs_block import write_block
from benchmarks.loadgen import RawClient
from benchmarks.machine import machine_info
from benchmarks.server_process import ServerProcess
from benchmarks.stats import box_cpu_jiffies, percentile, process_cpu_seconds
from services.common.event_store import open_event_store
from services.common.settings import Settings
from tests.harness.sse import SseClient, StreamEnded

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "stream.json"
BEGIN, END = "<!-- stream:begin -->", "<!-- stream:end -->"
POLL_S = 0.002
"""The raw poll loop's pause between reads: a 2 ms floor of its own, at a few hundred cheap
queries a second (without a pause it would take a core of this 2-core machine)."""
CUSTOMERS = 250
"""The commands tag these customers in turn: a customer holds at most 100 tags, and a full run
adds about 8,000."""


def log(message: str) -> None:
    print(message, flush=True)


class Observer(threading.Thread):
    """Records when each position was first seen (perf_counter), until stopped."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()
        self.error: str | None = None

    def highest(self) -> int:
        return max(self.seen, default=0)


class StreamReader(Observer):
    def __init__(self, port: int, token: str, after: int) -> None:
        super().__init__("stream-reader")
        self.client = SseClient(f"http://127.0.0.1:{port}", params={
            "type": "crm.customer.tagged", "after_position": after},
            headers={"Authorization": f"Bearer {token}"})
        if self.client.status != 200:
            raise RuntimeError(f"the stream answered {self.client.status}: "
                               f"{self.client.json()}")

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    block = self.client.next_block(1.0)
                except StreamEnded:
                    self.error = "the server ended the stream"
                    return
                except AssertionError:
                    continue  # nothing within a second: look at `stop` again
                if block.data is not None and block.id is not None:
                    self.seen.setdefault(block.id, time.perf_counter())
        finally:
            self.client.close()


class LogPoller(Observer):
    """The raw limit: `select_notifications` after the last position seen, in a loop."""

    def __init__(self, data_dir: Path, after: int) -> None:
        super().__init__("log-poller")
        self.store = open_event_store(Settings(data_dir=data_dir))
        self.after = after
        self.reads = 0

    def run(self) -> None:
        recorder = self.store.recorder
        try:
            while not self.stop.is_set():
                batch = recorder.select_notifications(self.after, 500, inclusive_of_start=False)
                self.reads += 1
                now = time.perf_counter()
                for notification in batch:
                    self.seen.setdefault(notification.id, now)
                if batch:
                    self.after = batch[-1].id
                else:
                    time.sleep(POLL_S)
        finally:
            self.store.close()


async def open_loop(port: int, token: str, rate: float, seconds: float, customers: list[str],
                    label: str) -> list[tuple[float, float, int, int | None]]:
    """Tag commands at `rate`/s for `seconds`, sent on schedule whatever the answers do:
    (sent, answered, status, position) each."""
    idle: list[RawClient] = []
    opened: list[RawClient] = []
    results: list[tuple[float, float, int, int | None]] = []
    gate = asyncio.Semaphore(64)

    async def one(index: int) -> None:
        async with gate:
            client = idle.pop() if idle else RawClient(port, 30.0, token)
            if client not in opened:
                opened.append(client)
            body = json.dumps({"tag": f"{label}-{index}"}).encode()
            sent = time.perf_counter()
            try:
                status, payload = await client.post(
                    f"/v1/customers/{customers[index % len(customers)]}/tags", body)
            except Exception:  # counted as an error
                status, payload = 0, b""
            answered = time.perf_counter()
            idle.append(client)
            position = int(json.loads(payload)["position"]) if status == 200 else None
            results.append((sent, answered, status, position))

    tasks = []
    start = time.perf_counter() + 0.05
    for index in range(int(rate * seconds)):
        pause = start + index / rate - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        tasks.append(asyncio.create_task(one(index)))
    await asyncio.gather(*tasks)
    for client in opened:
        await client.close()
    return results


def delays_ms(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)

    def ms(seconds: float) -> float:
        return round(seconds * 1000, 2)

    if not ordered:
        return {"count": 0}
    return {"count": len(ordered), "p50": ms(percentile(ordered, 0.5)),
            "p90": ms(percentile(ordered, 0.9)), "p99": ms(percentile(ordered, 0.99)),
            "max": ms(ordered[-1]), "min": ms(ordered[0]),
            "before_the_answer": sum(1 for v in ordered if v < 0)}


def measure(rates: list[float], seconds: float, warmup: float, work: Path) -> dict[str, Any]:
    data_dir = work / "crm-data"
    log("starting `crm serve` on a fresh embedded store")
    server = ServerProcess("serve", {"CRM_DATA_DIR": str(data_dir)}, work / "serve.log", 90.0)
    runs: dict[str, Any] = {}
    try:
        token = server.issue_key("bench", "admin")
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as http:
            customers = []
            for n in range(CUSTOMERS):
                reply = http.post("/v1/customers", json={"personal": {"name": f"Stream {n}"}})
                reply.raise_for_status()
                customers.append(reply.json()["customer_id"])
        start = int(reply.json()["position"])
        reader = StreamReader(server.port, token, start)
        poller = LogPoller(data_dir, start)
        reader.start()
        poller.start()
        try:
            if warmup > 0:
                log(f"warm-up: {rates[0]:g} commands/s for {warmup:g} s (not measured)")
                asyncio.run(open_loop(server.port, token, rates[0], warmup, customers, "warm"))
            for rate in rates:
                log(f"{rate:g} tag commands/s, open loop, for {seconds:g} s")
                load_before = round(os.getloadavg()[0], 2)
                cpu0, box0, t0 = process_cpu_seconds(server.pid), box_cpu_jiffies(), \
                    time.perf_counter()
                results = asyncio.run(open_loop(server.port, token, rate, seconds, customers,
                                                f"r{rate:g}"))
                wall = time.perf_counter() - t0
                cpu1, box1 = process_cpu_seconds(server.pid), box_cpu_jiffies()
                ok = [r for r in results if r[2] == 200 and r[3] is not None]
                last = max((r[3] or 0 for r in ok), default=0)
                deadline = time.monotonic() + 30
                while (reader.highest() < last or poller.highest() < last) \
                        and time.monotonic() < deadline:
                    time.sleep(0.05)
                stream = [reader.seen[p] - answered for _, answered, _, p in ok
                          if p in reader.seen]
                raw = [poller.seen[p] - answered for _, answered, _, p in ok
                       if p in poller.seen]
                runs[f"{rate:g}"] = {
                    "rate": rate, "seconds": seconds, "sent": len(results), "ok": len(ok),
                    "statuses": dict(Counter(str(r[2]) for r in results)),
                    "achieved_per_s": round(len(ok) / wall, 1),
                    "command_ms": delays_ms([answered - sent for sent, answered, _, _ in ok]),
                    "stream_delay_ms": delays_ms(stream),
                    "poll_delay_ms": delays_ms(raw),
                    "missing_on_stream": sum(1 for r in ok if r[3] not in reader.seen),
                    "missing_in_poll": sum(1 for r in ok if r[3] not in poller.seen),
                    "server_cores": round((cpu1 - cpu0) / wall, 2)
                    if cpu0 is not None and cpu1 is not None else None,
                    "box_busy": round((box1[0] - box0[0]) / max(box1[1] - box0[1], 1), 3),
                    "loadavg_1min_before": load_before,
                }
                row = runs[f"{rate:g}"]
                log(f"  stream delay p50 {row['stream_delay_ms'].get('p50')} ms, p99 "
                    f"{row['stream_delay_ms'].get('p99')} ms; raw poll p50 "
                    f"{row['poll_delay_ms'].get('p50')} ms, p99 "
                    f"{row['poll_delay_ms'].get('p99')} ms; {row['missing_on_stream']} "
                    f"missing on the stream; answers {row['statuses']}")
        finally:
            reader.stop.set()
            poller.stop.set()
            reader.join(10)
            poller.join(10)
        if reader.error:
            raise RuntimeError(reader.error)
    finally:
        server.stop()
    return {"runs": runs, "poll_pause_ms": POLL_S * 1000}


def render(results: dict[str, Any]) -> str:
    info = results["machine"]
    lines = [
        "## The live event stream: from a command's answer to its event on GET /v1/stream",
        "",
        f"`.venv/bin/python -m {' '.join(['benchmarks.stream', *results['arguments']])}` "
        f"(`benchmarks/stream.py`), measured {info['date']}. Machine: {info['cpu_model']}, "
        f"{info['nproc']} cores, {info['memory_gib']} GiB, Python {info['python']}, SQLite "
        f"{info['sqlite3']}. Raw results: `benchmarks/results/stream.json`.",
        "",
        "`crm serve` on a fresh embedded store in its own process; an open loop of tag "
        "commands at each rate; one stream (`type=crm.customer.tagged`) read over a socket. "
        "**Delay** = when the event arrived minus when the command's 2xx arrived (negative: "
        "the event came first). **The raw limit underneath**, in the same run on the same "
        "store: a bare `select_notifications` loop in the benchmark's process, pausing "
        f"{results['poll_pause_ms']:g} ms when it finds nothing — when a committed event can "
        "first be read at all. Target: stream p99 ≤ 100 ms at 50 commands/s.",
        "",
        "| commands/s (achieved, refused) | command p50 / p99 ms | stream delay p50 / p99 / max ms | "
        "raw poll delay p50 / p99 / max ms | events missing | server cores | box busy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["runs"].values():
        command, stream, raw = row["command_ms"], row["stream_delay_ms"], row["poll_delay_ms"]
        lines.append(
            f"| {row['rate']:g} ({row['achieved_per_s']:g}, {row['sent'] - row['ok']}) | "
            f"{command.get('p50')} / "
            f"{command.get('p99')} | {stream.get('p50')} / {stream.get('p99')} / "
            f"{stream.get('max')} | {raw.get('p50')} / {raw.get('p99')} / {raw.get('max')} | "
            f"{row['missing_on_stream']} | {row['server_cores']} | {row['box_busy']:.0%} |")
    lines += [
        "",
        "*Achieved*: commands answered 2xx over the time until the last answer; *refused*: "
        "any other answer. *Box busy*: all CPUs of this 2-core machine, which the benchmark's "
        "load generator, stream reader and poll loop share with the server.",
        "",
        "Why it is quick: a save in the server's own process wakes the stream's follower of "
        "the log at once (no poll interval in the path); the follower reads the new "
        "notifications once for every open stream and wakes those that want one of them. "
        "What remains is a store "
        "read on a worker thread, the filter, and the write to the socket; the raw poll sees "
        "the commit first because it reads the store directly, without waiting for the "
        "server's event loop. Writes by other processes are found by a poll every "
        "`CRM_STREAM_POLL_S` (0.25 s), and on PostgreSQL by LISTEN/NOTIFY at once.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="50,200",
                        help="commands a second, comma-separated (default 50,200)")
    parser.add_argument("--seconds", type=float, default=30.0, help="per rate (default 30)")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="10 s per rate, 2 s warm-up")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH)
    parser.add_argument("--no-docs", action="store_true",
                        help="do not rewrite the block in docs/BENCHMARKS.md")
    args = parser.parse_args()
    seconds, warmup = (10.0, 2.0) if args.quick else (args.seconds, args.warmup)
    rates = [float(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory(prefix="crm-stream-bench-") as work:
        results: dict[str, Any] = {
            "arguments": [a for a in ("--quick" if args.quick else "",
                                      f"--rates {args.rates}" if args.rates != "50,200"
                                      else "") if a],
            "machine": machine_info(), **measure(rates, seconds, warmup, Path(work))}
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    section = render(results)
    print(section)
    if not args.no_docs:
        write_block(BEGIN, END, section)


if __name__ == "__main__":
    main()
