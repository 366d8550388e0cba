"""Automation-policy benchmark: decisions over a replayed history, and trigger → command delay.

    .venv/bin/python -m benchmarks.policies [--events 1000000] [--quick] [--skip-delay]
        [--json PATH] [--no-docs]

In one run, on this machine:

1. **Replay and rounds** (`benchmarks/policies_replay.py`, `benchmarks/policies_rounds.py`) —
   `generate_history` writes about N events into a fresh embedded store (SQLite events, SQL
   read store on SQLite), a rules file turning every policy on is recorded, and a few thousand
   inbound leads without an owner are created through the command service.
   Then, each beside the raw limit of the part underneath measured in the same run:
   - the log is replayed (`services.projections.rebuild.rebuild`, from the store) into a trivial
     projection (reads and decodes the log, writes nothing: the raw replay rate), into the
     `policy_state` read model, and into `customer_360` for comparison;
   - with a `ManualClock` just after the last event, `PolicyEngine.decide` (nothing issued) over
     everything due, then `run_once` rounds (decide + issue through `CommandService`, with their
     writes) until nothing more is issued; beside raw single-event appends through the library
     on a SQLite file of its own in the same directory (`benchmarks/raw_appends.py`).
   Every SQL statement a policy runs is timed, so the report names what dominates.
   With `CRM_BENCH_POSTGRES_URL` set (or `--postgres-url`), the same again on PostgreSQL
   (events and read store in fresh schemas, dropped afterwards).
2. **Trigger → command delay** (`benchmarks/policies_delay.py`) — `crm serve` on a fresh data
   dir with rules that assign every new lead round-robin (no cap); an open-loop load of lead
   creations at fixed rates; afterwards the time from each lead's `LeadCreated.recorded_at` to
   the rule's `LeadAssigned.recorded_at`, read from the event store, beside the lead-creation
   command latency of the same load; for `CRM_POLICY_INTERVAL_S` = 1 (the default) and 0.2.

Writes the JSON (default benchmarks/results/policies.json) and the block between
`<!-- policies:begin -->` and `<!-- policies:end -->` of docs/BENCHMARKS.md (the rest of the
page is left as it is), rendered by `benchmarks/policies_report.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import policies_report as report
from benchmarks.docs_block import write_block
from benchmarks.machine import code_version, machine_info
from benchmarks.policies_common import loadavg, log

ROOT = Path(__file__).resolve().parent.parent
RESULTS_PATH = ROOT / "benchmarks" / "results" / "policies.json"
DOCS_PATH = ROOT / "docs" / "BENCHMARKS.md"


def write_docs(section: str) -> None:
    write_block(report.BEGIN, report.END, section, DOCS_PATH)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.policies", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=None,
                        help="events of the history (default 1,000,000; quick 20,000)")
    parser.add_argument("--quick", action="store_true", help="a small end-to-end smoke run")
    parser.add_argument("--skip-delay", action="store_true",
                        help="skip part 2 (the server and its trigger → command delay)")
    parser.add_argument("--delay-seconds", type=float, default=None,
                        help="measured load per rate (default 30; quick 5)")
    parser.add_argument("--rates", default=None, help="lead creations/s (default 50,200)")
    parser.add_argument("--intervals", default="1,0.2",
                        help="CRM_POLICY_INTERVAL_S values (default 1,0.2)")
    parser.add_argument("--raw-seconds", type=float, default=None,
                        help="raw append measurement (default 10; quick 3)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", type=Path, default=None,
                        help="cProfile of one unbounded decide into this file (pstats)")
    parser.add_argument("--postgres-url", default=os.environ.get("CRM_BENCH_POSTGRES_URL"),
                        help="also run part 1 on this PostgreSQL (fresh schemas, dropped)")
    parser.add_argument("--json", type=Path, default=RESULTS_PATH, help="results JSON path")
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/BENCHMARKS.md")
    parser.add_argument("--render-only", action="store_true",
                        help="measure nothing: re-render the docs block from --json")
    args = parser.parse_args(argv)
    if args.events is None:
        args.events = 20_000 if args.quick else 1_000_000
    if args.delay_seconds is None:
        args.delay_seconds = 5.0 if args.quick else 30.0
    if args.rates is None:
        args.rates = "20,50" if args.quick else "50,200"
    if args.raw_seconds is None:
        args.raw_seconds = 3.0 if args.quick else 10.0
    args.rates = [float(x) for x in args.rates.split(",") if x.strip()]
    args.intervals = [float(x) for x in args.intervals.split(",") if x.strip()]
    if not 1000 <= args.events <= 20_000_000:
        parser.error("--events must be 1,000..20,000,000")
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if args.render_only:
        section = report.markdown(json.loads(args.json.read_text()))
        if not args.no_docs:
            write_docs(section)
        print(section)
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    from benchmarks.command_path import _create_schemas, _drop_schemas, _settings
    from benchmarks.policies_delay import RULES_DELAY, run_delay_part
    from benchmarks.policies_replay import RULES_ALL, TEAM_CAP, run_replay_part
    from benchmarks.policies_rounds import ROUND_LIMIT
    from services.projections.stores.sql import SqlReadStore

    started = time.perf_counter()
    results: dict[str, Any] = {
        "benchmark": "policies", "machine": machine_info(), "code": code_version(str(ROOT)),
        "loadavg_start": loadavg(), "niceness": os.nice(0),
        "config": {"events": args.events, "quick": args.quick, "seed": args.seed,
                   "round_limit": ROUND_LIMIT, "team_cap": TEAM_CAP,
                   "delay_seconds": args.delay_seconds, "rates": args.rates,
                   "intervals": args.intervals, "raw_seconds": args.raw_seconds,
                   "json": str(args.json.resolve().relative_to(ROOT))
                   if args.json.resolve().is_relative_to(ROOT) else str(args.json),
                   "rules": RULES_ALL, "delay_rules": RULES_DELAY},
        "replay_runs": {},
    }
    failed = False
    try:
        with ExitStack() as stack:
            work = Path(tempfile.mkdtemp(prefix="crm-bench-policies-"))
            stack.callback(shutil.rmtree, work, True)

            settings = _settings(data_dir=work / "store")
            part: dict[str, Any] = {"event_store": "SQLite file (WAL)",
                                    "read_store": "SQLite file (WAL)"}
            results["replay_runs"]["SQLite"] = part
            try:
                run_replay_part(
                    "SQLite", settings,
                    lambda: SqlReadStore(sqlite_path=settings.readmodels_sqlite_path),
                    _settings(data_dir=work / "raw").event_store_env(), args, part)
            except Exception as exc:
                failed = True
                part["error"] = f"{type(exc).__name__}: {exc}"
                log(f"FAILED: {part['error']}")
                import traceback
                traceback.print_exc()

            if args.postgres_url:
                suffix = uuid.uuid4().hex[:8]
                schemas = [f"pol_ev_{suffix}", f"pol_rm_{suffix}", f"pol_raw_{suffix}"]
                _create_schemas(args.postgres_url, schemas)
                stack.callback(_drop_schemas, args.postgres_url, schemas)
                pg_settings = _settings(postgres_url=args.postgres_url,
                                        postgres_schema=schemas[0], data_dir=work / "pg")
                pg_part: dict[str, Any] = {"event_store": "PostgreSQL",
                                           "read_store": "PostgreSQL"}
                results["replay_runs"]["PostgreSQL"] = pg_part
                try:
                    run_replay_part(
                        "PostgreSQL", pg_settings,
                        lambda: SqlReadStore(postgres_url=args.postgres_url, schema=schemas[1]),
                        _settings(postgres_url=args.postgres_url, postgres_schema=schemas[2],
                                  data_dir=work / "pg").event_store_env(), args, pg_part)
                except Exception as exc:
                    failed = True
                    pg_part["error"] = f"{type(exc).__name__}: {exc}"
                    log(f"FAILED: {pg_part['error']}")

            if not args.skip_delay:
                results["delay"] = {}
                for interval in args.intervals:
                    entry: dict[str, Any] = {}
                    results["delay"][f"{interval:g}"] = entry
                    try:
                        run_delay_part(interval, args.rates, args.delay_seconds,
                                       2.0 if args.quick else 5.0, work, entry)
                    except Exception as exc:
                        failed = True
                        entry["error"] = f"{type(exc).__name__}: {exc}"
                        log(f"FAILED: {entry['error']}")
                        import traceback
                        traceback.print_exc()
    except KeyboardInterrupt:
        log("interrupted; everything started has been stopped; no results written")
        return 130
    results["loadavg_end"] = loadavg()
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    results["finished_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    section = report.markdown(results)
    if not args.no_docs and not failed:
        write_docs(section)
    print(section)
    print(f"\nresults: {args.json}" + ("" if args.no_docs or failed else f"; docs: {DOCS_PATH}"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
