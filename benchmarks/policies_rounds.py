"""Part 1 of the policies benchmark, after the replays: the engine's decisions and rounds.

With a `ManualClock` just after the history's last event: `PolicyEngine.decide` over everything
due (no limit, nothing issued), one round's decide at the engine's default limit, `run_once`
rounds (decide + issue through the command service) until nothing more is issued, with the
policy state catching up with the rounds' own events between them, and idle rounds. Every
policy and every SQL statement it runs is timed (`Instrument`).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.policies_common import log
from benchmarks.stats import latency_summary
from services.command.policies.engine import (
    EVENT_DRIVEN,
    QUIET_AFTER_ROUND,
    ROUND_LIMIT,
    PolicyEngine,
)
from services.common.clock import ManualClock
from services.demo.names import REPS
from services.projections import registry
from services.projections.policy_state.projection import (
    ALERTS,
    CUSTOMERS,
    DISCOUNTS,
    LEADS,
    TICKETS,
)
from services.projections.policy_state.reads import NAME as POLICY_STATE
from services.projections.policy_state.reads import PolicyStateReads
from services.projections.rebuild import REBUILD_BATCH
from services.projections.runner import ProjectionRunner
from services.projections.sources import EventStoreSource

MAX_ROUNDS = 2000


class Instrument:
    """Times each policy and each SQL statement it runs (wraps the engine's callables)."""

    def __init__(self) -> None:
        self.current = "engine"
        self.policy_seconds: dict[str, float] = defaultdict(float)
        self.policy_actions: Counter[str] = Counter()
        self.sql: dict[tuple[str, str], list[float]] = {}  # (policy, sql) -> [calls, s, rows]
        self.decide_seconds: list[float] = []
        self.issue_seconds: list[float] = []

    def attach(self, engine: Any, time_commands: bool = False) -> None:
        """`time_commands`: also time each command the engine issues (through a proxy of its
        command service; the actions call `service.<command>(...)`)."""
        if time_commands:
            engine.service = _TimedService(engine.service, self.issue_seconds)
        # Every query of the policy state runs through `PolicyStateReads._rows`: wrapped on
        # this instance only (the methods call `self._rows`, which finds it first).
        state: Any = engine.state
        original_rows = state._rows

        def rows(sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
            began = time.perf_counter()
            found = original_rows(sql, params)
            entry = self.sql.setdefault((self.current, sql), [0, 0.0, 0])
            entry[0] += 1
            entry[1] += time.perf_counter() - began
            entry[2] += len(found)
            return found

        state._rows = rows

        def timed_policy(name: str, policy: Callable[..., Any]) -> Callable[..., Any]:
            def run(*args: Any) -> Any:
                self.current = name
                began = time.perf_counter()
                try:
                    actions = policy(*args)
                finally:
                    self.policy_seconds[name] += time.perf_counter() - began
                    self.current = "engine"
                self.policy_actions[name] += len(actions)
                return actions
            return run

        engine.policies = {name: timed_policy(name, fn) for name, fn in engine.policies.items()}
        original_decide = engine.decide

        def decide(now: datetime, policies: Any = None) -> Any:
            began = time.perf_counter()
            try:
                return original_decide(now, policies)
            finally:
                self.decide_seconds.append(time.perf_counter() - began)

        engine.decide = decide

    def reset(self) -> None:
        self.policy_seconds.clear()
        self.policy_actions.clear()
        self.sql.clear()
        self.decide_seconds.clear()
        self.issue_seconds.clear()

    def statements(self, top: int = 12) -> list[dict[str, Any]]:
        ranked = sorted(self.sql.items(), key=lambda item: -item[1][1])
        return [{"policy": policy, "sql": " ".join(sql.split()), "calls": int(calls),
                 "seconds": round(seconds, 4), "ms_per_call": round(seconds / calls * 1000, 3),
                 "rows": int(rows)}
                for (policy, sql), (calls, seconds, rows) in ranked[:top]]

    def summary(self) -> dict[str, Any]:
        return {"policy_seconds": {k: round(v, 4) for k, v in self.policy_seconds.items()},
                "policy_actions": dict(self.policy_actions), "statements": self.statements()}


class _TimedService:
    """The command service, with every method call timed into `into`."""

    def __init__(self, service: Any, into: list[float]) -> None:
        self._service, self._into = service, into

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._service, name)
        if not callable(attr):
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self._into.append(time.perf_counter() - began)
        return timed


def _explain(sql_store: Any, statement: str) -> list[str]:
    """SQLite's plan of a policy statement (parameters bound to NULLs: the plan, not the rows)."""
    if sql_store.dialect != "sqlite":
        return []
    marks = statement.count("?")
    try:
        found = sql_store.query(f"EXPLAIN QUERY PLAN {statement}", [None] * marks)
    except Exception as exc:  # a plan is a diagnostic: never fail the run for it
        return [f"(no plan: {exc})"]
    return [str(row.get("detail")) for row in found]


def _profile_top(profiler: cProfile.Profile, limit: int = 15) -> list[str]:
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("tottime").print_stats(limit)
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return [line for line in lines[start:] if line.strip()][: limit + 1]


def state_counts(sql: Any) -> dict[str, Any]:
    q = sql.query
    one = lambda statement, *params: int(q(statement, list(params))[0]["n"])  # noqa: E731
    leads, customers, tickets = LEADS.name, CUSTOMERS.name, TICKETS.name
    return {
        "leads": one(f"SELECT COUNT(*) AS n FROM {leads}"),
        "open_leads": one(f"SELECT COUNT(*) AS n FROM {leads} WHERE open = ?", True),
        "open_unassigned_leads": one(f"SELECT COUNT(*) AS n FROM {leads} WHERE open = ? "
                                     "AND owner IS NULL", True),
        "customers": one(f"SELECT COUNT(*) AS n FROM {customers}"),
        "buyers": one(f"SELECT COUNT(*) AS n FROM {customers} WHERE buyer = ?", True),
        "tickets": one(f"SELECT COUNT(*) AS n FROM {tickets}"),
        "open_tickets": one(f"SELECT COUNT(*) AS n FROM {tickets} WHERE open = ?", True),
        "discounts": one(f"SELECT COUNT(*) AS n FROM {DISCOUNTS.name}"),
        "pending_discounts": one(f"SELECT COUNT(*) AS n FROM {DISCOUNTS.name} "
                                 "WHERE status = 'pending'"),
        "alerts": one(f"SELECT COUNT(*) AS n FROM {ALERTS.name}"),
        "customers_by_tenant": {str(r["tenant_id"]): int(r["n"]) for r in q(
            f"SELECT tenant_id, COUNT(*) AS n FROM {customers} GROUP BY tenant_id")},
    }


def phase_policies(service: Any, sql: Any, store: Any, settings: Any, clock_at: datetime,
                   profile_path: Path | None) -> dict[str, Any]:
    out: dict[str, Any] = {"clock": clock_at.isoformat(), "round_limit": ROUND_LIMIT}
    clock = ManualClock(clock_at)
    out["state_before"] = state_counts(sql)

    # a) Decide only, everything due at once (no limit), nothing issued; three times.
    everything = PolicyEngine(service, PolicyStateReads(sql), service.rules_book, clock,
                              limit=10**9)
    probe = Instrument()
    probe.attach(everything)
    everything.decide(clock.now())  # warm: rules book, statement cache, page cache
    probe.reset()
    runs = []
    actions: list[Any] = []
    for _ in range(3):
        began = time.perf_counter()
        actions = everything.decide(clock.now())
        runs.append(time.perf_counter() - began)
    seconds = statistics.median(runs)
    by_policy = Counter(a.policy for a in actions)
    per_policy_s = {k: round(v / 3, 4) for k, v in probe.policy_seconds.items()}
    statements = probe.statements()
    for entry in statements[:4]:
        entry["plan"] = _explain(sql, entry["sql"])
    for entry in statements:
        entry["seconds"] = round(entry["seconds"] / 3, 4)
        entry["calls"] //= 3
        entry["rows"] //= 3
    profiler = cProfile.Profile()
    profiler.enable()
    everything.decide(clock.now())
    profiler.disable()
    if profile_path is not None:
        profiler.dump_stats(str(profile_path))
    out["decide_all"] = {
        "decisions": len(actions), "seconds_median": round(seconds, 4),
        "seconds_runs": [round(r, 4) for r in runs],
        "decisions_per_s": round(len(actions) / seconds, 1) if seconds else None,
        "by_policy": dict(by_policy), "policy_seconds": per_policy_s,
        "statements": statements, "profile_top": _profile_top(profiler),
    }
    log(f"  decide (no limit): {len(actions):,} decisions in {seconds * 1000:.0f} ms "
        f"({len(actions) / max(seconds, 1e-9):,.0f}/s); {dict(by_policy)}")

    # b) One round's decide with the engine's default limit (what `crm serve` does each round).
    limited = PolicyEngine(service, PolicyStateReads(sql), service.rules_book, clock,
                           limit=ROUND_LIMIT)
    began = time.perf_counter()
    first_round = limited.decide(clock.now())
    out["decide_one_round"] = {"decisions": len(first_round),
                               "seconds": round(time.perf_counter() - began, 4)}

    # c) Rounds: decide + issue through the command service, until nothing more is issued.
    runner = ProjectionRunner(registry.build(POLICY_STATE, settings), sql,
                              EventStoreSource(store), batch_size=REBUILD_BATCH)
    runner.catch_up()
    between_phases = {"seconds": 0.0, "events": 0}

    def state_reached(position: int, timeout_s: float) -> bool:
        """Between a round's phases the state applies the first phase's events, as the policy
        state runner does in `crm serve`; timed as catching up, not as the round."""
        began = time.perf_counter()
        between_phases["events"] += runner.catch_up(max_idle_polls=1, timeout_s=0.0)
        between_phases["seconds"] += time.perf_counter() - began
        return True

    engine = PolicyEngine(service, PolicyStateReads(sql), service.rules_book, clock,
                          limit=ROUND_LIMIT, state_reached=state_reached)
    rounds_probe = Instrument()
    rounds_probe.attach(engine, time_commands=True)
    head_before = store.recorder.max_notification_id() or 0
    rounds: list[dict[str, Any]] = []
    total_round_s = total_catch_up_s = 0.0
    caught_up_events = 0
    for number in range(MAX_ROUNDS):
        decides_before = len(rounds_probe.decide_seconds)
        between_phases.update(seconds=0.0, events=0)
        began = time.perf_counter()
        result = engine.run_once()
        round_s = time.perf_counter() - began - between_phases["seconds"]
        began = time.perf_counter()
        applied = runner.catch_up(max_idle_polls=1, timeout_s=0.0) + int(between_phases["events"])
        catch_up_s = time.perf_counter() - began + between_phases["seconds"]
        round_decide_s = sum(rounds_probe.decide_seconds[decides_before:])
        total_round_s += round_s
        total_catch_up_s += catch_up_s
        caught_up_events += applied
        rounds.append({"round": number + 1, "decided": result.decided,
                       "issued": result.issued, "repeated": result.repeated,
                       "refused": result.refused, "by_policy": dict(result.by_policy),
                       "seconds": round(round_s, 4),
                       "decide_seconds": round(round_decide_s, 4),
                       "catch_up_seconds": round(catch_up_s, 4), "caught_up": applied})
        if number % 10 == 0 or result.issued == 0:
            log(f"  round {number + 1}: decided {result.decided}, issued {result.issued} "
                f"{dict(result.by_policy)} in {round_s:.2f} s; state caught up {applied} "
                f"events in {catch_up_s:.2f} s")
        if result.issued == 0:
            break
    head_after = store.recorder.max_notification_id() or 0
    totals = engine.totals
    decide_s = sum(rounds_probe.decide_seconds)
    issue_s = total_round_s - decide_s
    out["rounds"] = {
        "count": len(rounds), "converged": rounds[-1]["issued"] == 0 if rounds else True,
        "decided": totals.decided, "issued": totals.issued, "repeated": totals.repeated,
        "refused": totals.refused, "by_policy": dict(totals.by_policy),
        "events_written": head_after - head_before,
        "events_per_command": round((head_after - head_before) / totals.issued, 2)
        if totals.issued else None,
        "run_once_seconds": round(total_round_s, 3), "decide_seconds": round(decide_s, 3),
        "issue_seconds": round(issue_s, 3),
        "commands_per_s": round(totals.issued / total_round_s, 1) if total_round_s else None,
        "commands_per_s_issue_only": round(totals.issued / issue_s, 1) if issue_s > 0 else None,
        "events_per_s": round((head_after - head_before) / total_round_s, 1)
        if total_round_s else None,
        "issue_latency_ms": latency_summary(rounds_probe.issue_seconds),
        "catch_up_seconds": round(total_catch_up_s, 3), "catch_up_events": caught_up_events,
        "catch_up_events_per_s": round(caught_up_events / total_catch_up_s, 1)
        if total_catch_up_s else None,
        "instrument": rounds_probe.summary(), "per_round": rounds,
    }
    for entry in out["rounds"]["instrument"]["statements"][:6]:
        entry["plan"] = _explain(sql, entry["sql"])

    # d) Idle rounds: nothing due (what `crm serve` pays every interval at this size).
    idle_engine = PolicyEngine(service, PolicyStateReads(sql), service.rules_book, clock,
                               limit=ROUND_LIMIT)
    idle_probe = Instrument()
    idle_probe.attach(idle_engine)
    idle_runs = []
    for _ in range(5):
        began = time.perf_counter()
        idle_result = idle_engine.run_once()
        idle_runs.append(time.perf_counter() - began)
    idle_statements = idle_probe.statements(6)
    for entry in idle_statements:
        entry["seconds"] = round(entry["seconds"] / 5, 4)
        entry["calls"] //= 5
        entry["rows"] //= 5
        entry["plan"] = _explain(sql, entry["sql"])
    out["idle_round"] = {"issued": idle_result.issued, "runs": 5,
                         "seconds_median": round(statistics.median(idle_runs), 4),
                         "policy_seconds": {k: round(v / 5, 4)
                                            for k, v in idle_probe.policy_seconds.items()},
                         "statements": idle_statements}
    log(f"  idle round (nothing due): {statistics.median(idle_runs) * 1000:.1f} ms")
    event_runs = []
    for _ in range(5):
        began = time.perf_counter()
        idle_engine.run_once(EVENT_DRIVEN)
        event_runs.append(time.perf_counter() - began)
    out["idle_event_round"] = {"policies": sorted(EVENT_DRIVEN), "runs": 5,
                               "seconds_median": round(statistics.median(event_runs), 4),
                               "quiet_after_round": QUIET_AFTER_ROUND}
    log(f"  event-driven round (nothing due): {statistics.median(event_runs) * 1000:.1f} ms")

    out["state_after"] = state_counts(sql)
    leftover = everything.decide(clock.now())
    out["due_after"] = dict(Counter(a.policy for a in leftover))
    out["waiting_leads"] = {
        "unassigned_open": out["state_after"]["open_unassigned_leads"],
        "unassigned_open_amount_at_least_25000": len([
            r for r in sql.query(f"SELECT amount FROM {LEADS.name} WHERE open = ? "
                                 "AND owner IS NULL", [True])
            if r["amount"] and float(r["amount"]) >= 25000]),
        "team_open_leads": {r["owner"]: int(r["n"]) for r in sql.query(
            f"SELECT owner, COUNT(*) AS n FROM {LEADS.name} WHERE open = ? AND owner IN "
            f"({', '.join('?' for _ in REPS)}) GROUP BY owner", [True, *REPS])},
    }
    return out
