"""The docs section of the policies benchmark, rendered from its results JSON."""

from __future__ import annotations

from typing import Any

BEGIN = "<!-- policies:begin -->"
END = "<!-- policies:end -->"


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _others(cpu: dict[str, Any] | None, nproc: int) -> str:
    """Cores used by other processes during a phase: the box's busy share less ours."""
    if not cpu:
        return "–"
    others = max(0.0, cpu["box_busy"] * nproc - cpu["bench_process_cores"])
    return f"{cpu['bench_process_cores']:.2f} / {others:.2f}"


def _idle_share(pol: dict[str, Any], interval_s: float) -> float:
    """The share of a core idle rounds take at `interval_s`: a round every interval, or after
    the engine's rest of QUIET_AFTER_ROUND times the round when that is longer."""
    round_s = pol["idle_round"]["seconds_median"]
    return round_s / max(interval_s, round_s * (1 + _quiet(pol)))


def _quiet(pol: dict[str, Any]) -> float:
    """The engine's rest after a quiet round, in round lengths, as recorded by the run."""
    return float(pol.get("idle_event_round", {}).get("quiet_after_round", 0.0))


def _pct(a: Any, b: Any) -> str:
    return f"{a / b:.0%}" if a and b else "–"


DIAGNOSIS: list[str] = [
    "### What dominates, and what is left (the 2026-12-02 20:27 run; earlier figures from the "
    "2026-11-22 run on an Intel box, before the engine changes named here)",
    "",
    "- **Issuing bounds the rounds; issuing 8 at a time pays where commits wait on the disk.** "
    "SQLite: decide 3.0 s, issuing 31.6 s of the rounds; issuing alone 841 commands/s = 27% of "
    "raw single-event appends (3,076/s), the same share as when the engine issued one command "
    "after another (878 of 3,211/s on 2026-11-22; another run today gave 37%, box noise). Each "
    "command is Python under the GIL (the idempotency lookup, loading the aggregate, deciding, "
    "encoding; py-spy on 2026-11-22: 28% lookup, 21% load, the rest waiting for the commit), so "
    "threads help only as far as the commit waits, and a SQLite commit hardly does. PostgreSQL "
    "(fsync on): 499 commands/s = 56% of raw single-event appends (884/s, 1.03 ms each), as the "
    "group commit puts the concurrent commands into shared transactions; in a run earlier today "
    "on a slower disk (132 raw appends/s, 7.2 ms each) the rounds issued 274/s, 209% of it. "
    "Next step if rounds must go faster: one read of the idempotency keys per round instead of "
    "one per command.",
    "- **A new lead is assigned within tens of milliseconds.** The engine runs the "
    "event-driven policies (assignment, discount approval, alert clearing) as soon as the "
    "policy state's runner commits a batch, instead of sleeping `CRM_POLICY_INTERVAL_S`: at "
    "50 leads/s trigger → command p50 15–20 ms, p99 47–70 ms at either interval, against p50 "
    "461 ms / p99 1,009 ms at 1 s and 61 / 225 ms at 0.2 s before. On one box, same code but "
    "for this change and concurrent issuing (20,000-event history, 20 s per rate, 1 s "
    "interval): 50/s p50 270 → 45 ms, p99 864 → 129 ms; 200/s p50 30.8 s → 0.95 s.",
    "- **At 200 leads/s the server, not the policies, is the limit here.** `crm serve` "
    "accepted 110–128 leads/s (lead creation p50 0.49–0.57 s), and the policies assigned as "
    "fast as leads were accepted (108–127/s while loaded; the 87–102 left at the end went "
    "within 0.7 s); the 0.6 s delay is the assignment queueing behind the HTTP commands in the "
    "same command path. Before, the serial engine kept up with 39–49 of 161–188 accepted "
    "leads/s and the delays (23–29 s) were its backlog. The server spends 10–12 ms of CPU per "
    "lead at that load, 28 ms at 50/s: per-wake overhead (py-spy on 2026-11-22: 55% of busy "
    "samples in the 8 embedded projector threads, each woken by every save); coalescing "
    "projector wake-ups in the embedded mode is the cheap fix there, not a policy cost.",
    "- **Idle rounds at a million events**: 69 ms on SQLite, 70 ms on PostgreSQL; an "
    "event-driven round with nothing due 30 / 46 ms. After any round that found nothing the "
    "engine rests four times that round's length, so idling costs at most a fifth of a core "
    "whatever the interval and however often events arrive (before, an interval of 0.2 s with "
    "a 211 ms round kept a core busy). What remains is two statements that read more than what "
    "is due: dormancy's (13–29 ms: the index `(tenant_id, buyer, active_at)` walks every buyer "
    "already marked dormant, ~17,000, filtering `dormant_for <> active_at` row by row) and alert "
    "clearing's follow-up check (24 ms SQLite, 37 ms PostgreSQL: every open follow-up alert "
    "joined to its lead and customer each round). Fixes, both changing the `policy_state` "
    "tables and so needing `crm replay --projection policy_state`: a column holding "
    "`active_at` only while the buyer is not yet marked dormant for it, indexed with the "
    "tenant; and on each lead the raise time of its open follow-up alert, so clearing reads "
    "only leads with such an alert. The tenant list (now a loose index scan) and the "
    "assignment book (now read only when a lead can be placed) no longer show. In one run "
    "earlier today the hand-over query averaged 32 ms over the idle rounds on SQLite (3.4 ms a "
    "call in the rounds); not seen in this run, not explained.",
    "- **Fixed since the 2026-11-22 run.** Assignment read only the oldest 500 unassigned "
    "leads and the first 500 hand-over candidates, so leads waiting for a full team, or owned "
    "leads no reassign rule matched, could hide later leads a rule would place; it now reads on "
    "page by page while a rule can still place one. A follow-up decided in the same round as "
    "the lead's assignment named no owner and raised no alert (about 1,780 of 3,905 raised one); "
    "a round now assigns until it can place no more leads and then decides the rest on the new "
    "owners: all 3,905 follow-ups raised their alert here (4,739 alerts = 3,905 + 822 SLA "
    "breaches + 12 approval requests; hence 2.39 events per command instead of 2.25). The load "
    "client reused keep-alive connections past uvicorn's 5 s idle timeout, and earlier runs "
    "lost 1–40 requests unanswered; none now.",
    "- **Replays:** `policy_state` replays at 56–69% of the trivial projection's rate, "
    "`customer_360` at 51–57%.",
]
"""Findings written after a full run (kept with the generator so a re-run keeps them)."""


def _replay_markdown(label: str, part: dict[str, Any], nproc: int) -> list[str]:
    replay, raw = part["replay"], part["raw_appends"]
    pol = part["policies"]
    decide, rounds = pol["decide_all"], pol["rounds"]
    trivial = replay["trivial"]["events_per_s"]
    lines = [
        f"#### {label}",
        "",
        f"History: {part['generate']['events']:,} events of {part['generate']['customers']:,} "
        f"customers (`generate_history`, seed 7, two years ending at the run, "
        f"{_n(part['generate']['events_per_s'])} events/s), then the rules file and "
        f"{part['inbound']['leads']:,} inbound leads without an owner through the command "
        f"service ({_n(part['inbound']['commands_per_s'])} `create_lead`/s, new customer "
        f"each); the log: **{part['log_events']:,} events**.",
        "",
        "CPU column: cores used by this benchmark process / by other processes on the box "
        "during that phase (the box's busy time less ours; anything above 0 is someone else's "
        "work competing for the 2 cores).",
        "",
        "| what | ours | raw limit underneath (same run) | ratio | CPU ours / others |",
        "| --- | ---: | --- | ---: | ---: |",
        f"| replay of the log into `policy_state` (rebuild from the store) | "
        f"{_n(replay['policy_state']['events_per_s'])} events/s "
        f"({replay['policy_state']['seconds']} s) | {_n(trivial)} events/s replay into a "
        f"trivial projection (same runner, reads + decodes the log, writes nothing; CPU "
        f"{_others(replay['trivial'].get('cpu'), nproc)}) | "
        f"{_pct(replay['policy_state']['events_per_s'], trivial)} | "
        f"{_others(replay['policy_state'].get('cpu'), nproc)} |",
        f"| replay into `customer_360`, for comparison | "
        f"{_n(replay['customer_360']['events_per_s'])} events/s "
        f"({replay['customer_360']['seconds']} s) | same | "
        f"{_pct(replay['customer_360']['events_per_s'], trivial)} | "
        f"{_others(replay['customer_360'].get('cpu'), nproc)} |",
        f"| **decisions/s**, `decide` only, everything due at once (no limit), nothing "
        f"issued | **{_n(decide['decisions_per_s'])}** ({decide['decisions']:,} decisions in "
        f"{decide['seconds_median'] * 1000:,.0f} ms, median of 3) | – | | "
        f"{_others(pol.get('cpu'), nproc)} (whole phase) |",
        f"| one round's `decide` at the engine's limit of {pol['round_limit']} per query | "
        f"{pol['decide_one_round']['decisions']:,} decisions in "
        f"{pol['decide_one_round']['seconds'] * 1000:,.0f} ms | – | | |",
        f"| **issued commands/s**, `run_once` rounds (decide + issue through `CommandService`,"
        f" with their writes) | **{_n(rounds['commands_per_s'])}** ({rounds['issued']:,} "
        f"commands, {rounds['events_written']:,} events = {rounds['events_per_command']} per "
        f"command, in {rounds['count']} rounds, {rounds['run_once_seconds']} s) | "
        f"{_n(raw['events_per_s'])} raw single-event appends/s through the library, 1 thread "
        f"(p50 {raw['latency_ms']['p50']} ms; CPU {_others(raw.get('cpu'), nproc)}) | "
        f"{_pct(rounds['commands_per_s'], raw['events_per_s'])} | |",
        f"| the same, issuing only (decide time taken out) | "
        f"{_n(rounds['commands_per_s_issue_only'])} commands/s; one command p50 "
        f"{rounds['issue_latency_ms']['p50']} ms, p99 {rounds['issue_latency_ms']['p99']} ms | "
        f"same | {_pct(rounds['commands_per_s_issue_only'], raw['events_per_s'])} | |",
        f"| policy state catching up with the rounds' own events | "
        f"{_n(rounds['catch_up_events_per_s'])} events/s ({rounds['catch_up_events']:,} events,"
        f" {rounds['catch_up_seconds']} s) | {_n(trivial)} events/s trivial replay | "
        f"{_pct(rounds['catch_up_events_per_s'], trivial)} | |",
        "",
    ]
    # Every policy the engine ran, in its order (the decide-only pass times each one).
    policies = list(decide["policy_seconds"])
    lines += [
        "Per policy (decide-only pass over everything due; rounds: commands issued until "
        "nothing more was due):",
        "",
        "| policy | due at the clock (decide only) | decide ms (no limit) | issued in the rounds "
        "| decide s over all rounds |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    inst = rounds["instrument"]
    for name in policies:
        lines.append(
            f"| `{name}` | {decide['by_policy'].get(name, 0):,} | "
            f"{decide['policy_seconds'].get(name, 0) * 1000:,.1f} | "
            f"{rounds['by_policy'].get(name, 0):,} | "
            f"{inst['policy_seconds'].get(name, 0):,.2f} |")
    lines += [
        "",
        f"Rounds: {rounds['count']}, of which decide took {rounds['decide_seconds']} s and issuing "
        f"{rounds['issue_seconds']} s; refused {rounds['refused']}, repeated "
        f"{rounds['repeated']}; converged: {'yes' if rounds['converged'] else '**no**'}; still "
        f"due afterwards: {pol['due_after'] or 'nothing'}. Open leads left without an owner: "
        f"{pol['waiting_leads']['unassigned_open']:,}"
        + (f" (team `inbound` at its cap: open leads per rep "
           f"{min(pol['waiting_leads']['team_open_leads'].values(), default=0)}–"
           f"{max(pol['waiting_leads']['team_open_leads'].values(), default=0)}), of which "
           f"{pol['waiting_leads']['unassigned_open_amount_at_least_25000']:,} match the amount "
           f"rule that names a person (no cap)" if pol['waiting_leads']['unassigned_open']
           else "") + ".",
        "",
        f"An idle round (nothing due) at this size takes "
        f"**{pol['idle_round']['seconds_median'] * 1000:,.1f} ms** (median of 5): what the "
        f"engine costs `crm serve` every `CRM_POLICY_INTERVAL_S` when nothing is due, i.e. "
        f"{_idle_share(pol, 1.0):.1%} of a core at 1 s, {_idle_share(pol, 0.2):.1%} at 0.2 s "
        f"(the engine rests at least {_quiet(pol):g}× a quiet round's length). "
        f"Its costliest statements: "
        + "; ".join(f"`{e['policy']}` {e['ms_per_call'] * e['calls']:.1f} ms ({e['calls']} "
                    f"quer{'y' if e['calls'] == 1 else 'ies'})"
                    for e in pol['idle_round']['statements'][:3]) + "."
        + (f" An event-driven round ({', '.join(f'`{n}`' for n in ev['policies'])}: what the "
           f"engine runs when the policy state has applied new events) with nothing due takes "
           f"**{ev['seconds_median'] * 1000:,.1f} ms**; after one, the engine rests "
           f"{ev['quiet_after_round']:g}× as long before the next, so a steady stream of events "
           f"costs it at most {1 / (1 + ev['quiet_after_round']):.0%} of a core when nothing is due."
           if (ev := pol.get('idle_event_round')) else ""),
        "",
        "Slowest statements over all rounds (each policy's SQL, timed where `PolicyState.rows` "
        "runs it):",
        "",
        "| policy | statement | calls | ms / call | total s | rows |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for entry in inst["statements"][:6]:
        sql = entry["sql"]
        short = sql if len(sql) <= 150 else sql[:147] + "…"
        lines.append(f"| `{entry['policy']}` | `{short}` | {entry['calls']:,} | "
                     f"{entry['ms_per_call']} | {entry['seconds']:,.2f} | {entry['rows']:,} |")
    lines.append("")
    return lines


def markdown(results: dict[str, Any]) -> str:
    m, cfg = results["machine"], results["config"]
    code = results["code"]
    lines = [
        "## Automation policies",
        "",
        f"Generated by `.venv/bin/python -m benchmarks.policies` (this section only; "
        f"`--quick` for a small run, `--skip-delay` without the server part). Raw results: "
        f"`{cfg['json']}`. Measured {results['finished_at']}, {results['wall_seconds']:.0f} s "
        f"wall.",
        "",
        "```",
        ".venv/bin/python -m benchmarks.policies                # about 1,000,000 events",
        ".venv/bin/python -m benchmarks.policies --quick        # about 20,000 events, short "
        "load",
        "```",
        "",
        "Options: `--events N`, `--quick`, `--skip-delay`, `--delay-seconds S` (per rate, "
        "default 30), `--rates 50,200`, `--intervals 1,0.2`, `--raw-seconds S`, `--profile FILE`"
        " (cProfile of one decide), `--postgres-url URL` (or `CRM_BENCH_POSTGRES_URL`: part 1 "
        "on PostgreSQL too, fresh schemas dropped afterwards), `--json PATH`, `--no-docs`, "
        "`--render-only`.",
        "",
        f"**Machine:** {m.get('cpu_model')}, {m.get('nproc')} cores, {m.get('memory_gib')} GiB, "
        f"kernel {m.get('kernel')}, Python {m.get('python')}, SQLite {m.get('sqlite3')}, "
        f"eventsourcing {m.get('eventsourcing')}; load average at start "
        f"{', '.join(str(x) for x in results.get('loadavg_start', []))}, at the end "
        f"{', '.join(str(x) for x in results.get('loadavg_end', []))}; one benchmark at a "
        f"time, run under `nice -n 10`: {'yes' if results.get('niceness', 0) >= 10 else 'no'}."
        f" Code `{code.get('commit')}`"
        f"{' plus uncommitted changes under services/' if code.get('services_uncommitted_changes') else ''}.",
        "",
        "### 1. Decisions over a replayed history",
        "",
        "Rules (recorded before the replay): team `inbound` = the 12 reps of the history, "
        f"round-robin, cap {cfg['team_cap']} open leads each, as the default team; `large-deals` "
        "(≥ 25,000 → `key-accounts`); `negotiation-to-closers` (stage negotiation and ≥ 20,000, "
        "reassign to team `closers`); follow-up windows new 3d / contacted 7d / negotiation 5d / "
        "else 14d; SLA first response 1h/4h/24h/72h and resolution 8h/2d/5d/10d by priority "
        "with escalation; approver tiers above 10% and 20%; dormancy after 90 days. The "
        "`ManualClock` is set one second after the history's last business time. Rounds run "
        "in this one thread: `run_once`, then the policy state applies the round's own events "
        "(timed apart), as `crm serve` does between rounds.",
        "",
    ]
    for label, part in results.get("replay_runs", {}).items():
        if "error" in part:
            lines += [f"#### {label}", "", f"Failed: {part['error']}", ""]
            continue
        lines += _replay_markdown(label, part, int(m.get("nproc") or 2))
    delay = results.get("delay")
    nproc = int(m.get("nproc") or 2)
    if delay:
        lines += [
            "### 2. Trigger → command delay under a steady load",
            "",
            "`crm serve` (one process: HTTP API, every projector following the event store, the "
            "policy thread) on a fresh embedded data dir; rules: every new lead round-robin among "
            "12 reps, no cap. Load: lead creations for 100 pre-registered customers, `POST "
            "/v1/leads`, open loop (sent on schedule whatever the answers do) from one asyncio "
            "thread of this process on keep-alive connections (the raw client of "
            "`benchmarks/loadgen.py`), after a short unmeasured warm-up. Afterwards, from the "
            "event store: for each lead, `LeadAssigned.recorded_at` (actor `rule:default-team`) "
            "− `LeadCreated.recorded_at`. The engine re-runs at once while it issued something; "
            "otherwise it runs the event-driven policies as soon as the policy state has applied "
            "new events and every policy each `CRM_POLICY_INTERVAL_S`; the server shares the 2 "
            "cores with the load.",
            "",
            "| interval | load offered | leads accepted/s (errors) | trigger → command p50 | p95 | p99 "
            "| max | not assigned | assigned/s while loaded (backlog at end) | command latency "
            "p50 | p99 | p50 from schedule | server cores (idle) | server CPU ms / lead | "
            "others' cores |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
            "| ---: | ---: | ---: |",
        ]
        for interval_key, part in delay.items():
            if "error" in part:
                lines.append(f"| {interval_key} s | failed: {part['error']} |||||||||||||")
                continue
            for key, run in part["runs"].items():
                d = run["delay"]
                lines.append(
                    f"| {part['interval_s']:g} s | {key}/s | {run['achieved_per_s']:,.0f} "
                    f"({run['errors']}) | "
                    f"**{_n(d['p50_ms'], 1)} ms** | {_n(d['p95_ms'], 1)} ms | "
                    f"**{_n(d['p99_ms'], 1)} ms** | {_n(d['max_ms'], 1)} ms | "
                    f"{d['not_assigned']} | {_n(run['assignments_while_loaded']['per_s'])} "
                    f"({run['assignments_while_loaded']['backlog_at_end']:,}) | "
                    f"{run['latency_ms']['p50']} ms | "
                    f"{run['latency_ms']['p99']} ms | "
                    f"{_n(run['latency_from_schedule_ms']['p50'], 1)} ms | {run['server_cores']} "
                    f"({part.get('idle', {}).get('server_cores')}) | "
                    f"{run.get('server_cpu_ms_per_lead')} | "
                    f"{max(0.0, run['box_busy'] * nproc - run['server_cores'] - run['client_cores']):.2f} |")
        lines += [
            "",
            "Command latency is the lead creation's own (sent → answered): the floor under the "
            "delay, which is that plus the policy state applying the event, the engine's wait "
            "and round, and the assignment command. *p50 from schedule* counts from the moment "
            "the open-loop schedule meant to send (at most 64 requests in flight; more wait in "
            "the client): when it is far above the command latency, the server did not keep "
            "up with the offered load. *Assigned/s while loaded*: rule assignments recorded "
            "between the first and the last lead of the run; the backlog is what was left "
            "for after the load.",
            "",
        ]
    if DIAGNOSIS:
        lines += DIAGNOSIS + [""]
    return "\n".join(lines).rstrip()

