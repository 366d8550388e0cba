"""Part 2 of the policies benchmark: the delay from a trigger to the rule's command.

`crm serve` on a fresh data dir with rules that assign every new lead round-robin among the
reps (`RULES_DELAY`, no cap); an open-loop load of lead creations at fixed rates; afterwards,
from the event store, the time from each lead's `LeadCreated.recorded_at` to the rule's
`LeadAssigned.recorded_at`, beside the lead-creation command latency of the same load.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.command_path import _settings
from benchmarks.loadgen import RawClient
from benchmarks.policies_common import loadavg, log
from benchmarks.server_process import ServerProcess
from benchmarks.stats import box_cpu_jiffies, latency_summary, percentile, process_cpu_seconds
from services.common.event_store import open_event_store
from services.common.events.lead import LeadAssigned, LeadCreated
from services.demo.names import REPS
from services.projections.policy_state.projection import RULE_ACTOR_PREFIX

BENCH_SUBJECT, BENCH_ROLE = "bench", "admin"
"""Who the API key issued for the run speaks for, and its role (rules need `admin`)."""

# The delay phase: every new lead round-robin among the reps, no cap.
RULES_DELAY = f'''
[[assignment.teams]]
id = "inbound"
members = [{", ".join(f'"{rep}"' for rep in REPS)}]

[assignment]
default_team = "inbound"
'''


ERROR_SAMPLES: list[str] = []
"""The first few failed requests' answers of the current open-loop run."""


async def open_loop(port: int, rate: float, seconds: float, customers: list[str],
                    label: str, token: str, max_connections: int = 64,
                    ) -> list[tuple[float, float, float, int, str | None]]:
    """Lead creations at `rate`/s for `seconds`, sent on schedule whatever the answers do
    (open loop): a request goes out on an idle keep-alive connection or a new one, with the
    API key `token`."""
    idle: list[Any] = []
    opened: list[Any] = []
    results: list[tuple[float, float, float, int, str | None]] = []
    gate = asyncio.Semaphore(max_connections)
    errors = ERROR_SAMPLES

    async def one(index: int, scheduled: float) -> None:
        async with gate:
            if idle:
                client = idle.pop()
            else:
                client = RawClient(port, 30.0, token)
                opened.append(client)
            sent = time.perf_counter()
            body = json.dumps({"customer_id": customers[index % len(customers)],
                               "title": f"{label} {index}", "source": "web"}).encode()
            try:
                status, payload = await client.post("/v1/leads", body)
            except Exception as exc:  # counted as an error, never hidden
                status, payload = 0, f"{type(exc).__name__}: {exc}".encode()
            done = time.perf_counter()
            idle.append(client)
            lead_id = None
            if status == 201:
                lead_id = str(json.loads(payload)["lead_id"])
            elif len(errors) < 5:
                errors.append(f"{status}: {payload[:200]!r}")
            results.append((scheduled, sent, done, status, lead_id))

    tasks = []
    start = time.perf_counter() + 0.05
    for index in range(int(rate * seconds)):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, scheduled)))
    await asyncio.gather(*tasks)
    for client in opened:
        await client.close()
    return results


def _count_topics(events_path: Path) -> tuple[int, int]:
    """(LeadCreated, LeadAssigned) stored so far, read-only beside the running server."""
    with sqlite3.connect(f"file:{events_path}?mode=ro", uri=True, timeout=10) as conn:
        rows = dict(conn.execute(
            "SELECT topic, COUNT(*) FROM stored_events WHERE topic LIKE '%:LeadCreated' "
            "OR topic LIKE '%:LeadAssigned' GROUP BY topic").fetchall())
    created = sum(n for topic, n in rows.items() if topic.endswith(":LeadCreated"))
    assigned = sum(n for topic, n in rows.items() if topic.endswith(":LeadAssigned"))
    return created, assigned


def _lead_times(settings: Any) -> tuple[dict[str, datetime], dict[str, tuple[datetime, str]]]:
    """Each lead's LeadCreated.recorded_at and its first rule LeadAssigned (recorded_at, actor)."""
    store = open_event_store(settings)
    created: dict[str, datetime] = {}
    assigned: dict[str, tuple[datetime, str]] = {}
    try:
        start = 1
        while True:
            batch = store.recorder.select_notifications(start=start, limit=5000)
            if not batch:
                break
            for notification in batch:
                if not notification.topic.endswith((":LeadCreated", ":LeadAssigned")):
                    continue
                event = store.mapper.to_domain_event(notification)
                if isinstance(event, LeadCreated):
                    created[str(event.aggregate_id)] = event.recorded_at
                elif isinstance(event, LeadAssigned) and event.actor.startswith(RULE_ACTOR_PREFIX):
                    assigned.setdefault(str(event.aggregate_id), (event.recorded_at, event.actor))
            start = batch[-1].id + 1
    finally:
        store.close()
    return created, assigned


def run_delay_part(interval: float, rates: list[float], seconds: float, warmup: float,
                   work: Path, out: dict[str, Any]) -> None:
    data_dir = work / f"serve_{str(interval).replace('.', '_')}"
    log(f"delay: `crm serve` with CRM_POLICY_INTERVAL_S={interval:g} on a fresh data dir")
    server = ServerProcess("serve", {"CRM_DATA_DIR": str(data_dir),
                                     "CRM_POLICY_INTERVAL_S": str(interval)},
                           work / f"serve_{interval:g}.log", 90.0)
    runs: dict[str, Any] = {}
    sets: dict[str, list[tuple[float, float, float, int, str | None]]] = {}
    try:
        out["server_start_seconds"] = round(server.start_seconds, 2)
        base = f"http://127.0.0.1:{server.port}"
        log(f"  issuing an API key (subject {BENCH_SUBJECT}, role {BENCH_ROLE})")
        token = server.issue_key(BENCH_SUBJECT, BENCH_ROLE)
        with httpx.Client(base_url=base, timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as http:
            answer = http.put("/v1/rules", content=RULES_DELAY.encode(),
                              headers={"Content-Type": "application/toml"},
                              params={"source": "benchmarks/policies.py"})
            answer.raise_for_status()
            customers = []
            for n in range(100):
                reply = http.post("/v1/customers", json={"personal": {"name": f"Delay {n}"}})
                reply.raise_for_status()
                customers.append(reply.json()["customer_id"])
        time.sleep(max(1.5, interval * 2))  # the rules book refreshes within a second
        # The server with no load: projectors polling, the engine's empty rounds.
        cpu0, box0, t0 = process_cpu_seconds(server.pid), box_cpu_jiffies(), time.perf_counter()
        time.sleep(5.0)
        cpu1, box1, wall = process_cpu_seconds(server.pid), box_cpu_jiffies(), \
            time.perf_counter() - t0
        out["idle"] = {"seconds": round(wall, 2),
                       "server_cores": round((cpu1 - cpu0) / wall, 3)
                       if cpu0 is not None and cpu1 is not None else None,
                       "box_busy": round((box1[0] - box0[0]) / max(box1[1] - box0[1], 1), 3)}
        log(f"  idle server: {out['idle']['server_cores']} cores")
        if warmup > 0:
            log(f"  warm-up: {rates[0]:g} leads/s for {warmup:g} s (not measured)")
            asyncio.run(open_loop(server.port, rates[0], warmup, customers, "warm-up", token))
            _drain(data_dir / "events.sqlite", 20.0)
        for rate in rates:
            key = f"{rate:g}"
            log(f"  {rate:g} lead creations/s, open loop, for {seconds:g} s")
            cpu0, box0, load0 = process_cpu_seconds(server.pid), box_cpu_jiffies(), loadavg()
            t0, bench0 = time.perf_counter(), time.process_time()
            ERROR_SAMPLES.clear()
            results = asyncio.run(open_loop(server.port, rate, seconds, customers, f"r{key}",
                                            token))
            wall = time.perf_counter() - t0
            cpu1, box1 = process_cpu_seconds(server.pid), box_cpu_jiffies()
            bench_cpu = time.process_time() - bench0
            drained = _drain(data_dir / "events.sqlite", 30.0)
            sets[key] = results
            ok = [r for r in results if r[3] == 201]
            runs[key] = {
                "rate": rate, "seconds": seconds, "sent": len(results), "ok": len(ok),
                "errors": len(results) - len(ok), "error_samples": list(ERROR_SAMPLES),
                "statuses": dict(Counter(str(r[3]) for r in results)),
                "achieved_per_s": round(len(ok) / wall, 1),
                "latency_ms": latency_summary(r[2] - r[1] for r in ok),
                "latency_from_schedule_ms": latency_summary(r[2] - r[0] for r in ok),
                "send_lag_ms_max": round(max((r[1] - r[0] for r in results), default=0) * 1000,
                                         2),
                "server_cores": round((cpu1 - cpu0) / wall, 2)
                if cpu0 is not None and cpu1 is not None else None,
                "server_cpu_ms_per_lead": round((cpu1 - cpu0) / len(ok) * 1000, 2)
                if cpu0 is not None and cpu1 is not None and ok else None,
                "client_cores": round(bench_cpu / wall, 2),
                "box_busy": round((box1[0] - box0[0]) / max(box1[1] - box0[1], 1), 3),
                "loadavg_start": load0, "loadavg_end": loadavg(),
                "drained_seconds": drained,
            }
            log(f"    {len(ok):,} ok, latency p50 {runs[key]['latency_ms']['p50']} ms p99 "
                f"{runs[key]['latency_ms']['p99']} ms; server {runs[key]['server_cores']} "
                f"cores; all assigned after {drained} s")
    finally:
        server.stop()
    created, assigned = _lead_times(_settings(data_dir=data_dir))
    for key, results in sets.items():
        delays = []
        missing = 0
        actors: Counter[str] = Counter()
        ours = [lead_id for *_, lead_id in results if lead_id is not None]
        first = min((created[x] for x in ours if x in created), default=None)
        last = max((created[x] for x in ours if x in created), default=None)
        during = 0
        for lead_id in ours:
            if lead_id not in assigned or lead_id not in created:
                missing += 1
                continue
            at, actor = assigned[lead_id]
            actors[actor] += 1
            delays.append((at - created[lead_id]).total_seconds())
            during += last is not None and at <= last
        ordered = sorted(delays)
        span = (last - first).total_seconds() if first and last else 0.0
        runs[key]["assignments_while_loaded"] = {
            "seconds": round(span, 2), "assigned": during,
            "per_s": round(during / span, 1) if span > 0 else None,
            "backlog_at_end": len(ours) - during}
        runs[key]["delay"] = {
            "assigned": len(delays), "not_assigned": missing,
            "p50_ms": _ms(percentile(ordered, 0.5)), "p95_ms": _ms(percentile(ordered, 0.95)),
            "p99_ms": _ms(percentile(ordered, 0.99)),
            "max_ms": _ms(ordered[-1]) if ordered else None,
            "mean_ms": _ms(sum(ordered) / len(ordered)) if ordered else None,
            "actors": dict(actors),
        }
        log(f"  {key}/s: trigger → LeadAssigned p50 {runs[key]['delay']['p50_ms']} ms, p99 "
            f"{runs[key]['delay']['p99_ms']} ms, max {runs[key]['delay']['max_ms']} ms; "
            f"{len(delays):,} assigned, {missing} not")
    out["interval_s"] = interval
    out["runs"] = runs


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None or seconds != seconds else round(seconds * 1000, 1)


def _drain(events_path: Path, timeout: float) -> float | None:
    """Seconds until every LeadCreated has a LeadAssigned (None: not within `timeout`)."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        created, assigned = _count_topics(events_path)
        if assigned >= created:
            return round(time.perf_counter() - began, 2)
        time.sleep(0.1)
    return None
