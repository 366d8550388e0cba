"""Analyst-path benchmark: import, export and standalone replay, with their raw limits.

    .venv/bin/python -m benchmarks.analyst [--events N] [--quick]

In one run, on this machine:

1. **Import** — `import_file(store, "purchases", csv, batch_rows=500)` of a generated purchases
   CSV into a fresh SQLite store and a fresh PostgreSQL schema (private cluster, fsync on),
   beside the **raw batched append rate** on the same database: pre-built events (read back
   from a `generate_history` store) saved 500 per `store.save(EventBatch(...))`.
2. **Export** — `export_events` of a `generate_history` SQLite store of about N events, to
   Parquet and to NDJSON.
3. **Replay** — `replay_to_duckdb` of that Parquet export into a standalone DuckDB file.

Writes benchmarks/results/analyst.json and the block between `<!-- analyst:begin -->` and
`<!-- analyst:end -->` of docs/BENCHMARKS.md (the rest of the page is left as it is).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.docs_block import write_block
from benchmarks.machine import code_version, machine_info

ROOT = Path(__file__).resolve().parent.parent
RESULTS_PATH = ROOT / "benchmarks" / "results" / "analyst.json"
DOCS_PATH = ROOT / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- analyst:begin -->", "<!-- analyst:end -->"
BATCH = 500
TARGET_IMPORT_RATIO = 0.5
TARGET_EXPORT_EPS = 100_000.0
TARGET_REPLAY_S_PER_1M = 60.0
PURCHASE_COLUMNS = ("customer_ref", "occurred_at", "amount", "currency", "reference")


def log(message: str) -> None:
    print(f"[analyst {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- inputs


def write_purchases_csv(path: Path, rows: int, customers: int, seed: int = 3) -> None:
    """Orders of `customers` customers over two years (as tests/unit/test_import.py makes them):
    some with a timestamp and offset, most with a date, a tenth without a reference."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=2 * 365)
    days = 2 * 365 - 2
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(PURCHASE_COLUMNS)
        for number in range(rows):
            moment = start + timedelta(days=rng.uniform(0, days))
            when = moment.date().isoformat() if number % 3 else \
                moment.replace(microsecond=0).isoformat()
            writer.writerow((
                f"ERP-{rng.randrange(customers):06d}", when,
                f"{rng.randint(1, 5000)}.{rng.randint(0, 99):02d}",
                rng.choice(["EUR", "EUR", "USD"]),
                f"INV-{number:07d}" if number % 10 else "",
            ))


def read_events(store: Any, count: int) -> list[Any]:
    """The first `count` events of `store`'s log, as domain events ready to be saved again."""
    events: list[Any] = []
    start = 1
    while len(events) < count:
        notifications = store.recorder.select_notifications(start, min(5000, count - len(events)))
        if not notifications:
            break
        events.extend(store.mapper.to_domain_event(n) for n in notifications)
        start = notifications[-1].id + 1
    return events


# --------------------------------------------------------------------------- phases


def measure_import(store: Any, csv_path: Path, rejects: Path) -> dict[str, Any]:
    from services.command.importing import import_file

    started = time.perf_counter()
    summary = import_file(store, "purchases", csv_path, batch_rows=BATCH, rejects_path=rejects)
    seconds = time.perf_counter() - started
    return {"rows": summary.rows, "imported": summary.imported, "rejected": summary.rejected,
            "customers_registered": summary.customers_registered, "events": summary.events,
            "seconds": round(seconds, 2), "events_per_s": round(summary.events / seconds, 1)}


def measure_raw(store: Any, events: list[Any]) -> dict[str, Any]:
    from services.common.event_store import EventBatch

    started = time.perf_counter()
    for i in range(0, len(events), BATCH):
        store.save(EventBatch(events[i : i + BATCH]))
    seconds = time.perf_counter() - started
    return {"events": len(events), "batch": BATCH, "seconds": round(seconds, 2),
            "events_per_s": round(len(events) / seconds, 1)}


def import_vs_raw(label: str, make_store: Any, csv_path: Path, source_events: list[Any],
                  work: Path) -> dict[str, Any]:
    log(f"{label}: import")
    imported = measure_import(make_store("import"), csv_path, work / f"rejects_{label}.csv")
    log(f"{label}: import {imported['events']} events at {imported['events_per_s']:,.0f}/s; "
        f"raw batched appends of {len(source_events)} events")
    raw = measure_raw(make_store("raw"), source_events)
    ratio = imported["events_per_s"] / raw["events_per_s"] if raw["events_per_s"] else 0.0
    log(f"{label}: raw {raw['events_per_s']:,.0f}/s; import/raw {ratio:.0%}")
    return {"import": imported, "raw": raw, "ratio": round(ratio, 3),
            "met": ratio >= TARGET_IMPORT_RATIO}


# --------------------------------------------------------------------------- report


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def markdown(results: dict[str, Any]) -> str:
    m, cfg = results["machine"], results["config"]
    code = results["code"]
    lines = [
        "## Analyst path: import, export, standalone replay",
        "",
        f"`.venv/bin/python -m benchmarks.analyst --events {cfg['events']:,}` "
        f"(`benchmarks/analyst.py`), measured {results['finished_at']}, "
        f"{results['wall_seconds']:.0f} s wall.",
        "",
        f"- **Run size:** export and replay over a `generate_history` store of "
        f"**{results['history']['events']:,} events** ({results['history']['customers']:,} "
        f"customers, requested N = {cfg['events']:,}); import of a purchases CSV of "
        f"{cfg['import_rows']:,} rows over {cfg['import_customers']:,} customers, "
        f"batch_rows = {BATCH}.",
        f"- **Machine:** {m.get('cpu_model')}, {m.get('nproc')} CPUs, "
        f"{m.get('memory_gib')} GiB, Python {m.get('python')}, SQLite {m.get('sqlite3')}; "
        f"PostgreSQL {results.get('postgres', {}).get('server_version', '?')} in a private "
        f"cluster started by the benchmark, fsync on. Code {code.get('commit', '?')}"
        f"{' (services/ modified)' if code.get('services_uncommitted_changes') else ''}.",
        "",
        "| figure | ours | raw limit / target | verdict |",
        "|---|---:|---|---|",
    ]
    for name, part in results["import"].items():
        lines.append(
            f"| import into {name}, events/s | {part['import']['events_per_s']:,.0f} "
            f"({part['import']['events']:,} events, {part['import']['seconds']} s) | raw "
            f"batched appends {part['raw']['events_per_s']:,.0f}/s ({part['raw']['events']:,} "
            f"events, {BATCH} per save); ratio **{part['ratio']:.0%}**, target ≥ "
            f"{TARGET_IMPORT_RATIO:.0%} | {_verdict(part['met'])} |")
    for fmt, part in results["export"].items():
        target = (f"≥ {TARGET_EXPORT_EPS:,.0f}/s" if fmt == "parquet"
                  else f"≥ {TARGET_EXPORT_EPS:,.0f}/s (reported; target set for Parquet)")
        lines.append(
            f"| export to {fmt}, events/s | {part['events_per_s']:,.0f} ({part['events']:,} "
            f"events, {part['seconds']} s, {part['mib']} MiB) | {target} | "
            f"{_verdict(part['met'])} |")
    rp = results["replay"]
    lines.append(
        f"| replay of the Parquet export into standalone DuckDB, s | {rp['seconds']} "
        f"({rp['events']:,} events, {rp['events_per_s']:,.0f}/s; models "
        f"{', '.join(rp['models'])}) | < {rp['target_seconds']} s for this size "
        f"({TARGET_REPLAY_S_PER_1M:.0f} s per 1 M, scaled) | {_verdict(rp['met'])} |")
    lines += [
        "",
        "Raw limit for the import: the same store library and database, events read back from a "
        "`generate_history` store and saved 500 per `store.save(EventBatch(...))` into a fresh "
        "store (no parsing, validation, idempotency lookups or aggregate decisions). The import "
        "reads the CSV, validates each row, looks up whether its record and customer already "
        "exist, decides through the aggregates and saves 500 rows per transaction.",
    ]
    if cfg["events"] < 1_000_000:
        lines.append("")
        lines.append(f"This run used N = {cfg['events']:,}, not the default 1,000,000, to fit "
                     "the time it was given; the replay target is scaled linearly.")
    return "\n".join(lines)


def write_docs(section: str) -> None:
    write_block(BEGIN, END, section, DOCS_PATH)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="events of the export/replay store (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="about 20,000 events")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH)
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.events = 20_000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.command_path import (
        _create_schemas,
        _drop_schemas,
        _postgres_facts,
        _settings,
    )
    from services.common.event_store import ChronicleStore
    from services.demo.history import generate_history
    from services.demo.summary import describe
    from services.projections.offline.export import export_events
    from services.projections.offline.standalone import STANDALONE_MODELS, replay_to_duckdb

    started = time.perf_counter()
    n = args.events
    import_rows = max(1_000, min(100_000, n // 10))
    import_customers = max(200, import_rows // 5)
    results: dict[str, Any] = {
        "benchmark": "analyst", "machine": machine_info(), "code": code_version(str(ROOT)),
        "config": {"events": n, "import_rows": import_rows,
                   "import_customers": import_customers, "batch": BATCH,
                   "targets": {"import_over_raw_at_least": TARGET_IMPORT_RATIO,
                               "export_events_per_s_at_least": TARGET_EXPORT_EPS,
                               "replay_seconds_per_1m_at_most": TARGET_REPLAY_S_PER_1M}},
    }
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="crm-analyst-"))
        stack.callback(shutil.rmtree, work, True)

        # History store of about N events (about ten per customer).
        history_settings = _settings(data_dir=work / "history")
        history = ChronicleStore(env=history_settings.event_store_env())
        log(f"generating about {n:,} events")
        generated = generate_history(history, customers=max(1, n // 10))
        results["history"] = describe(generated)
        log(f"generated {generated.events:,} events in {generated.seconds:.0f} s")

        csv_path = work / "purchases.csv"
        write_purchases_csv(csv_path, import_rows, import_customers)
        # The import writes about two events per row plus a registration per customer;
        # the raw limit saves as many pre-built events.
        raw_count = import_rows * 2 + import_customers
        source_events = read_events(history, raw_count)

        results["import"] = {}
        counter = iter(range(1_000))

        def sqlite_store(label: str) -> Any:
            settings = _settings(data_dir=work / f"sqlite_{label}_{next(counter)}")
            return ChronicleStore(env=settings.event_store_env())

        results["import"]["sqlite"] = import_vs_raw("sqlite", sqlite_store, csv_path,
                                                    source_events, work)

        from tests.harness.services import start_local_postgres

        log("starting a private PostgreSQL cluster (fsync on)")
        local = stack.enter_context(start_local_postgres(fsync=True))
        url = local.url
        suffix = uuid.uuid4().hex[:8]
        schemas = {"import": f"an_imp_{suffix}", "raw": f"an_raw_{suffix}"}
        _create_schemas(url, list(schemas.values()))
        stack.callback(_drop_schemas, url, list(schemas.values()))
        facts = _postgres_facts(url)
        results["postgres"] = facts

        def postgres_store(label: str) -> Any:
            settings = _settings(postgres_url=url, postgres_schema=schemas[label],
                                 data_dir=work / "pg")
            return ChronicleStore(env=settings.event_store_env())

        results["import"]["postgres"] = import_vs_raw("postgres", postgres_store, csv_path,
                                                      source_events, work)
        del source_events

        results["export"] = {}
        for fmt in ("parquet", "ndjson"):
            out = work / f"export_{fmt}"
            log(f"export to {fmt}")
            summary = export_events(history, out, fmt=fmt)  # type: ignore[arg-type]
            size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            eps = summary.events_per_second
            results["export"][fmt] = {
                "events": summary.events, "seconds": round(summary.seconds, 2),
                "events_per_s": round(eps, 1), "files": len(summary.files),
                "mib": round(size / 2**20, 1), "met": eps >= TARGET_EXPORT_EPS}
            log(f"export {fmt}: {summary.events:,} events at {eps:,.0f}/s")

        log("replay of the Parquet export into a standalone DuckDB file")
        replay_settings = _settings(data_dir=work / "replay")
        t0 = time.perf_counter()
        replay_to_duckdb(work / "standalone.duckdb", replay_settings, source="export",
                         export_dir=work / "export_parquet")
        seconds = time.perf_counter() - t0
        events = results["export"]["parquet"]["events"]
        target = round(TARGET_REPLAY_S_PER_1M * max(events, 1) / 1_000_000, 1)
        results["replay"] = {"events": events, "seconds": round(seconds, 2),
                             "events_per_s": round(events / seconds, 1),
                             "models": list(STANDALONE_MODELS), "target_seconds": target,
                             "met": seconds < target}
        log(f"replay: {seconds:.1f} s (target < {target} s)")

    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    results["finished_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    section = markdown(results)
    if not args.no_docs:
        write_docs(section)
    print(section)
    print(f"\nresults: {args.output}" + ("" if args.no_docs else f"; docs: {DOCS_PATH}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
