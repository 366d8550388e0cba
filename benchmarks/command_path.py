"""Command-path benchmark: our HTTP command API beside the `eventsourcing` library's raw limit.

    .venv/bin/python -m benchmarks.command_path [--seconds 15] [--clients 16]
        [--backends sqlite,postgres] [--postgres-url URL] [--loadgen auto|raw|httpx]

Per backend, in one run: raw single-event appends through the library (1 and N threads), our
command service in-process (diagnostic), and the real `crm command-api` server under N
concurrent keep-alive clients (tag mix: 1 event per command; interaction mix: 2 events), each
request with an API key issued for the run (subject `bench`, role `admin`); its HTTP floor is
`GET /v1/me` (authenticated, no store), measured beside `GET /health` (public) so that the cost
of authentication per request is known.
Writes benchmarks/results/command_path.json and regenerates docs/BENCHMARKS.md.
See docs/BENCHMARKS.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.machine import code_version, machine_info
from benchmarks.raw_appends import measure_raw_appends
from benchmarks.server_process import CpuWindow, ServerProcess
from services.command.domain.customer import MAX_TAGS

ROOT = Path(__file__).resolve().parent.parent
RESULTS_PATH = ROOT / "benchmarks" / "results" / "command_path.json"
DOCS_PATH = ROOT / "docs" / "BENCHMARKS.md"
TAGS_PER_CUSTOMER = MAX_TAGS  # a customer takes at most this many tags
CALIBRATION_SECONDS = 5.0
SERVER_START_TIMEOUT = 60.0
MAX_CUSTOMERS_PER_CLIENT = 200
BENCH_SUBJECT, BENCH_ROLE = "bench", "admin"
"""Who the benchmark's API key speaks for, and its role."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- settings


def _settings(**fields: Any) -> Any:
    """Our Settings with every store-selecting field explicit (ambient CRM_* cannot leak in)."""
    from pydantic import SecretStr

    from services.common.settings import Settings

    url = fields.pop("postgres_url", None)
    return Settings(memory_store=False, postgres_url=SecretStr(url) if url else None, **fields)


# --------------------------------------------------------------------------- server process


class Server(ServerProcess):
    """`crm command-api` as a subprocess in its own session."""

    def __init__(self, env_overrides: dict[str, str], log_dir: Path) -> None:
        super().__init__("command-api", env_overrides, log_dir / "server.log",
                         SERVER_START_TIMEOUT)


def run_loadgen(config: dict[str, Any], server: Server, postgres_pid: int | None,
                log_dir: Path) -> dict[str, Any]:
    """Run benchmarks.loadgen in its own process; sample CPU at its window marks."""
    window = CpuWindow(server.pid, postgres_pid)
    stderr_path = log_dir / f"loadgen-{config['mix']}-{config['impl']}.log"
    limit = 180 + float(config["warmup"]) + float(config["seconds"])
    result: dict[str, Any] | None = None
    with stderr_path.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.loadgen", json.dumps(config)],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
            start_new_session=True, text=True,
        )
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
        raise RuntimeError(f"load generator gave no result (exit {process.returncode}):\n{tail}\n"
                           f"server log tail:\n{server.log_tail()}")
    events_per_command = {"tag": 1, "interaction": 2, "me": 0, "health": 0}[config["mix"]]
    result["commands_per_s"] = round(result["ok"] / result["seconds"], 1)
    result["events_per_s"] = round(result["ok"] * events_per_command / result["seconds"], 1)
    result["events_per_command"] = events_per_command
    if result.get("position_span"):  # cross-check: global positions advanced by all clients
        result["position_span_events_per_s"] = round(result["position_span"] / result["seconds"], 1)
    result["cpu"] = window.summary(result["loadgen_cpu_seconds"], result["requests"], unit="command")
    if result["errors"]:
        result["server_log_tail"] = server.log_tail()
    return result


def calibrate_loadgen(server: Server, args: argparse.Namespace, postgres_pid: int | None,
                      log_dir: Path, token: str) -> dict[str, Any]:
    """Run both client implementations briefly against the same server; the lighter one wins."""
    calibration: dict[str, Any] = {"seconds": CALIBRATION_SECONDS, "mix": "interaction"}
    for impl in ("raw", "httpx"):
        log(f"  calibrating load generator '{impl}' ({CALIBRATION_SECONDS:.0f} s)")
        run = run_loadgen({
            "port": server.port, "impl": impl, "mix": "interaction", "clients": args.clients,
            "customers_per_client": 1, "warmup": 1.0, "seconds": CALIBRATION_SECONDS,
            "token": token,
        }, server, postgres_pid, log_dir)
        calibration[impl] = {
            "commands_per_s": run["commands_per_s"],
            "errors": run["errors"],
            "loadgen_cpu_ms_per_request": run["cpu"].get("loadgen_cpu_ms_per_request"),
            "loadgen_cores": run["cpu"].get("loadgen_cores"),
            "server_cores": run["cpu"].get("server_cores"),
            "latency_ms": run["latency_ms"],
        }
    cost = {impl: calibration[impl]["loadgen_cpu_ms_per_request"] or math.inf
            for impl in ("raw", "httpx")}
    calibration["chosen"] = min(cost, key=lambda impl: cost[impl])
    return calibration


# --------------------------------------------------------------------------- one backend


def _postgres_admin(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=10)


def _create_schemas(url: str, names: list[str]) -> None:
    from psycopg import sql

    with _postgres_admin(url) as conn:
        for name in names:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))


def _drop_schemas(url: str, names: list[str]) -> None:
    from psycopg import sql

    try:
        with _postgres_admin(url) as conn:
            for name in names:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(name)))
    except Exception as exc:  # cleanup must not hide the run's own outcome
        log(f"could not drop schemas {names}: {exc}")


def _postgres_facts(url: str) -> dict[str, str]:
    with _postgres_admin(url) as conn:
        return {name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method",
                             "full_page_writes")}


def _avg_event_bytes_sqlite(path: Path) -> float | None:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            value = conn.execute("SELECT avg(length(state) + length(topic)) "
                                 "FROM stored_events").fetchone()[0]
        return round(value, 1) if value is not None else None
    except sqlite3.Error:
        return None


def _avg_event_bytes_postgres(url: str, schema: str, table: str) -> float | None:
    from psycopg import sql

    try:
        with _postgres_admin(url) as conn:
            row = conn.execute(sql.SQL(
                "SELECT avg(octet_length(state) + octet_length(topic)) FROM {}.{}"
            ).format(sql.Identifier(schema), sql.Identifier(table))).fetchone()
        return round(float(row[0]), 1) if row and row[0] is not None else None
    except Exception:
        return None


def run_backend(name: str, args: argparse.Namespace, results: dict[str, Any],
                state: dict[str, Any]) -> dict[str, Any]:
    backend: dict[str, Any] = {"title": {"sqlite": "SQLite (file, WAL)",
                                         "postgres": "PostgreSQL (fsync on)"}[name]}
    warmup = args.warmup
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix=f"crm-bench-{name}-"))
        stack.callback(shutil.rmtree, work, True)
        postgres_pid: int | None = None
        if name == "sqlite":
            raw_settings = _settings(data_dir=work / "raw")
            service_settings = _settings(data_dir=work / "service")
            server_env = {"CRM_DATA_DIR": str(work / "server")}
            backend["store_notes"] = (
                "Three separate SQLite files in one temp dir (raw benchmark, in-process service, "
                "server); the library switches them to WAL; Python's sqlite3 default "
                "`synchronous=FULL` stays.")
        else:
            url = args.postgres_url
            if not url:
                from tests.harness.services import start_local_postgres

                log("starting a private PostgreSQL cluster (fsync on)")
                local = stack.enter_context(start_local_postgres(fsync=True))
                url = local.url
                try:
                    postgres_pid = int((local.data_dir / "postmaster.pid").read_text().split()[0])
                except (OSError, ValueError, IndexError):
                    postgres_pid = None
            suffix = uuid.uuid4().hex[:8]
            schemas = {"raw": f"bench_raw_{suffix}", "service": f"bench_svc_{suffix}",
                       "server": f"bench_crm_{suffix}"}
            _create_schemas(url, list(schemas.values()))
            stack.callback(_drop_schemas, url, list(schemas.values()))
            facts = _postgres_facts(url)
            results["machine"]["postgresql_server_version"] = facts["server_version"]
            backend["postgres_settings"] = facts
            backend["store_notes"] = (
                f"{'Private cluster started by the benchmark' if not args.postgres_url else 'Existing server given by --postgres-url'}"
                f" on 127.0.0.1; fsync={facts['fsync']}, synchronous_commit="
                f"{facts['synchronous_commit']}, wal_sync_method={facts['wal_sync_method']}. "
                "Fresh schemas per run: one for the raw benchmark, one for the in-process service, "
                "one for the server.")
            raw_settings = _settings(postgres_url=url, postgres_schema=schemas["raw"])
            service_settings = _settings(postgres_url=url, postgres_schema=schemas["service"])
            server_env = {"CRM_POSTGRES_URL": url, "CRM_POSTGRES_SCHEMA": schemas["server"]}

        # 1. Raw library limit.
        raw_env = raw_settings.event_store_env()
        backend["raw"] = []
        for threads in (1, args.clients):
            log(f"{name}: raw library appends, {threads} thread(s), {args.seconds:g} s")
            run = measure_raw_appends(raw_env, threads, args.seconds, warmup)
            log(f"  {run['events_per_s']:,.0f} events/s, p99 {run['latency_ms']['p99']} ms, "
                f"errors {run['errors']}")
            backend["raw"].append(run)
        backend["raw_limit_events_per_s"] = max(r["events_per_s"] for r in backend["raw"])
        raw_limit = backend["raw_limit_events_per_s"]

        # Customers each tag client needs: 100 tags each, sized by the raw limit (an upper bound).
        per_client = min(MAX_CUSTOMERS_PER_CLIENT, math.ceil(
            raw_limit * (warmup + args.seconds) / args.clients / TAGS_PER_CUSTOMER) + 1)

        # 2. Diagnostic: the service in-process.
        if not args.skip_service_layer:
            from benchmarks.service_layer import measure_service_layer

            backend["service_layer"] = []
            seconds = max(3.0, args.seconds / 3)
            for threads in (1, args.clients):
                log(f"{name}: service in-process (tag), {threads} thread(s), {seconds:g} s")
                # Group commit lets the service beyond the raw single-append rate on PostgreSQL
                # (several commands per transaction): size the pools for 3x the raw limit.
                need = min(MAX_CUSTOMERS_PER_CLIENT * 4, math.ceil(
                    3 * raw_limit * (warmup + seconds) / threads / TAGS_PER_CUSTOMER) + 1)
                run = measure_service_layer(service_settings, threads, seconds, warmup, need)
                log(f"  {run['commands_per_s']:,.0f} commands/s, p99 {run['latency_ms']['p99']} "
                    f"ms, errors {run['errors']}")
                backend["service_layer"].append(run)

        # 3. The HTTP command path.
        log(f"{name}: starting the command API")
        server = Server(server_env, work)
        stack.callback(server.stop)
        log(f"{name}: issuing an API key (subject {BENCH_SUBJECT}, role {BENCH_ROLE})")
        token = server.issue_key(BENCH_SUBJECT, BENCH_ROLE)
        if args.loadgen == "auto" and "loadgen_impl" not in state:
            calibration = calibrate_loadgen(server, args, postgres_pid, work, token)
            state["loadgen_impl"] = calibration["chosen"]
            results["loadgen"] = {"impl": calibration["chosen"], "calibration": calibration,
                                  "calibrated_on": name}
            log(f"  load generator: {calibration['chosen']} "
                f"(raw {calibration['raw']['loadgen_cpu_ms_per_request']} ms CPU/request, "
                f"httpx {calibration['httpx']['loadgen_cpu_ms_per_request']} ms CPU/request)")
        elif "loadgen_impl" not in state:
            state["loadgen_impl"] = args.loadgen
            results["loadgen"] = {"impl": args.loadgen}
        impl = state["loadgen_impl"]
        backend["http"] = {}
        for mix in ("tag", "interaction"):
            customers = per_client if mix == "tag" else 1
            log(f"{name}: HTTP {mix} mix, {args.clients} clients ({impl}), {args.seconds:g} s"
                + (f", {customers} customers per client" if mix == "tag" else ""))
            run = run_loadgen({
                "port": server.port, "impl": impl, "mix": mix, "clients": args.clients,
                "customers_per_client": customers, "warmup": warmup, "seconds": args.seconds,
                "token": token,
            }, server, postgres_pid, work)
            log(f"  {run['commands_per_s']:,.0f} commands/s, {run['events_per_s']:,.0f} events/s, "
                f"p50 {run['latency_ms']['p50']} ms, p99 {run['latency_ms']['p99']} ms, "
                f"errors {run['errors']}, server {run['cpu'].get('server_cores')} cores")
            backend["http"][mix] = run
        # The floor (GET /v1/me: authenticated, no store) and beside it, in the same run, the
        # public GET /health: their difference is what authentication costs per request.
        floor_seconds = max(3.0, args.seconds / 3)
        floors = {}
        for mix, route in (("me", "GET /v1/me"), ("health", "GET /health")):
            log(f"{name}: HTTP floor, {route}, {args.clients} clients, {floor_seconds:g} s")
            floors[mix] = run_loadgen({
                "port": server.port, "impl": impl, "mix": mix, "clients": args.clients,
                "customers_per_client": 0, "warmup": min(warmup, 1.0), "seconds": floor_seconds,
                "token": token,
            }, server, postgres_pid, work)
            log(f"  {floors[mix]['commands_per_s']:,.0f} requests/s, p99 "
                f"{floors[mix]['latency_ms']['p99']} ms, errors {floors[mix]['errors']}, "
                f"statuses {floors[mix]['statuses']}, server "
                f"{floors[mix]['cpu'].get('server_cpu_ms_per_command')} ms CPU/request")
        backend["http_floor"] = floors["me"]
        backend["http_floor_health"] = floors["health"]
        server.stop()
        backend["auth_cost"] = report.auth_cost(backend)
        if backend["auth_cost"]:
            log(f"  {report.auth_cost_sentence(backend['auth_cost'])}")

        # Event sizes, for the reader comparing ours with the raw benchmark's tiny events.
        if name == "sqlite":
            backend["event_bytes"] = {
                "ours": _avg_event_bytes_sqlite(work / "server" / "events.sqlite"),
                "raw": _avg_event_bytes_sqlite(work / "raw" / "events.sqlite"),
            }
        else:
            backend["event_bytes"] = {
                "ours": _avg_event_bytes_postgres(url, schemas["server"], "chronicle_events"),
                "raw": _avg_event_bytes_postgres(url, schemas["raw"], "benchraw_events"),
            }
        for mix in backend["http"]:
            backend["http"][mix]["verdict"] = report.verdict(backend, mix)
    return backend


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.command_path",
        description="Our HTTP command path beside the eventsourcing library's raw append rate.",
    )
    parser.add_argument("--seconds", type=float, default=15.0,
                        help="measured seconds per measurement (default 15)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="unmeasured warm-up seconds before each measurement (default 2)")
    parser.add_argument("--clients", type=int, default=16,
                        help="concurrent HTTP clients, and raw/service threads (default 16)")
    parser.add_argument("--backends", default="sqlite,postgres",
                        help="comma-separated: sqlite, postgres (default both)")
    parser.add_argument("--postgres-url", default=None,
                        help="use this PostgreSQL server instead of starting a private one")
    parser.add_argument("--loadgen", choices=("auto", "raw", "httpx"), default="auto",
                        help="HTTP client of the load generator; auto measures both and takes "
                             "the one using less CPU per request")
    parser.add_argument("--skip-service-layer", action="store_true",
                        help="skip the in-process service diagnostic")
    parser.add_argument("--no-docs", action="store_true",
                        help="do not regenerate docs/BENCHMARKS.md")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH, help="results JSON path")
    parser.add_argument("--render-only", action="store_true",
                        help="measure nothing: rewrite docs/BENCHMARKS.md from --output's JSON")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgres"}
    if unknown or not args.backends:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown)) or '(none)'}")
    if not 1 <= args.clients <= 256:
        parser.error("--clients must be 1..256")
    if not 0.5 <= args.seconds <= 600 or not 0 <= args.warmup <= 60:
        parser.error("--seconds must be 0.5..600 and --warmup 0..60")
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


BLOCK = re.compile(r"<!-- ([\w-]+):begin -->.*?<!-- \1:end -->", re.DOTALL)
"""A section another benchmark renders into the page (benchmarks/docs_block.py)."""


def write_docs(page: str) -> None:
    """Rewrite the page, keeping every section other benchmarks render into it (the marked
    blocks `<!-- projections:begin -->` … `<!-- projections:end -->`, and the same for
    `query`, `analyst`, `policies`, …), in their order."""
    kept = ""
    if DOCS_PATH.exists():
        for block in BLOCK.finditer(DOCS_PATH.read_text()):
            kept += "\n" + block.group(0) + "\n"
    DOCS_PATH.write_text(page.rstrip("\n") + "\n" + kept)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if args.render_only:
        stored = json.loads(args.output.read_text())
        write_docs(report.markdown(stored))
        print(report.console_table(stored))
        print(f"\ndocs: {DOCS_PATH} (rendered from {args.output}, nothing measured)")
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "benchmark": "command_path",
        "machine": machine_info(),
        "code": code_version(str(ROOT)),
        "config": {"seconds": args.seconds, "warmup": args.warmup, "clients": args.clients,
                   "backends": args.backends,
                   "auth": {"credential": "api_key", "subject": BENCH_SUBJECT,
                            "roles": [BENCH_ROLE]},
                   "postgres": "external (--postgres-url)" if args.postgres_url
                   else "private local cluster, fsync on",
                   "targets": {"ours_over_raw_at_least": report.TARGET_RATIO,
                               "p99_ms_at_most": report.TARGET_P99_MS}},
        "loadgen": {},
        "backends": {},
    }
    state: dict[str, Any] = {}
    failed = False
    try:
        for name in args.backends:
            try:
                results["backends"][name] = run_backend(name, args, results, state)
            except Exception as exc:
                failed = True
                log(f"{name}: FAILED: {type(exc).__name__}: {exc}")
                results["backends"][name] = {"error": f"{type(exc).__name__}: {exc}"}
    except KeyboardInterrupt:
        log("interrupted; everything started has been stopped; no results written")
        return 130
    results["wall_seconds"] = round(time.perf_counter() - started, 1)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    if not args.no_docs:
        DOCS_PATH.parent.mkdir(parents=True, exist_ok=True)
        write_docs(report.markdown(results))
    print(report.console_table(results))
    print(f"\nresults: {args.output}" + ("" if args.no_docs else f"\ndocs: {DOCS_PATH}"))
    http_errors = sum(run.get("errors", 0) for b in results["backends"].values()
                      for run in [*b.get("http", {}).values(), b.get("http_floor") or {},
                                  b.get("http_floor_health") or {}])
    return 1 if failed or http_errors else 0


if __name__ == "__main__":
    sys.exit(main())
