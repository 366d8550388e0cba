"""What sealing personal data costs: on the command path and on a rebuild, each beside the same
work with a pass-through vault (values kept in clear: for this comparison only), and the raw
AES-256-GCM seal and open of one value underneath.

    .venv/bin/python -m benchmarks.privacy [--customers 2000] [--rounds 3]   (~3 min)

Writes benchmarks/results/privacy.json and the block between `<!-- privacy:begin -->` and
`<!-- privacy:end -->` of docs/BENCHMARKS.md (the rest of the page is left as it is).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from benchmarks.docs_block import write_block
from benchmarks.machine import machine_info
from services.command.domain.aggregate import CommandContext
from services.command.service import CommandService, NewCustomer
from services.common.event_store import ChronicleStore, open_event_store
from services.common.events.customer import CustomerPersonal
from services.common.privacy.master_key import LocalKeyEncryptionKey
from services.common.privacy.vault import PersonalDataVault
from services.common.settings import Settings
from services.projections.customer_360.projection import Customer360Projection
from services.projections.runner import ProjectionRunner
from services.projections.sources import EventStoreSource
from services.projections.stores.sql import SqlReadStore
from services.projections.timeline.projection import TimelineProjection

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "privacy.json"
BEGIN, END = "<!-- privacy:begin -->", "<!-- privacy:end -->"
PERSONAL = {"name": "Ada Lovelace", "email": "ada.lovelace@example.com", "phone": "+44 20 7946"}


class PassThroughVault(PersonalDataVault):
    """Keeps values in clear: the baseline of the comparison, never used by the CRM."""

    def seal(self, owner: Any, context_id: Any, value: dict[str, Any]) -> Any:
        return value

    def search_key(self, tenant_id: str) -> bytes:
        return b"k" * 32


def raw_aead(rounds: int = 20_000) -> dict[str, float]:
    vault = PersonalDataVault(LocalKeyEncryptionKey.generate(), None, None)
    customer = "6a2ec81c-b024-4755-9c07-4ce0dc537015"
    sealed = vault.seal(customer, "e", PERSONAL)
    started = time.perf_counter()
    for n in range(rounds):
        vault.seal(customer, str(n), PERSONAL)
    seal_us = (time.perf_counter() - started) / rounds * 1e6
    started = time.perf_counter()
    for _ in range(rounds):
        vault.open(customer, "e", sealed)
    open_us = (time.perf_counter() - started) / rounds * 1e6
    return {"seal_us": seal_us, "open_us": open_us}


def _plain_recorder_topic() -> str:
    from eventsourcing.sqlite import SQLiteApplicationRecorder
    from eventsourcing.utils import get_topic

    return get_topic(SQLiteApplicationRecorder)


def _store(data_dir: Path, sealed: bool, chained: bool = True
           ) -> tuple[ChronicleStore, Settings]:
    settings = Settings(data_dir=data_dir)
    if chained:
        store = open_event_store(settings)
    else:  # the library's own recorder: no hash chain (for this comparison only)
        data_dir.mkdir(parents=True, exist_ok=True)
        store = ChronicleStore(env={**settings.event_store_env(),
                                    "APPLICATION_RECORDER_TOPIC": _plain_recorder_topic()})
    if not sealed:
        store.vault = PassThroughVault(LocalKeyEncryptionKey.generate(), None, None)
        store.mapper.vault = store.vault  # type: ignore[attr-defined]
    return store, settings


def command_path(data_dir: Path, sealed: bool, customers: int, chained: bool = True
                 ) -> dict[str, float]:
    """Register customers and log an interaction with a subject and a body for each, one
    thread: commands a second, and the median latency."""
    store, settings = _store(data_dir, sealed, chained)
    service = CommandService(store, settings)
    ctx = CommandContext(actor="bench", tenant_id="default")
    latencies: list[float] = []
    started = time.perf_counter()
    try:
        for n in range(customers):
            began = time.perf_counter()
            result = service.register_customer(ctx, NewCustomer(personal=CustomerPersonal(
                name=f"Ada Lovelace {n}", email=f"ada{n}@example.com")))
            customer = UUID(result.ids["customer_id"])
            latencies.append(time.perf_counter() - began)
            began = time.perf_counter()
            service.log_interaction(ctx, customer, channel="call", direction="inbound",
                                    subject="Renewal call", body="Talked about the upgrade")
            latencies.append(time.perf_counter() - began)
    finally:
        service.close()
    seconds = time.perf_counter() - started
    store.close()
    return {"commands_per_s": 2 * customers / seconds,
            "median_ms": statistics.median(latencies) * 1000}


def rebuild(data_dir: Path, sealed: bool) -> dict[str, float]:
    """Project the store built by `command_path` into fresh customer-360 and timeline tables."""
    store, _ = _store(data_dir, sealed)
    results: dict[str, float] = {}
    events = store.recorder.max_notification_id() or 0
    for projection in (Customer360Projection(), TimelineProjection()):
        read_store = SqlReadStore(sqlite_path=data_dir / f"rebuild-{projection.name}.sqlite")
        projection.vault = store.vault
        runner = ProjectionRunner(projection, read_store, EventStoreSource(store))
        started = time.perf_counter()
        runner.catch_up(max_idle_polls=1, timeout_s=0)
        results[f"{projection.name}_events_per_s"] = events / (time.perf_counter() - started)
        read_store.close()
    store.close()
    return results


def _machine(info: dict[str, Any]) -> str:
    return (f"{info['cpu_model']}, {info['nproc']} cores, {info['memory_gib']} GiB, Python "
            f"{info['python']}, SQLite {info['sqlite3']}.")


VARIANTS = (  # (label, sealed, chained)
    ("sealed and chained (as shipped)", True, True),
    ("sealed, no chain", True, False),
    ("in clear, chained", False, True),
    ("in clear, no chain (baseline)", False, False),
)


def measure(customers: int, rounds: int) -> dict[str, Any]:
    """Each variant `rounds` times, interleaved (the machine's load drifts); the medians."""
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in VARIANTS}
    rebuilds: dict[str, list[dict[str, float]]] = {"sealed": [], "in clear": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(rounds):
            for n, (label, sealed, chained) in enumerate(VARIANTS):
                data_dir = Path(tmp) / f"r{round_no}-v{n}"
                runs[label].append(command_path(data_dir, sealed, customers, chained))
                if chained:  # a rebuild reads; the chain is not on its path
                    rebuilds["sealed" if sealed else "in clear"].append(
                        rebuild(data_dir, sealed))
                print(f"round {round_no + 1}/{rounds}: {label} done", file=sys.stderr,
                      flush=True)

    def medians(samples: list[dict[str, float]]) -> dict[str, float]:
        return {key: statistics.median(s[key] for s in samples) for key in samples[0]}

    return {"commands": {label: medians(samples) for label, samples in runs.items()},
            "rebuild": {label: medians(samples) for label, samples in rebuilds.items()}}


def render(results: dict[str, Any]) -> str:
    raw, commands, rebuilds = results["raw"], results["commands"], results["rebuild"]
    base = commands["in clear, no chain (baseline)"]["commands_per_s"]
    lines = [
        "## Personal data sealed: encryption and hashing on the command path and on a rebuild",
        "",
        f"`.venv/bin/python -m benchmarks.privacy --customers {results['customers']} "
        f"--rounds {results['rounds']}` (`benchmarks/privacy.py`), measured "
        f"{results['machine']['date']}. Machine: {_machine(results['machine'])} Raw results: "
        "`benchmarks/results/privacy.json`.",
        "",
        f"**The raw limit underneath:** AES-256-GCM (the `cryptography` package) on one personal "
        f"object ({results['personal_bytes']} bytes of JSON), in the same run: seal "
        f"**{raw['seal_us']:.1f} µs**, open **{raw['open_us']:.1f} µs**.",
        "",
        f"**The command path** — {results['customers']:,} customers, each registered (name and "
        "e-mail) and then given an interaction with a subject and a body: 2 commands, 4 events "
        "each, one thread, SQLite file store; the median of "
        f"{results['rounds']} interleaved rounds. *Sealed* is the CRM as shipped; *in clear* "
        "swaps in a vault that keeps the values as they are; *no chain* swaps in the library's "
        "own recorder (these two exist only in this benchmark).",
        "",
        "| variant | commands/s | median command ms | of the baseline |",
        "|---|---:|---:|---:|",
    ]
    for label, row in commands.items():
        lines.append(f"| {label} | {row['commands_per_s']:,.0f} | {row['median_ms']:.2f} | "
                     f"{row['commands_per_s'] / base:.0%} |")
    sealed, clear = rebuilds["sealed"], rebuilds["in clear"]
    lines += [
        "",
        "**A rebuild** of customer-360 and timeline from the event store written above (a "
        "fresh SQLite read store each; events/s over all events of the store). A rebuild only "
        "reads the log, so the chain costs it nothing; sealing costs it the opening of each "
        "event's values and the sealing of what the rows keep (customer-360 re-seals the "
        "customer's values and recomputes their search tokens on every change of them).",
        "",
        "| read model | sealed, events/s | in clear, events/s | sealed/clear |",
        "|---|---:|---:|---:|",
    ]
    for name, title in (("customer_360", "customer-360"), ("timeline", "timeline")):
        key = f"{name}_events_per_s"
        lines.append(f"| {title} | {sealed[key]:,.0f} | {clear[key]:,.0f} | "
                     f"{sealed[key] / clear[key]:.0%} |")
    lines += [
        "",
        "Where the time goes on the command path (timed per call in a separate run of 1,000 "
        "customers): a new customer's data key is generated, wrapped and committed in a short "
        "transaction of its own before the event that first uses it — so no stored event can "
        "name a key that was never stored — about 0.48 ms, once per customer: most of the "
        "difference falls on registrations. Each seal itself is a few µs (above) plus its "
        "JSON; later commands of a customer find its key cached. The chain adds two SHA-256 "
        "and one row per event in the write transaction (the \"Tamper evidence\" section "
        "measures it on PostgreSQL too, and the verification of a million events). On this "
        "2-CPU machine the figures move by ±10% from run to run.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS_PATH)
    parser.add_argument("--no-docs", action="store_true",
                        help="do not rewrite the block in docs/BENCHMARKS.md")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "customers": args.customers, "rounds": args.rounds, "raw": raw_aead(),
        "personal_bytes": len(json.dumps(PERSONAL)), "machine": machine_info(),
        **measure(args.customers, args.rounds)}
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    section = render(results)
    print(section)
    if not args.no_docs:
        write_block(BEGIN, END, section)


if __name__ == "__main__":
    main()
