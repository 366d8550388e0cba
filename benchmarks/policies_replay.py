"""Part 1 of the policies benchmark: a replayed history, and the policies over it.

`generate_history` writes about N events into a fresh event store, the rules file turning every
policy on (`RULES_ALL`) is recorded, and inbound leads without an owner are created through the
command service. Then the log is replayed into a trivial projection (the raw replay rate), into
`policy_state` and into `customer_360`; raw single-event appends through the library are
measured beside them; and the engine decides and runs its rounds (`benchmarks.policies_rounds`).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from benchmarks.policies_common import Phase, log
from benchmarks.policies_rounds import phase_policies
from benchmarks.raw_appends import measure_raw_appends
from benchmarks.stats import latency_summary
from services.command.domain.aggregate import CommandContext
from services.command.service import CommandService, NewCustomer
from services.common.event_store import open_event_store
from services.common.events.catalog import PUBLISHED_EVENT_CLASSES
from services.common.events.customer import CustomerPersonal
from services.common.events.envelope import CrmEvent
from services.demo.history import generate_history
from services.demo.names import AGENTS, INDUSTRIES, MANAGERS, REGIONS, REPS, SOURCES
from services.demo.summary import describe
from services.projections import registry
from services.projections.model import Projection, Table
from services.projections.rebuild import REBUILD_BATCH, rebuild

EVENTS_PER_CUSTOMER = 10.92  # what services.demo.history averages with seed 7
TENANT = "default"
"""The tenant of the history, the rules and the inbound leads."""
TEAM_CAP = 400

# Every policy on: round-robin team with a cap, an amount rule, a reassigning stage rule,
# follow-up windows per stage, SLA targets with escalation, approver tiers, dormancy.
RULES_ALL = f'''
[org.managers]
{chr(10).join(f'{rep} = "{MANAGERS[n % len(MANAGERS)]}"' for n, rep in enumerate(REPS))}
{chr(10).join(f'{agent} = "support-lead"' for agent in AGENTS)}

[[assignment.teams]]
id = "inbound"
members = [{", ".join(f'"{rep}"' for rep in REPS)}]
max_open_leads = {TEAM_CAP}

[[assignment.teams]]
id = "closers"
members = ["closer-1", "closer-2", "closer-3"]

[[assignment.rules]]
id = "large-deals"
min_amount = "25000"
to = "key-accounts"

[[assignment.rules]]
id = "negotiation-to-closers"
stages = ["negotiation"]
min_amount = "20000"
team = "closers"
reassign = true

[assignment]
default_team = "inbound"

[follow_up]
default = "14d"
[follow_up.stages]
new = "3d"
contacted = "7d"
negotiation = "5d"

[sla.first_response]
urgent = "1h"
high = "4h"
normal = "24h"
low = "72h"
[sla.resolution]
urgent = "8h"
high = "2d"
normal = "5d"
low = "10d"
[sla.escalation]
raise_priority = true
notify = ["support-lead"]

[discount]
approval_threshold_percent = "10"
approvers = [{{ above_percent = "10", approver = "manager-1" }}, {{ above_percent = "20", approver = "vp-sales" }}]

[lifecycle]
dormant_after = "90d"
dormancy_events = true
'''


def _trivial_projection() -> Any:
    class TrivialProjection(Projection):
        """Reads nothing, writes nothing: the runner's own cost of reading the log (the source
        decodes every event whatever a model ignores)."""

        name: ClassVar[str] = "bench_trivial"
        tables: ClassVar[tuple[Table, ...]] = (Table("bench_trivial_rows", {"id": "text"}),)
        ignored: ClassVar[frozenset[type[CrmEvent]]] = frozenset(PUBLISHED_EVENT_CLASSES)

    return TrivialProjection()


def phase_generate(store: Any, events: int, seed: int, now: datetime) -> dict[str, Any]:
    customers = max(1, round(events / EVENTS_PER_CUSTOMER))
    last = [time.perf_counter()]

    def progress(done: int, written: int) -> None:
        if time.perf_counter() - last[0] > 20:
            last[0] = time.perf_counter()
            log(f"  {done:,} customers, {written:,} events")

    summary = generate_history(store, customers=customers, seed=seed, now=now,
                               tenant_id=TENANT, on_progress=progress)
    return describe(summary)


def phase_inbound_leads(service: Any, count: int, now: datetime, seed: int) -> dict[str, Any]:
    """New leads from a web form, no owner yet: what the assignment policy is for."""
    rng = random.Random(seed + 1)
    latencies = []
    large = 0
    started = time.perf_counter()
    for n in range(count):
        amount = rng.randint(2, 160) * 250
        large += amount >= 25000
        ctx = CommandContext(actor="web-form", tenant_id=TENANT,
                             occurred_at=now - timedelta(minutes=rng.uniform(1, 60 * 24 * 10)))
        began = time.perf_counter()
        service.create_lead(
            ctx, customer_id=None,
            new_customer=NewCustomer(personal=CustomerPersonal(name=f"Inbound {n}"),
                                     region=rng.choice(REGIONS), industry=rng.choice(INDUSTRIES)),
            title="Inbound enquiry", source=rng.choice(SOURCES), amount=f"{amount}.00",
            currency="EUR")
        latencies.append(time.perf_counter() - began)
    seconds = time.perf_counter() - started
    return {"leads": count, "amount_at_least_25000": large, "seconds": round(seconds, 2),
            "commands_per_s": round(count / seconds, 1), "latency_ms": latency_summary(latencies)}


def phase_rebuild(projection: Any, sql: Any, settings: Any, store: Any) -> dict[str, Any]:
    result = rebuild(projection, sql, settings, source="store", event_store=store,
                     batch_size=REBUILD_BATCH)
    return {"projection": result.projection, "events": result.events,
            "seconds": round(result.seconds, 2),
            "events_per_s": round(result.events_per_second, 1)}


def run_replay_part(label: str, settings: Any, make_sql: Callable[[], Any],
                    raw_env: dict[str, str], args: argparse.Namespace,
                    out: dict[str, Any]) -> None:
    with ExitStack() as stack:
        store = open_event_store(settings)
        stack.callback(store.close)
        now = datetime.now(UTC).replace(microsecond=0)
        out["history_now"] = now.isoformat()

        log(f"[{label}] 1/6 generating about {args.events:,} events")
        with Phase(out, "generate_cpu"):
            out["generate"] = phase_generate(store, args.events, args.seed, now)
        log(f"  {out['generate']['events']:,} events of {out['generate']['customers']:,} "
            f"customers at {out['generate']['events_per_s']:,.0f}/s")

        service = CommandService(store, settings)
        stack.callback(service.close)
        changed = service.change_rules(CommandContext("bench", TENANT), RULES_ALL,
                                       "benchmarks/policies.py")
        out["rules_version"] = changed.version
        inbound = max(20, out["generate"]["customers"] // 20)
        log(f"[{label}] 2/6 {inbound:,} inbound leads without an owner, through the service")
        with Phase(out, "inbound_cpu"):
            out["inbound"] = phase_inbound_leads(service, inbound, now, args.seed)
        out["log_events"] = store.recorder.max_notification_id() or 0
        log(f"  {out['inbound']['commands_per_s']:,.0f} create_lead/s; log now "
            f"{out['log_events']:,} events")

        sql = make_sql()
        stack.callback(sql.close)
        out["replay"] = {}
        for name, projection in (("trivial", _trivial_projection()),
                                 ("policy_state", registry.build("policy_state", settings)),
                                 ("customer_360", registry.build("customer_360", settings))):
            log(f"[{label}] 3/6 replay of the log into {name}")
            part: dict[str, Any] = {}
            with Phase(part, "cpu"):
                part.update(phase_rebuild(projection, sql, settings, store))
            out["replay"][name] = part
            log(f"  {part['events']:,} events in {part['seconds']:.1f} s: "
                f"{part['events_per_s']:,.0f} events/s")

        log(f"[{label}] 4/6 raw single-event appends through the library, 1 thread, "
            f"{args.raw_seconds:g} s")
        raw: dict[str, Any] = {}
        with Phase(raw, "cpu"):
            raw.update(measure_raw_appends(raw_env, 1, args.raw_seconds, 1.0))
        out["raw_appends"] = raw
        log(f"  {raw['events_per_s']:,.0f} appends/s (p50 {raw['latency_ms']['p50']} ms)")

        log(f"[{label}] 5/6 policy decisions and rounds")
        clock_at = now + timedelta(seconds=1)
        policies: dict[str, Any] = {}
        with Phase(policies, "cpu"):
            policies.update(phase_policies(service, sql, store, settings, clock_at,
                                           args.profile))
        out["policies"] = policies
        r = policies["rounds"]
        log(f"[{label}] 6/6 {r['issued']:,} commands in {r['count']} rounds: "
            f"{r['commands_per_s']:,.0f} commands/s ({r['events_per_command']} events each)")
