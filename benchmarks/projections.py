"""Relay and projection benchmark: each figure beside the raw limit of the part underneath.

    .venv/bin/python -m benchmarks.projections [--events 1000000] [--quick]
        [--live-seconds 20] [--raw-messages 200000] [--no-docs]

In one run, on a private PostgreSQL (fsync on) and an in-memory Tansu broker:
1. generate the history (services.demo.history) into a SQLite event store;
2. raw kafka-python produce (async + one flush) and consume (assign + seek, no group) rates
   with messages of our average size;
3. the relay: store -> fresh topic;
4. each projector live from the topic (its own consumer group), for a bounded window;
5. rebuilds (services.projections.rebuild.rebuild_many): from the topic per store kind, and
   all six read models in one pass from the event store;
6. raw batched upserts into PostgreSQL and raw Arrow-batch appends into DuckDB, of rows taken
   from our own read-model tables.
Results: benchmarks/results/projections.json and the projections section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import projections_report as report
from benchmarks.docs_block import write_block
from benchmarks.machine import code_version, machine_info
from benchmarks.stats import box_cpu_jiffies, children_of, process_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
RESULTS_PATH = ROOT / "benchmarks" / "results" / "projections.json"
DOCS_PATH = ROOT / "docs" / "BENCHMARKS.md"
TOPIC = "crm.bench.events"
RAW_TOPIC = "crm.bench.raw"
PARTITIONS = 4
EVENTS_PER_CUSTOMER = 11.2  # what services.demo.history averages; the run reports the real count
SQL_NAMES = ("customer_360", "timeline", "lifecycle")
ANALYTICS_NAMES = ("funnel", "retention", "service")
LIVE_BATCH = 2000  # ProjectionRunner's default
REBUILD_BATCH = 5000  # rebuild_many's default
PHASE_TIMEOUT_S = 1800.0


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- measuring


class _TreeSampler:
    """CPU of a process and its children, sampled twice a second from a thread, so that
    PostgreSQL backends which exit inside the phase (a closed connection) are still counted."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self, initial: bool = False) -> None:
        for pid in (self.pid, *children_of(self.pid)):
            cpu = process_cpu_seconds(pid)
            if cpu is not None:
                # Alive at the start: count from here; started later: count all of it.
                self.first.setdefault(pid, cpu if initial else 0.0)
                self.last[pid] = cpu

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def __enter__(self) -> _TreeSampler:
        self._sample(initial=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()

    def seconds(self) -> float:
        return sum(self.last[pid] - self.first.get(pid, 0.0) for pid in self.last)


class Meter:
    """Wall time and CPU of this process, PostgreSQL and the broker over one phase."""

    def __init__(self, postgres_pid: int | None, broker_pid: int | None) -> None:
        self.postgres_pid, self.broker_pid = postgres_pid, broker_pid

    @contextmanager
    def phase(self, into: dict[str, Any]) -> Iterator[None]:
        with ExitStack() as stack:
            pg = stack.enter_context(_TreeSampler(self.postgres_pid)) if self.postgres_pid \
                else None
            br0 = process_cpu_seconds(self.broker_pid) if self.broker_pid else None
            box0, cpu0, t0 = box_cpu_jiffies(), time.process_time(), time.perf_counter()
            yield
            wall = max(time.perf_counter() - t0, 1e-9)
            cpu = time.process_time() - cpu0
            box1 = box_cpu_jiffies()
            br1 = process_cpu_seconds(self.broker_pid) if self.broker_pid else None
        into["cpu"] = {
            "wall_seconds": round(wall, 3),
            "bench_process_cores": round(cpu / wall, 2),
            "postgres_cores": round(pg.seconds() / wall, 2) if pg is not None else None,
            "broker_cores": round((br1 - br0) / wall, 2) if br0 is not None and br1 is not None
            else None,
            "box_busy": round((box1[0] - box0[0]) / max(box1[1] - box0[1], 1), 3),
        }


class ApplyTimer:
    """Time spent inside each runner's `apply` and rows written per store kind (a benchmark
    probe: wraps the classes' methods while active, restores them after)."""

    def __init__(self) -> None:
        self.apply_seconds: dict[str, float] = {}
        self.write_rows: dict[str, int] = {}
        self.write_seconds: dict[str, float] = {}

    @contextmanager
    def active(self) -> Iterator[ApplyTimer]:
        from services.projections.runner import ProjectionRunner
        from services.projections.stores.duck import _DuckTransaction
        from services.projections.stores.sql import _SqlTransaction

        originals = (ProjectionRunner.apply, _SqlTransaction.write, _DuckTransaction.write)
        timer = self

        def apply(runner: Any, records: Any) -> int:
            started = time.perf_counter()
            try:
                return originals[0](runner, records)  # type: ignore[no-any-return]
            finally:
                timer.apply_seconds[runner.name] = (timer.apply_seconds.get(runner.name, 0.0)
                                                    + time.perf_counter() - started)

        def writer(kind: str, original: Any) -> Any:
            def write(tx: Any, table: Any, generation: int, upserts: list[Any],
                      deletes: list[Any]) -> None:
                started = time.perf_counter()
                try:
                    original(tx, table, generation, upserts, deletes)
                finally:
                    timer.write_seconds[kind] = (timer.write_seconds.get(kind, 0.0)
                                                 + time.perf_counter() - started)
                    timer.write_rows[kind] = timer.write_rows.get(kind, 0) + len(upserts)
            return write

        ProjectionRunner.apply = apply  # type: ignore[method-assign,assignment]
        _SqlTransaction.write = writer("sql", originals[1])  # type: ignore[method-assign]
        _DuckTransaction.write = writer("analytics", originals[2])  # type: ignore[method-assign]
        try:
            yield self
        finally:
            ProjectionRunner.apply = originals[0]  # type: ignore[method-assign]
            _SqlTransaction.write = originals[1]  # type: ignore[method-assign]
            _DuckTransaction.write = originals[2]  # type: ignore[method-assign]

    def summary(self) -> dict[str, Any]:
        return {
            "apply_seconds": {k: round(v, 2) for k, v in self.apply_seconds.items()},
            "rows_written": dict(self.write_rows),
            "write_seconds": {k: round(v, 2) for k, v in self.write_seconds.items()},
        }


# --------------------------------------------------------------------------- phases


def _settings(work: Path, bootstrap: str) -> Any:
    from services.common.settings import Settings

    return Settings(memory_store=False, postgres_url=None, data_dir=work / "store",
                    kafka_bootstrap=bootstrap, kafka_topic=TOPIC, kafka_partitions=PARTITIONS)


def _store_bytes(path: Path) -> float | None:
    import sqlite3

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        value = conn.execute("SELECT avg(length(state)) FROM stored_events").fetchone()[0]
    return round(float(value), 1) if value is not None else None


def _message_bytes(store: Any, sample: int = 5000) -> float:
    """Average CloudEvent value size of the first published events, as the relay encodes them."""
    from services.common.cloudevents import encode

    sizes = []
    for notification in store.recorder.select_notifications(start=1, limit=sample):
        event = store.mapper.to_domain_event(notification)
        if not type(event).internal:
            sizes.append(len(encode(event, notification.id)))
    return sum(sizes) / len(sizes) if sizes else 0.0


def phase_generate(store: Any, events: int, seed: int, out: dict[str, Any]) -> None:
    from services.demo.history import generate_history
    from services.demo.summary import describe

    customers = max(1, round(events / EVENTS_PER_CUSTOMER))
    last_log = [time.perf_counter()]

    def progress(done: int, written: int) -> None:
        if time.perf_counter() - last_log[0] > 15:
            last_log[0] = time.perf_counter()
            log(f"  {done:,} customers, {written:,} events")

    summary = generate_history(store, customers=customers, seed=seed,
                               now=datetime(2026, 1, 1, tzinfo=UTC), on_progress=progress)
    out.update(describe(summary))


def phase_relay(store: Any, settings: Any, out: dict[str, Any]) -> None:
    from services.command.relay import Relay

    relay = Relay(store, settings, topic=TOPIC, partitions=PARTITIONS)
    try:
        started = time.perf_counter()
        published = relay.publish_pending()
        seconds = time.perf_counter() - started
    finally:
        relay.close()
    out.update({"events": published, "seconds": round(seconds, 3),
                "events_per_s": round(published / seconds, 1), "batch_size": 1000})


def phase_live(name: str, settings: Any, bootstrap: str, make_store: Any, seconds: float,
               expected: int, out: dict[str, Any]) -> None:
    """One projector in its own consumer group, from offset 0, for a bounded window.

    The clock starts when the first batch arrives (after the group join) and stops when the
    window ends or the projector has applied the whole topic.
    """
    from services.projections import registry
    from services.projections.runner import ProjectionRunner
    from services.projections.sources import KafkaSource

    projection = registry.build(name, settings)
    store = make_store(projection.store_kind, f"live_{name}")
    source = KafkaSource(bootstrap, TOPIC, group_id=f"bench-live-{name}-{time.time_ns()}",
                         session_timeout_ms=6000, client_id=f"bench-{name}")
    try:
        runner = ProjectionRunner(projection, store, source, batch_size=LIVE_BATCH)
        joined_at = time.perf_counter()
        deadline = joined_at + 60
        consumed = 0
        while consumed == 0:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"live {name}: no records within 60 s of subscribing")
            consumed = runner.step(0.5)
        started = time.perf_counter()
        first = consumed
        idle = 0
        while time.perf_counter() - started < seconds and consumed < expected and idle < 4:
            got = runner.step(0.5)
            consumed += got
            idle = 0 if got else idle + 1
        elapsed = time.perf_counter() - started
        counted = consumed - first  # the first batch was polled before the clock started
        out.update({
            "store_kind": projection.store_kind, "batch_size": LIVE_BATCH,
            "join_seconds": round(started - joined_at, 2), "records": counted,
            "applied": runner.stats.applied, "seconds": round(elapsed, 3),
            "events_per_s": round(counted / elapsed, 1) if elapsed > 0 else None,
            "dead_letters": runner.stats.dead_letters,
            "reached_end": consumed >= expected,
        })
    finally:
        source.close()
        store.close()


def phase_rebuild(names: tuple[str, ...], settings: Any, make_store: Any, source: str,
                  event_store: Any, label: str, out: dict[str, Any]) -> None:
    from services.projections import registry
    from services.projections.rebuild import rebuild_many

    targets = []
    stores: dict[str, Any] = {}
    for name in names:
        projection = registry.build(name, settings)
        kind = projection.store_kind
        if kind not in stores:
            stores[kind] = make_store(kind, f"rebuild_{label}")
        targets.append((projection, stores[kind]))
    timer = ApplyTimer()
    try:
        with timer.active():
            results = rebuild_many(targets, settings, source=source,  # type: ignore[arg-type]
                                   event_store=event_store, batch_size=REBUILD_BATCH)
        seconds = results[0].seconds
        events = results[0].events
        out.update({
            "models": list(names), "source": source, "batch_size": REBUILD_BATCH,
            "events": events, "seconds": round(seconds, 3),
            "events_per_s": round(events / seconds, 1) if seconds else None,
            "per_model_events": {r.projection: r.events for r in results},
            **timer.summary(),
        })
        out["feed_seconds"] = round(seconds - sum(timer.apply_seconds.values()), 2)
        out["dead_letters"] = {kind: sum(read_store.dead_letter_counts().values())
                               for kind, read_store in stores.items()}
    finally:
        for store in stores.values():
            store.close()


def sample_rows(make_store: Any, label: str, names: tuple[str, ...], settings: Any,
                per_table: int) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, str]]]:
    """Rows of our own read-model tables (after a rebuild), to feed the raw write limits."""
    from services.projections import registry

    samples: dict[str, list[dict[str, Any]]] = {}
    columns: dict[str, dict[str, str]] = {}
    for name in names:
        projection = registry.build(name, settings)
        store = make_store(projection.store_kind, label)
        try:
            for table in projection.tables:
                samples[table.name] = store.query(
                    f'SELECT * FROM "{table.name}" LIMIT {int(per_table)}')
                columns[table.name] = dict(table.columns)
        finally:
            store.close()
    return samples, columns


# --------------------------------------------------------------------------- the run


def run(args: argparse.Namespace, results: dict[str, Any]) -> None:
    from benchmarks import raw_parts
    from services.command.relay import PRODUCER_DEFAULTS
    from services.common.event_store import ChronicleStore
    from services.projections.stores.duck import DuckReadStore
    from services.projections.stores.sql import SqlReadStore
    from tests.harness.services import start_local_kafka, start_local_postgres

    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="crm-bench-proj-"))
        stack.callback(shutil.rmtree, work, True)
        log("starting the broker (Tansu, in memory) and a private PostgreSQL (fsync on)")
        broker = stack.enter_context(start_local_kafka())
        pg = stack.enter_context(start_local_postgres(fsync=True))
        try:
            pg_pid: int | None = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pg_pid = None
        meter = Meter(pg_pid, broker.process.pid)
        import psycopg

        with psycopg.connect(pg.url, autocommit=True) as conn:
            results["machine"]["postgresql_server_version"] = str(
                conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            results["config"]["postgres_fsync"] = str(
                conn.execute("SHOW fsync").fetchone()[0])  # type: ignore[index]
        settings = _settings(work, broker.bootstrap)

        def make_store(kind: str, label: str) -> Any:
            if kind == "sql":
                return SqlReadStore(postgres_url=pg.url, schema=label)
            return DuckReadStore(work / f"{label}.duckdb")

        event_store = ChronicleStore(env=settings.event_store_env())
        stack.callback(event_store.close)

        # 1. The history.
        log(f"1/6 generating about {args.events:,} events into SQLite")
        generate: dict[str, Any] = {}
        with meter.phase(generate):
            phase_generate(event_store, args.events, args.seed, generate)
        generate["stored_state_bytes"] = _store_bytes(settings.sqlite_path)
        results["generate"] = generate
        total = generate["events"]
        log(f"  {total:,} events of {generate['customers']:,} customers in "
            f"{generate['seconds']:.1f} s: {generate['events_per_s']:,.0f} events/s")

        # 2. Raw Kafka limits, messages of our size.
        message_bytes = _message_bytes(event_store)
        raw_messages = min(args.raw_messages, total)
        log(f"2/6 raw kafka-python produce/consume: {raw_messages:,} messages of "
            f"{message_bytes:.0f} bytes")
        produce_config = {k: v for k, v in PRODUCER_DEFAULTS.items() if k != "client_id"}
        produce = raw_parts.kafka_produce(broker.bootstrap, RAW_TOPIC, raw_messages,
                                          round(message_bytes), produce_config,
                                          broker.process.pid)
        log(f"  produce {produce['messages_per_s']:,.0f} msg/s")
        consume = raw_parts.kafka_consume(
            broker.bootstrap, RAW_TOPIC, raw_messages,
            {"fetch_max_wait_ms": 200, "max_partition_fetch_bytes": 4 * 1024 * 1024})
        log(f"  consume {consume['messages_per_s']:,.0f} msg/s")
        results["kafka_raw"] = {"message_bytes": round(message_bytes, 1), "produce": produce,
                                "consume": consume}

        # 3. The relay.
        log(f"3/6 relay: {total:,} events from the store to topic {TOPIC}")
        relay: dict[str, Any] = {}
        with meter.phase(relay):
            phase_relay(event_store, settings, relay)
        results["relay"] = relay
        log(f"  {relay['events_per_s']:,.0f} events/s")

        # 4. Live projectors, one at a time, each its own consumer group.
        results["live"] = {}
        for name in (*SQL_NAMES, *ANALYTICS_NAMES):
            log(f"4/6 live {name}: up to {args.live_seconds:g} s from offset 0")
            live: dict[str, Any] = {}
            with meter.phase(live):
                phase_live(name, settings, broker.bootstrap, make_store, args.live_seconds,
                           relay["events"], live)
            results["live"][name] = live
            log(f"  {live['events_per_s']:,.0f} events/s ({live['records']:,} records, "
                f"group join {live['join_seconds']} s)")

        # 5. Rebuilds.
        results["rebuild"] = {}
        every = (*SQL_NAMES, *ANALYTICS_NAMES)
        plans: list[tuple[str, tuple[str, ...], str]] = [
            (f"{source}_all", every, source) for source in args.rebuild_from]
        if args.separate_kinds:
            plans += [("topic_sql", SQL_NAMES, "topic"),
                      ("topic_analytics", ANALYTICS_NAMES, "topic")]
        for label, names, source in plans:
            log(f"5/6 rebuild {', '.join(names)} from the {source}")
            rebuilt: dict[str, Any] = {}
            with meter.phase(rebuilt), _profiled(args.profile if label == "store_all" else None):
                phase_rebuild(names, settings, make_store, source, event_store, label, rebuilt)
            results["rebuild"][label] = rebuilt
            log(f"  {rebuilt['events']:,} events in {rebuilt['seconds']:.1f} s: "
                f"{rebuilt['events_per_s']:,.0f} events/s; apply s {rebuilt['apply_seconds']}")

        # 6. Raw write limits, rows shaped like ours (taken from the rebuilt tables).
        log("6/6 raw batched upserts into PostgreSQL and Arrow appends into DuckDB")
        samples, columns = sample_rows(make_store, "rebuild_store_all", SQL_NAMES, settings, 2000)
        raw_sql: dict[str, Any] = {}
        with meter.phase(raw_sql):
            raw_sql.update(raw_parts.postgres_upserts(
                pg.url, "raw_upserts", samples, columns, REBUILD_BATCH,
                target_rows=args.raw_rows, max_seconds=args.raw_seconds))
        results["raw_postgres"] = raw_sql
        log(f"  PostgreSQL {raw_sql['rows_per_s']:,.0f} rows/s")
        samples, columns = sample_rows(make_store, "rebuild_store_all", ANALYTICS_NAMES,
                                       settings, 2000)
        raw_duck: dict[str, Any] = {}
        with meter.phase(raw_duck):
            raw_duck.update(raw_parts.duckdb_appends(
                str(work / "raw.duckdb"), samples, columns, REBUILD_BATCH,
                target_rows=args.raw_rows * 4, max_seconds=args.raw_seconds))
        results["raw_duckdb"] = raw_duck
        log(f"  DuckDB {raw_duck['rows_per_s']:,.0f} rows/s")


@contextmanager
def _profiled(path: Path | None) -> Iterator[None]:
    """cProfile the block into `path` (pstats format) when a path is given."""
    if path is None:
        yield
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(str(path))
        log(f"  profile written to {path}")


def kafka_client_info() -> dict[str, Any]:
    """kafka-python's version and which CRC-32C it uses: without the `crc32c` C package it
    checksums every record batch in pure Python, which bounds produce and consume rates."""
    from importlib import metadata

    import kafka.record.util as record_util

    return {"kafka_python": metadata.version("kafka-python"),
            "kafka_crc32c": "C (crc32c package)" if getattr(record_util, "crc32c_c", None)
            else "pure Python"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.projections",
        description="Relay and projectors beside the raw limits of Kafka, PostgreSQL, DuckDB.")
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="events to generate (default 1,000,000)")
    parser.add_argument("--quick", action="store_true",
                        help="about 20,000 events and short windows, for development")
    parser.add_argument("--live-seconds", type=float, default=None,
                        help="measured window of each live projector (default 10; quick 5)")
    parser.add_argument("--raw-messages", type=int, default=None,
                        help="messages of the raw Kafka runs (default min(events, 100,000))")
    parser.add_argument("--raw-rows", type=int, default=None,
                        help="rows per table of the raw PostgreSQL upsert run (default 100,000)")
    parser.add_argument("--raw-seconds", type=float, default=None,
                        help="upper bound per table of the raw write runs (default 15 s)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebuild-from", default="topic,store",
                        help="sources of the one-pass rebuild of all six models (default both)")
    parser.add_argument("--separate-kinds", action="store_true",
                        help="also rebuild the PostgreSQL and the DuckDB models from the topic "
                             "in separate passes (two more passes over the topic)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="cProfile the one-pass rebuild from the event store into this file")
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/BENCHMARKS.md")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH, help="results JSON path")
    parser.add_argument("--render-only", action="store_true",
                        help="measure nothing: re-render the docs section from --output")
    args = parser.parse_args(argv)
    if args.quick and args.events == 1_000_000:
        args.events = 20_000
    if args.live_seconds is None:
        args.live_seconds = 5.0 if args.quick else 10.0
    if args.raw_messages is None:
        args.raw_messages = 100_000
    if args.raw_rows is None:
        args.raw_rows = 20_000 if args.quick else 100_000
    if args.raw_seconds is None:
        args.raw_seconds = 5.0 if args.quick else 15.0
    args.rebuild_from = [s.strip() for s in args.rebuild_from.split(",") if s.strip()]
    if not args.rebuild_from or set(args.rebuild_from) - {"topic", "store"}:
        parser.error("--rebuild-from takes topic, store or both")
    if not 1000 <= args.events <= 20_000_000:
        parser.error("--events must be 1,000..20,000,000")
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def write_docs(results: dict[str, Any]) -> None:
    write_block(report.BEGIN, report.END, report.markdown(results), DOCS_PATH)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if args.render_only:
        stored = json.loads(args.output.read_text())
        write_docs(stored)
        print(report.console(stored))
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "benchmark": "projections",
        "machine": {**machine_info(), **kafka_client_info()},
        "code": code_version(str(ROOT)),
        "config": {"events": args.events, "quick": args.quick, "seed": args.seed,
                   "partitions": PARTITIONS, "live_seconds": args.live_seconds,
                   "live_batch": LIVE_BATCH, "rebuild_batch": REBUILD_BATCH,
                   "raw_messages": args.raw_messages, "raw_rows": args.raw_rows,
                   "event_store": "SQLite file (WAL)",
                   "postgres": "private local cluster, fsync on",
                   "broker": "Tansu (in memory), one broker", "targets": report.TARGETS},
    }
    failed = False
    try:
        try:
            run(args, results)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            failed = True
            log(f"FAILED: {type(exc).__name__}: {exc}")
            results["error"] = f"{type(exc).__name__}: {exc}"
    except KeyboardInterrupt:
        log("interrupted; everything started has been stopped; no results written")
        return 130
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    results["verdicts"] = report.verdicts(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    if not args.no_docs and not failed:
        write_docs(results)
    print(report.console(results))
    print(f"\nresults: {args.output}" + ("" if args.no_docs or failed else f"\ndocs: {DOCS_PATH}"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
