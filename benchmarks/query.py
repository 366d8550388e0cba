"""Query API benchmark: each read route beside the HTTP floor of the same server, same run.

    .venv/bin/python -m benchmarks.query [--customers 100000] [--postgres] [--clients 32]
        [--seconds 15] [--warmup 3] [--explain] [--no-docs]

In one run:
1. generate the history (services.demo.history: about 11 events per customer over two years
   of business time, with the working day's open leads and tickets) into a fresh event store: SQLite in a temp dir (the embedded mode), or
   with `--postgres` a private PostgreSQL (fsync on) started for the run, which then holds the
   events and the SQL read models (customer-360, timeline, lifecycle);
2. build all six read models in one pass from the store (services.projections.rebuild);
3. in-process, no HTTP: single-request latency of the read functions the routes call (funnel,
   retention and service in DuckDB; customer-360 and timeline in the SQL store) — with
   `--explain`, DuckDB's EXPLAIN ANALYZE of each analytics statement too;
4. start `crm query-api` on that data as a subprocess, and for each route in turn run
   `benchmarks.query_load` (its own process): 32 closed-loop keep-alive clients, a warm-up,
   then a fixed window; p50/p90/p99, requests/s, server CPU per request. Every request carries
   an API key issued for the run once the server is up (subject `bench`, role `admin`).
   `GET /v1/me` (authenticated, no store) is the floor; `GET /health` (public) runs beside it,
   so that their difference is the cost of authentication per request; funnel and retention
   also run with one client (their latency without queueing).
Results: benchmarks/results/query.json and the query section of docs/BENCHMARKS.md (only the
block between `<!-- query:begin -->` and `<!-- query:end -->`). Every process and temp dir is
removed at the end, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import query_report as report
from benchmarks.docs_block import write_block
from benchmarks.machine import code_version, machine_info
from benchmarks.server_process import CpuWindow, ServerProcess
from benchmarks.stats import latency_summary

ROOT = Path(__file__).resolve().parent.parent
RESULTS_PATH = ROOT / "benchmarks" / "results" / "query.json"
DOCS_PATH = ROOT / "docs" / "BENCHMARKS.md"
SERVER_START_TIMEOUT = 180.0
CAUGHT_UP_TIMEOUT = 300.0
ID_SAMPLE = 5000
REGION = "EMEA"
TENANT = "default"
BENCH_SUBJECT, BENCH_ROLE = "bench", "admin"
"""Who the benchmark's API key speaks for, and its role."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the routes


def routes(ids: list[str], owners: list[str], lead_ids: list[str] | None = None,
           ticket_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """What each measurement requests: a label, the paths (one chosen at random per request)."""
    leads = [
        {"key": "leads_list", "label": "leads `GET /v1/leads?owner=…&open=true&limit=50`",
         "paths": [f"/v1/leads?owner={o}&open=true&limit=50" for o in owners]},
        {"key": "lead_page", "label": "lead page `GET /v1/leads/{id}`",
         "paths": [f"/v1/leads/{i}" for i in lead_ids]},
    ] if lead_ids else []
    tickets = [
        {"key": "tickets_list", "label": "tickets `GET /v1/tickets?status=open&limit=50`",
         "paths": ["/v1/tickets?status=open&limit=50"]},
        {"key": "ticket_page", "label": "ticket page `GET /v1/tickets/{id}`",
         "paths": [f"/v1/tickets/{i}" for i in ticket_ids]},
    ] if ticket_ids else []
    return [
        {"key": "me", "label": "`GET /v1/me` (HTTP floor, authenticated)", "paths": ["/v1/me"]},
        {"key": "health", "label": "`GET /health` (no authentication)", "paths": ["/health"]},
        {"key": "customer_360", "label": "customer-360 `GET /v1/customers/{id}`",
         "paths": [f"/v1/customers/{i}" for i in ids]},
        {"key": "list", "label": f"list `GET /v1/customers?region={REGION}&owner=…&limit=50`",
         "paths": [f"/v1/customers?region={REGION}&owner={o}&limit=50" for o in owners]},
        {"key": "timeline", "label": "timeline `GET /v1/customers/{id}/timeline?limit=50`",
         "paths": [f"/v1/customers/{i}/timeline?limit=50" for i in ids]},
        *leads, *tickets,
        {"key": "funnel", "label": "funnel `GET /v1/analytics/funnel`",
         "paths": ["/v1/analytics/funnel"], "single_client": True},
        {"key": "funnel_by_source", "label": "funnel `…/funnel?group_by=source`",
         "paths": ["/v1/analytics/funnel?group_by=source"], "single_client": True},
        {"key": "retention_purchase", "label": "retention `…/retention?activity=purchase`",
         "paths": ["/v1/analytics/retention?activity=purchase"], "single_client": True},
        {"key": "retention_any", "label": "retention `…/retention?activity=any`",
         "paths": ["/v1/analytics/retention?activity=any"], "single_client": True},
        {"key": "service", "label": "service `GET /v1/analytics/service`",
         "paths": ["/v1/analytics/service"], "single_client": True},
    ]


# --------------------------------------------------------------------------- server process


class Server(ServerProcess):
    """`crm query-api` on the benchmark's data, as a subprocess in its own session."""

    def __init__(self, settings_env: dict[str, str], log_path: Path) -> None:
        super().__init__("query-api", settings_env, log_path, SERVER_START_TIMEOUT)

    def wait_caught_up(self, head: int) -> dict[str, Any]:
        """Until every projector reports the store's last position (they should already)."""
        deadline = time.monotonic() + CAUGHT_UP_TIMEOUT
        while True:
            page = self.get_json("/v1/projections")
            behind = [p["projection"] for p in page["projections"]
                      if p["position"] < head or (p["lag_events"] or 0) > 0]
            if not behind:
                return dict(page)
            if time.monotonic() > deadline:
                raise RuntimeError(f"projections {behind} not at position {head} after "
                                   f"{CAUGHT_UP_TIMEOUT:.0f} s")
            time.sleep(1.0)


def run_load(config: dict[str, Any], server: Server, postgres_pid: int | None,
             work: Path) -> dict[str, Any]:
    """benchmarks.query_load in its own process, bounded; CPU sampled at its window marks."""
    window = CpuWindow(server.pid, postgres_pid)
    config_path = work / f"load-{config['key']}-{config['clients']}.json"
    config_path.write_text(json.dumps(config))
    stderr_path = work / f"load-{config['key']}-{config['clients']}.log"
    limit = 120 + float(config["warmup"]) + float(config["seconds"])
    result: dict[str, Any] | None = None
    with stderr_path.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.query_load", str(config_path)],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
            start_new_session=True, text=True)
        watchdog = threading.Timer(limit, process.kill)
        watchdog.daemon = True
        watchdog.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("MEASURE_"):
                    window.mark()
                elif line.startswith("RESULT "):
                    result = json.loads(line[len("RESULT "):])
            process.wait(timeout=30)
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    if result is None:
        tail = stderr_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"load generator gave no result (exit {process.returncode}):\n{tail}"
                           f"\nserver log tail:\n{server.log_tail()}")
    result["cpu"] = window.summary(result["loadgen_cpu_seconds"], result["requests"])
    if result["errors"]:
        result["server_log_tail"] = server.log_tail()
    return result


# --------------------------------------------------------------------------- phases


def _settings(data_dir: Path, postgres_url: str | None) -> Any:
    from pydantic import SecretStr

    from services.common.settings import Settings

    return Settings(memory_store=False, data_dir=data_dir, kafka_bootstrap=None,
                    postgres_url=SecretStr(postgres_url) if postgres_url else None)


def phase_generate(settings: Any, customers: int, seed: int, out: dict[str, Any]) -> int:
    from services.common.event_store import ChronicleStore
    from services.demo.history import generate_history
    from services.demo.summary import describe

    store = ChronicleStore(env=settings.event_store_env())
    try:
        last_log = [time.perf_counter()]

        def progress(done: int, written: int) -> None:
            if time.perf_counter() - last_log[0] > 15:
                last_log[0] = time.perf_counter()
                log(f"  {done:,} customers, {written:,} events")

        # With the working day's open leads and tickets, as `crm seed` writes them.
        summary = generate_history(store, customers=customers, seed=seed,
                                   now=datetime.now(UTC), on_progress=progress,
                                   working_day=True)
        out.update(describe(summary))
        return summary.last_position
    finally:
        store.close()


def phase_rebuild(settings: Any, out: dict[str, Any]) -> None:
    from services.common.event_store import ChronicleStore
    from services.projections.host import open_analytics_store, open_sql_store
    from services.projections.rebuild import rebuild_many
    from services.projections.registry import NAMES, build

    event_store = ChronicleStore(env=settings.event_store_env())
    stores: dict[str, Any] = {}
    try:
        stores["sql"] = open_sql_store(settings)
        stores["analytics"] = open_analytics_store(settings)
        models = [build(name, settings) for name in NAMES]
        last_log = [time.perf_counter()]

        def progress(done: int, remaining: int | None) -> None:
            if time.perf_counter() - last_log[0] > 15:
                last_log[0] = time.perf_counter()
                log(f"  {done:,} events applied" + (f", {remaining:,} to go"
                                                    if remaining is not None else ""))

        results = rebuild_many([(m, stores[m.store_kind]) for m in models], settings,
                               source="store", event_store=event_store, on_progress=progress)
        out.update({"models": list(NAMES), "events": results[0].events,
                    "seconds": round(results[0].seconds, 2),
                    "events_per_s": round(results[0].events_per_second, 1)})
        counts = {}
        for kind, names in (("sql", ("customer_360", "timeline", "lifecycle_transitions")),
                            ("analytics", ("funnel_leads", "funnel_stage_stays",
                                           "retention_activity", "retention_customers",
                                           "service_tickets"))):
            for table in names:
                try:
                    counts[table] = int(stores[kind].query(
                        f'SELECT COUNT(*) AS n FROM "{table}"')[0]["n"])
                except Exception:  # a table this version does not have: not counted
                    continue
        out["rows"] = counts
    finally:
        for store in stores.values():
            store.close()
        event_store.close()


def _timed(call: Callable[[], Any], repetitions: int, max_seconds: float,
           warmups: int = 2) -> dict[str, Any]:
    for _ in range(warmups):
        call()
    samples: list[float] = []
    deadline = time.perf_counter() + max_seconds
    while len(samples) < repetitions and (not samples or time.perf_counter() < deadline):
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return {"repetitions": len(samples), "latency_ms": latency_summary(samples),
            "min_ms": round(min(samples) * 1000, 2)}


class _ExplainingStore:
    """A read store that, besides answering, keeps DuckDB's EXPLAIN ANALYZE of each query."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.plans: list[dict[str, Any]] = []

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        cur = self.store.reader()
        try:
            rows = cur.execute("EXPLAIN ANALYZE " + sql, list(params)).fetchall()
            self.plans.append({"sql": sql, "params": [str(p) for p in params],
                               "plan": "\n".join(str(r[-1]) for r in rows)})
        finally:
            cur.close()
        return list(self.store.query(sql, params))


def phase_in_process(settings: Any, ids: list[str], explain: bool,
                     out: dict[str, Any]) -> None:
    """Single-request latency of what the routes call, without HTTP, one thread."""
    from services.projections.customer_360.reads import read_customer_360
    from services.projections.funnel.reads import read_funnel
    from services.projections.host import open_analytics_store, open_sql_store
    from services.projections.retention.reads import read_retention
    from services.projections.service.reads import read_service
    from services.projections.timeline.reads import read_timeline

    analytics = open_analytics_store(settings)
    sql = open_sql_store(settings)
    try:
        calls: dict[str, Callable[[Any], Any]] = {
            "funnel": lambda s: read_funnel(s, tenant_id=TENANT),
            "funnel_by_source": lambda s: read_funnel(s, tenant_id=TENANT, group_by="source"),
            "retention_purchase": lambda s: read_retention(s, tenant_id=TENANT,
                                                           activity="purchase"),
            "retention_any": lambda s: read_retention(s, tenant_id=TENANT, activity="any"),
            "service": lambda s: read_service(s, tenant_id=TENANT),
        }
        for key, call in calls.items():
            out[key] = _timed(lambda call=call: call(analytics), 30, 20.0)  # type: ignore[misc]
            log(f"  {key}: p50 {out[key]['latency_ms']['p50']} ms "
                f"(min {out[key]['min_ms']} ms, {out[key]['repetitions']} runs)")
            if explain:
                explaining = _ExplainingStore(analytics)
                call(explaining)
                out[key]["explain"] = explaining.plans
        rng = random.Random(5)
        picks = iter(rng.choice(ids) for _ in range(10**9))

        def c360() -> None:
            customer = next(picks)
            read_customer_360(sql, customer)
            read_timeline(sql, customer, limit=20)

        out["customer_360"] = _timed(c360, 500, 20.0, warmups=20)
        out["timeline"] = _timed(lambda: read_timeline(sql, next(picks), limit=50), 500, 20.0,
                                 warmups=20)
        for key in ("customer_360", "timeline"):
            log(f"  {key}: p50 {out[key]['latency_ms']['p50']} ms, "
                f"p99 {out[key]['latency_ms']['p99']} ms")
    finally:
        sql.close()
        analytics.close()


def _in_process_child(data_dir: str, postgres_url: str | None, ids: list[str],
                      explain: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    phase_in_process(_settings(Path(data_dir), postgres_url), ids, explain, out)
    return out


def in_fresh_process(settings: Any, ids: list[str], explain: bool) -> dict[str, Any]:
    """phase_in_process in a spawned child: this process's large heap, left by generating and
    rebuilding a million events, would slow the measured calls (garbage collection)."""
    import multiprocessing

    url = settings.postgres_url.get_secret_value() if settings.postgres_url else None
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pending = pool.apply_async(_in_process_child, (str(settings.data_dir), url, ids, explain))
        return dict(pending.get(timeout=900))


def sample_ids(settings: Any, count: int, seed: int, table: str = "customer_360") -> list[str]:
    """Up to `count` ids of the tenant's rows of `table`, chosen by `seed`."""
    from services.projections.host import open_sql_store

    store = open_sql_store(settings)
    try:
        ids = [r["id"] for r in store.query(f"SELECT id FROM {table} WHERE tenant_id = ?",
                                            [TENANT])]
    finally:
        store.close()
    rng = random.Random(seed)
    return rng.sample(ids, min(count, len(ids)))


def sample_owners(settings: Any) -> list[str]:
    from services.projections.host import open_sql_store

    store = open_sql_store(settings)
    try:
        return sorted({r["owner"] for r in store.query(
            "SELECT DISTINCT owner FROM customer_360 WHERE owner IS NOT NULL")})
    finally:
        store.close()


# --------------------------------------------------------------------------- the run


def _other_benchmarks() -> list[str]:
    """Other benchmark processes running now (the machine is shared): named in the results."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "benchmarks." in cmdline and "benchmarks.query" not in cmdline:
            found.append(cmdline.strip()[:120])
    return found


def run(args: argparse.Namespace, results: dict[str, Any]) -> None:
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="crm-bench-query-"))
        stack.callback(shutil.rmtree, work, True)
        postgres_url: str | None = None
        postgres_pid: int | None = None
        if args.postgres:
            from tests.harness.services import start_local_postgres

            log("starting a private PostgreSQL (fsync on)")
            pg = stack.enter_context(start_local_postgres(fsync=True))
            postgres_url = pg.url
            try:
                postgres_pid = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                postgres_pid = None
            import psycopg

            with psycopg.connect(pg.url, autocommit=True) as conn:
                results["machine"]["postgresql_server_version"] = str(
                    conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        settings = _settings(work / "data", postgres_url)
        results["machine"]["load_average_at_start"] = list(os.getloadavg())
        results["machine"]["other_benchmarks_at_start"] = _other_benchmarks()

        log(f"1/4 generating the history of {args.customers:,} customers "
            f"({settings.describe_store()})")
        generate: dict[str, Any] = {}
        head = phase_generate(settings, args.customers, args.seed, generate)
        results["generate"] = generate
        log(f"  {generate['events']:,} events in {generate['seconds']:.1f} s "
            f"({generate['events_per_s']:,.0f} events/s)")

        log("2/4 building the six read models in one pass from the event store")
        rebuilt: dict[str, Any] = {}
        phase_rebuild(settings, rebuilt)
        results["rebuild"] = rebuilt
        log(f"  {rebuilt['events']:,} events in {rebuilt['seconds']:.1f} s; rows {rebuilt['rows']}")

        ids, owners = sample_ids(settings, ID_SAMPLE, args.seed), sample_owners(settings)
        lead_ids = sample_ids(settings, ID_SAMPLE, args.seed, "leads")
        ticket_ids = sample_ids(settings, ID_SAMPLE, args.seed, "tickets")
        results["config"]["sampled_customer_ids"] = len(ids)
        results["config"]["sampled_lead_ids"] = len(lead_ids)
        results["config"]["sampled_ticket_ids"] = len(ticket_ids)
        results["config"]["owners"] = owners

        log("3/4 in-process latency of the read functions (no HTTP, one thread, a fresh "
            "process)")
        results["in_process"] = in_fresh_process(settings, ids, args.explain)

        log("4/4 the query API over HTTP")
        env = {"CRM_DATA_DIR": str(settings.data_dir)}
        if postgres_url:
            env["CRM_POSTGRES_URL"] = postgres_url
        server = Server(env, work / "server.log")
        stack.callback(server.stop)
        log(f"  issuing an API key (subject {BENCH_SUBJECT}, role {BENCH_ROLE})")
        token = server.issue_key(BENCH_SUBJECT, BENCH_ROLE)  # also for /v1/projections
        projections = server.wait_caught_up(head)
        results["server"] = {
            "command": "crm query-api", "start_seconds": round(server.start_seconds, 2),
            "head_position": projections.get("head_position"),
            "projection_positions": {p["projection"]: p["position"]
                                     for p in projections["projections"]}}
        log(f"  server up in {server.start_seconds:.1f} s, projections at {head:,}")
        http: list[dict[str, Any]] = []
        results["http"] = http
        for route in routes(ids, owners, lead_ids, ticket_ids):
            runs = [args.clients]
            if route.get("single_client") and args.clients != 1:
                runs.append(1)
            for clients in runs:
                seconds = args.seconds if clients == args.clients else args.single_seconds
                log(f"  {route['key']}: {clients} client(s), {args.warmup:g} s warm-up + "
                    f"{seconds:g} s")
                measured = run_load({"key": route["key"], "port": server.port,
                                     "clients": clients, "warmup": args.warmup,
                                     "seconds": seconds, "paths": route["paths"],
                                     "seed": args.seed, "token": token},
                                    server, postgres_pid, work)
                http.append({"key": route["key"], "label": route["label"], **measured})
                lat = measured["latency_ms"]
                log(f"    {measured['requests_per_s']:,.0f} req/s, p50 {lat['p50']} ms, "
                    f"p99 {lat['p99']} ms, errors {measured['errors']}, server "
                    f"{measured['cpu'].get('server_cpu_ms_per_request')} ms CPU/request")
        results["auth_cost"] = report.auth_cost(results)
        if results["auth_cost"]:
            log(f"  {report.auth_cost_sentence(results['auth_cost'])}")
        results["machine"]["load_average_at_end"] = list(os.getloadavg())
        results["machine"]["other_benchmarks_at_end"] = _other_benchmarks()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.query",
        description="Query API routes beside the HTTP floor of the same server.")
    parser.add_argument("--customers", type=int, default=100_000,
                        help="customers to generate, about 11 events each (default 100,000)")
    parser.add_argument("--postgres", action="store_true",
                        help="events and SQL read models in a private PostgreSQL (fsync on) "
                             "instead of SQLite files")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--seconds", type=float, default=15.0,
                        help="measured window per route (default 15)")
    parser.add_argument("--single-seconds", type=float, default=8.0,
                        help="window of the one-client runs of the analytics routes (8)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up per route (3)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--explain", action="store_true",
                        help="keep DuckDB's EXPLAIN ANALYZE of each analytics statement")
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/BENCHMARKS.md")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH, help="results JSON path")
    parser.add_argument("--render-only", action="store_true",
                        help="measure nothing: re-render the docs section from --output")
    args = parser.parse_args(argv)
    if not 100 <= args.customers <= 1_000_000:
        parser.error("--customers must be 100..1,000,000")
    if not 1 <= args.clients <= 512:
        parser.error("--clients must be 1..512")
    if args.seconds <= 0 or args.warmup < 0 or args.single_seconds <= 0:
        parser.error("--seconds and --single-seconds must be > 0, --warmup >= 0")
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
    signal.signal(signal.SIGINT, _terminate)  # also when started in the background (SIG_IGN)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "benchmark": "query",
        "machine": machine_info(),
        "code": code_version(str(ROOT)),
        "config": {"customers": args.customers, "seed": args.seed, "clients": args.clients,
                   "seconds": args.seconds, "single_seconds": args.single_seconds,
                   "warmup": args.warmup, "region": REGION,
                   "generator": "services.demo.history",
                   "auth": {"credential": "api_key", "subject": BENCH_SUBJECT,
                            "roles": [BENCH_ROLE]},
                   "backend": "postgres" if args.postgres else "sqlite",
                   "event_store": "PostgreSQL (private, fsync on)" if args.postgres
                   else "SQLite file (WAL)",
                   "sql_read_models": "PostgreSQL (private, fsync on)" if args.postgres
                   else "SQLite file (WAL)",
                   "analytics_read_models": "DuckDB file",
                   "server": "crm query-api (one uvicorn process; projectors in it, idle)",
                   "load_generator": "benchmarks.query_load (asyncio raw HTTP/1.1 keep-alive)",
                   "targets": report.TARGETS},
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
