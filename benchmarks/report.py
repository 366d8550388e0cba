"""Console table and docs/BENCHMARKS.md, both rendered from the results JSON."""

from __future__ import annotations

from typing import Any

TARGET_RATIO = 0.75
TARGET_P99_MS = 50.0
MIXES = (("tag", "tag a customer (1 event)"), ("interaction", "log an interaction (2 events)"))


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and digits == 0:
        return f"{value:,.0f}"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return str(value)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def verdict(backend: dict[str, Any], mix: str) -> dict[str, Any]:
    """Ours / raw and whether the targets are met, for one mix."""
    http = backend.get("http", {}).get(mix)
    raw_limit = backend.get("raw_limit_events_per_s")
    if not http or not raw_limit:
        return {"ratio": None, "ratio_met": None, "p99_met": None}
    ratio = http["commands_per_s"] / raw_limit
    p99 = http["latency_ms"]["p99"]
    return {
        "ratio": round(ratio, 3),
        "ratio_met": ratio >= TARGET_RATIO,
        "p99_met": p99 is not None and p99 <= TARGET_P99_MS,
        "errors_ok": http["errors"] == 0,
    }


def _authenticated_floor(backend: dict[str, Any]) -> bool:
    """Whether the run's HTTP floor is `GET /v1/me` (authenticated); results made before
    authentication have `GET /health` as their floor and nothing beside it."""
    return bool(backend.get("http_floor")) and backend["http_floor"].get("mix") == "me"


def auth_cost(backend: dict[str, Any]) -> dict[str, Any] | None:
    """What authentication costs per request, from this run: `GET /v1/me` (the key checked,
    no store) less `GET /health` (public, no store), measured under the same clients."""
    me, health = backend.get("http_floor"), backend.get("http_floor_health")
    if not me or not health or not _authenticated_floor(backend):
        return None
    me_cpu = me.get("cpu", {}).get("server_cpu_ms_per_command")
    health_cpu = health.get("cpu", {}).get("server_cpu_ms_per_command")
    tag = backend.get("http", {}).get("tag") or {}
    tag_cpu = tag.get("cpu", {}).get("server_cpu_ms_per_command")
    cpu = me_cpu - health_cpu if me_cpu is not None and health_cpu is not None else None

    def latency(key: str) -> float | None:
        a, b = me["latency_ms"].get(key), health["latency_ms"].get(key)
        return round(a - b, 2) if a is not None and b is not None else None

    return {
        "server_cpu_ms_per_request": round(cpu, 3) if cpu is not None else None,
        "share_of_tag_command": round(cpu / tag_cpu, 3) if cpu is not None and tag_cpu
        else None,
        "me_server_cpu_ms": me_cpu, "health_server_cpu_ms": health_cpu,
        "tag_server_cpu_ms": tag_cpu,
        "me_p50_ms": me["latency_ms"].get("p50"), "health_p50_ms": health["latency_ms"].get("p50"),
        "p50_ms": latency("p50"), "p99_ms": latency("p99"),
        "me_requests_per_s": me.get("commands_per_s"),
        "health_requests_per_s": health.get("commands_per_s"),
    }


def _signed(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


def auth_cost_sentence(cost: dict[str, Any]) -> str:
    """"authentication costs X ms of server CPU per request (Y% of a tag command)", and what
    it is the difference of."""
    cpu = cost.get("server_cpu_ms_per_request")
    return (f"authentication costs {_num(cpu, 3)} ms of server CPU per request "
            f"({_pct(cost.get('share_of_tag_command'))} of a tag command): `GET /v1/me` "
            f"{_num(cost.get('me_server_cpu_ms'), 3)} ms against `GET /health` "
            f"{_num(cost.get('health_server_cpu_ms'), 3)} ms, in the same run under the same "
            f"clients; p50 latency {_num(cost.get('me_p50_ms'), 2)} against "
            f"{_num(cost.get('health_p50_ms'), 2)} ms ({_signed(cost.get('p50_ms'), 2)} ms), "
            f"{_num(cost.get('me_requests_per_s'))} against "
            f"{_num(cost.get('health_requests_per_s'))} requests/s")


def _where_time_goes(backend: dict[str, Any]) -> str:
    """A data-driven paragraph: per-command cost of each layer, from this run's figures."""
    raw1 = next((r for r in backend.get("raw", []) if r["threads"] == 1), None)
    svc = {r["threads"]: r for r in backend.get("service_layer", [])}
    tag = backend.get("http", {}).get("tag")
    parts = []
    if raw1 and raw1["events_per_s"]:
        parts.append(f"one raw append takes {1000 / raw1['events_per_s']:.2f} ms "
                     f"({_num(raw1['events_per_s'])}/s on one thread)")
    one = svc.get(1)
    if one and one["commands_per_s"]:
        parts.append(f"one tag command through our service, in-process on one thread, "
                     f"{1000 / one['commands_per_s']:.2f} ms ({_num(one['commands_per_s'])}/s: "
                     "load by replay + decide + save)")
    many = [r for t, r in svc.items() if t != 1]
    if many and many[0]["commands_per_s"]:
        parts.append(f"with {many[0]['threads']} threads in one process the service did "
                     f"{_num(many[0]['commands_per_s'])}/s")
    if tag and tag.get("cpu", {}).get("server_cpu_ms_per_command") is not None:
        cpu = tag["cpu"]
        parts.append(f"over HTTP the server process spent {cpu['server_cpu_ms_per_command']:.2f} "
                     f"ms of CPU per tag command and ran at {cpu['server_cores']:.2f} cores "
                     f"(one Python process: about one core is its ceiling), while the whole box "
                     f"was {_pct(cpu.get('box_busy'))} busy")
    floor = backend.get("http_floor")
    health = backend.get("http_floor_health")
    if _authenticated_floor(backend) and floor.get("cpu", {}).get(
            "server_cpu_ms_per_command") is not None:
        beside = ""
        if health and health.get("cpu", {}).get("server_cpu_ms_per_command") is not None:
            beside = (f" (`GET /health`, no authentication: "
                      f"{health['cpu']['server_cpu_ms_per_command']:.2f} ms, "
                      f"{_num(health['commands_per_s'])} requests/s)")
        parts.append(f"a `GET /v1/me` that checks the key and touches no store cost the server "
                     f"{floor['cpu']['server_cpu_ms_per_command']:.2f} ms of CPU and peaked at "
                     f"{_num(floor['commands_per_s'])} requests/s: the ceiling of this HTTP "
                     f"stack, authenticated, in one process on this box{beside}")
    elif floor and floor.get("cpu", {}).get("server_cpu_ms_per_command") is not None:
        parts.append(f"a `GET /health` that touches no store cost the server "
                     f"{floor['cpu']['server_cpu_ms_per_command']:.2f} ms of CPU and peaked at "
                     f"{_num(floor['commands_per_s'])} requests/s: the ceiling of this HTTP stack "
                     "in one process on this box")
    if not parts:
        return ""
    return "Where the time goes (this run): " + "; ".join(parts) + "."


def _yes_no(flag: bool | None) -> str:
    return "–" if flag is None else ("**met**" if flag else "**missed**")


def console_table(results: dict[str, Any]) -> str:
    lines = []
    head = (f"{'backend':<10} {'measurement':<38} {'cmd/s':>8} {'events/s':>9} {'p50 ms':>8} "
            f"{'p90 ms':>8} {'p99 ms':>8} {'errors':>6} {'ours/raw':>8}")
    lines.append(head)
    lines.append("-" * len(head))
    for name, backend in results["backends"].items():
        if backend.get("error"):
            lines.append(f"{name:<10} FAILED: {backend['error']}")
            continue
        for run in backend.get("raw", []):
            lat = run["latency_ms"]
            lines.append(
                f"{name:<10} {'raw library, ' + str(run['threads']) + ' thread(s)':<38} "
                f"{_num(run['events_per_s']):>8} {_num(run['events_per_s']):>9} "
                f"{_num(lat['p50'], 2):>8} {_num(lat['p90'], 2):>8} {_num(lat['p99'], 2):>8} "
                f"{run['errors']:>6} {'':>8}")
        for run in backend.get("service_layer", []):
            lat = run["latency_ms"]
            lines.append(
                f"{name:<10} {'service in-process (tag), ' + str(run['threads']) + ' thr':<38} "
                f"{_num(run['commands_per_s']):>8} {_num(run['commands_per_s']):>9} "
                f"{_num(lat['p50'], 2):>8} {_num(lat['p90'], 2):>8} {_num(lat['p99'], 2):>8} "
                f"{run['errors']:>6} {'':>8}")
        floors = [(backend.get("http_floor"), "HTTP floor: GET /health (no store)")]
        if _authenticated_floor(backend):
            floors = [(backend.get("http_floor"), "HTTP floor: GET /v1/me (auth, no store)"),
                      (backend.get("http_floor_health"), "GET /health (no auth, no store)")]
        for floor, label in floors:
            if not floor:
                continue
            lat = floor["latency_ms"]
            lines.append(
                f"{name:<10} {label:<38} "
                f"{_num(floor['commands_per_s']):>8} {'–':>9} {_num(lat['p50'], 2):>8} "
                f"{_num(lat['p90'], 2):>8} {_num(lat['p99'], 2):>8} {floor['errors']:>6} {'':>8}")
        for mix, label in MIXES:
            run = backend.get("http", {}).get(mix)
            if not run:
                continue
            lat = run["latency_ms"]
            lines.append(
                f"{name:<10} {'HTTP ' + label:<38} {_num(run['commands_per_s']):>8} "
                f"{_num(run['events_per_s']):>9} {_num(lat['p50'], 2):>8} {_num(lat['p90'], 2):>8} "
                f"{_num(lat['p99'], 2):>8} {run['errors']:>6} "
                f"{_pct(verdict(backend, mix)['ratio']):>8}")
        cost = auth_cost(backend)
        if cost:
            lines.append(f"{name:<10} {auth_cost_sentence(cost)}")
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    cfg = results["config"]
    authenticated = bool(cfg.get("auth"))  # results made before authentication: no "auth"
    out: list[str] = []
    add = out.append
    add("# Benchmarks")
    add("")
    add("Generated by `.venv/bin/python -m benchmarks.command_path` — do not edit by hand; run it "
        "again. Raw results: `benchmarks/results/command_path.json`. DESIGN.md §10: figures are "
        "quoted beside the raw limit of the part underneath, measured in the same run, never "
        "asserted in tests.")
    add("")
    add("## How to run")
    add("")
    add("```")
    add(".venv/bin/python -m benchmarks.command_path            # both backends, 15 s per measurement")
    add(".venv/bin/python -m benchmarks.command_path --seconds 5 --backends sqlite")
    add(".venv/bin/python -m benchmarks.command_path --backends postgres --postgres-url postgresql://u:p@127.0.0.1:5432/db")
    add("```")
    add("")
    add("Options: `--seconds N` per measurement (default 15, after a short unmeasured warm-up), "
        "`--clients` (default 16), `--backends sqlite,postgres`, `--postgres-url` (use an "
        "existing server: fresh schemas are created and dropped again; otherwise a private "
        "PostgreSQL 15 cluster with **fsync on** is started in a temp dir and removed), "
        "`--loadgen auto|raw|httpx`, `--skip-service-layer`, `--no-docs`, `--render-only` (rewrite this page from the JSON without measuring). Everything binds to "
        "127.0.0.1; the server, the load generator and PostgreSQL are stopped even on Ctrl-C.")
    add("")
    add("## What is measured")
    add("")
    add("For each backend (SQLite file in WAL mode in a temp dir; PostgreSQL with fsync on and a "
        "fresh schema), in one run:")
    add("")
    add("1. **Raw library limit** — single-event appends through `eventsourcing` itself: a plain "
        "`Application` with a tiny `Aggregate` (`benchmarks/raw_model.py`), configured with the "
        "persistence environment `Settings.event_store_env()` produces, but its own SQLite file / "
        "PostgreSQL schema. Each thread owns one aggregate and loops `bump(); app.save(agg)`: "
        "every save is one transaction with one new event. With 1 and with "
        f"{cfg['clients']} threads; the higher rate is the **raw limit**.")
    add("2. **Our HTTP command path** — the real server (`crm command-api`, uvicorn, one process) "
        f"as a subprocess; {cfg['clients']} concurrent keep-alive clients, each with its own "
        "customer(s), loop for the measured time:")
    add("   - *tag*: `POST /v1/customers/{id}/tags {\"tag\": \"t<n>\"}` "
        + ("with `Authorization: Bearer <key>` (an API key issued for the run once the server "
           f"is up: subject `{cfg['auth'].get('subject', 'bench')}`, role "
           f"`{', '.join(cfg['auth'].get('roles', ['admin']))}`; every request of the run "
           "carries it) — " if authenticated else "with `X-Actor: bench` — ")
        + "loads the customer (replaying its events), writes exactly one event. A customer holds "
        "at most 100 tags (domain rule `MAX_TAGS`), so each client walks through its own pool of "
        "customers registered beforehand, 100 tags each; a customer's history is therefore "
        "1–101 events long (about 50 on average) when it is loaded.")
    add("   - *interaction*: `POST /v1/customers/{id}/interactions {\"channel\": \"note\"}` — "
        "reads the customer's first and last event, writes 2 events (the interaction and a "
        "link on the customer) in one transaction. One customer per client.")
    add("   Any non-2xx answer (or transport failure) is counted as an error.")
    add("3. **Diagnostics**, to split where the time goes: "
        + ("`GET /v1/me` under the same clients — the cheapest authenticated route (it answers "
           "the key's principal, no store): the **HTTP floor**, the ceiling of the HTTP stack "
           "with authentication; beside it `GET /health` (public: no key checked, no store), "
           "so that the difference in server CPU per request between the two, measured in the "
           "same run, is the cost of authentication; " if authenticated else
           "`GET /health` under the same clients (the HTTP stack with no store: its ceiling), ")
        + "and the **service in-process** — "
        "the same tag command called on `CommandService` directly from 1 and "
        f"{cfg['clients']} threads, no HTTP, on a store of its own; it separates the cost of "
        "loading/deciding from the cost of the HTTP stack.")
    add("")
    add(f"Targets (from the issue): our HTTP command path reaches at least "
        f"{TARGET_RATIO:.0%} of the library's raw single-event append rate, with p99 ≤ "
        f"{TARGET_P99_MS:.0f} ms. The ratio is our commands/s on the single-event *tag* mix ÷ "
        "the raw limit; for the 2-event mix the same ratio (one transaction per command) is "
        "shown for information.")
    add("")
    lg = results.get("loadgen", {})
    add("**Load generator.** It runs as its own process and **shares the "
        f"{m['nproc']} cores with the server** (and with PostgreSQL), so every figure below "
        "includes the load generator's CPU use; the tables show how much CPU each party used.")
    cal = lg.get("calibration")
    if cal:
        parts = []
        for impl in ("raw", "httpx"):
            c = cal.get(impl)
            if c:
                parts.append(f"`{impl}` {c['loadgen_cpu_ms_per_request']:.2f} ms CPU per request "
                             f"({_num(c['commands_per_s'])} commands/s)")
        add(f"Two clients were measured against the same server (interaction mix, "
            f"{cal['seconds']:.0f} s each): {'; '.join(parts)}. `raw` is a minimal HTTP/1.1 "
            "keep-alive client on asyncio streams (`benchmarks/loadgen.py`), `httpx` is "
            f"`httpx.AsyncClient` with keep-alive. The lighter one, **`{lg['impl']}`**, "
            "generated the load.")
    else:
        add(f"Client used: `{lg.get('impl')}` (chosen on the command line, no calibration run).")
    add("")
    add("## Machine")
    add("")
    add("| | |")
    add("| --- | --- |")
    for key, label in (("date", "date (UTC)"), ("cpu_model", "CPU"), ("nproc", "nproc"),
                       ("memory_gib", "memory (GiB)"), ("kernel", "kernel"),
                       ("python", "Python"), ("eventsourcing", "eventsourcing"),
                       ("fastapi", "FastAPI"), ("uvicorn", "uvicorn"), ("pydantic", "pydantic"),
                       ("psycopg", "psycopg"), ("sqlite3", "SQLite"),
                       ("postgresql_server_version", "PostgreSQL server")):
        add(f"| {label} | {m.get(key) if m.get(key) is not None else '–'} |")
    add("")
    code = results.get("code") or {}
    if code.get("commit"):
        dirty = code.get("services_uncommitted_changes")
        add(f"Code measured: commit `{code['commit']}`"
            + (" plus uncommitted changes under services/" if dirty else "") + ".")
        add("")
    add(f"Run: {cfg['seconds']:g} s per measurement after {cfg['warmup']:g} s warm-up, "
        f"{cfg['clients']} clients / threads, total wall time {results.get('wall_seconds', 0):.0f} s.")
    add("")
    for name, backend in results["backends"].items():
        add(f"## {backend.get('title', name)}")
        add("")
        if backend.get("error"):
            add(f"**The run failed:** `{backend['error']}`")
            add("")
            continue
        if backend.get("store_notes"):
            add(backend["store_notes"])
            add("")
        add("| measurement | commands/s | events/s | p50 ms | p90 ms | p99 ms | errors | ours/raw |")
        add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for run in backend.get("raw", []):
            lat = run["latency_ms"]
            add(f"| raw library appends, {run['threads']} thread(s) | – | "
                f"{_num(run['events_per_s'])} | {_num(lat['p50'], 2)} | {_num(lat['p90'], 2)} | "
                f"{_num(lat['p99'], 2)} | {run['errors']} | |")
        add(f"| **raw limit** | | **{_num(backend.get('raw_limit_events_per_s'))}** | | | | | |")
        for mix, label in MIXES:
            run = backend.get("http", {}).get(mix)
            if not run:
                continue
            lat = run["latency_ms"]
            v = verdict(backend, mix)
            add(f"| **HTTP: {label}** | **{_num(run['commands_per_s'])}** | "
                f"{_num(run['events_per_s'])} | {_num(lat['p50'], 2)} | {_num(lat['p90'], 2)} | "
                f"**{_num(lat['p99'], 2)}** | {run['errors']} | **{_pct(v['ratio'])}** |")
        floors = [(backend.get("http_floor"), "HTTP floor: `GET /health`, no store (diagnostic)")]
        if _authenticated_floor(backend):
            floors = [(backend.get("http_floor"),
                       "HTTP floor: `GET /v1/me`, authenticated, no store (diagnostic)"),
                      (backend.get("http_floor_health"),
                       "`GET /health`, no authentication, no store (diagnostic)")]
        for floor, label in floors:
            if not floor:
                continue
            lat = floor["latency_ms"]
            add(f"| {label} | "
                f"{_num(floor['commands_per_s'])} | – | {_num(lat['p50'], 2)} | "
                f"{_num(lat['p90'], 2)} | {_num(lat['p99'], 2)} | {floor['errors']} | |")
        for run in backend.get("service_layer", []):
            lat = run["latency_ms"]
            add(f"| service in-process, tag, {run['threads']} thread(s) (diagnostic) | "
                f"{_num(run['commands_per_s'])} | {_num(run['commands_per_s'])} | "
                f"{_num(lat['p50'], 2)} | {_num(lat['p90'], 2)} | {_num(lat['p99'], 2)} | "
                f"{run['errors']} | |")
        add("")
        tag = verdict(backend, "tag")
        tag_run = backend.get("http", {}).get("tag")
        if tag_run:
            add(f"Targets on the single-event mix: ours/raw = {_pct(tag['ratio'])} "
                f"(target ≥ {TARGET_RATIO:.0%}): {_yes_no(tag['ratio_met'])}; "
                f"p99 = {_num(tag_run['latency_ms']['p99'], 1)} ms (target ≤ "
                f"{TARGET_P99_MS:.0f} ms): {_yes_no(tag['p99_met'])}; errors: "
                f"{tag_run['errors']}.")
            floor = backend.get("http_floor")
            raw_limit = backend.get("raw_limit_events_per_s") or 0
            if floor and floor["commands_per_s"] < TARGET_RATIO * raw_limit:
                add(f"The throughput target ({_num(TARGET_RATIO * raw_limit)} commands/s) is above "
                    f"what this HTTP stack served for a request that touches no store at all "
                    f"({_num(floor['commands_per_s'])} requests/s of "
                    f"`{'GET /v1/me' if _authenticated_floor(backend) else 'GET /health'}`): in one "
                    "server process on this box it cannot be met by tuning the command code "
                    "alone.")
            add("")
        add("CPU used during each HTTP measurement (CPU-seconds per second of wall time; "
            f"the box has {m['nproc']} cores):")
        add("")
        add("| mix | server process | load generator | PostgreSQL | whole box busy | "
            "server CPU ms / request |")
        add("| --- | ---: | ---: | ---: | ---: | ---: |")
        floor_rows = [("GET /health", backend.get("http_floor"))]
        if _authenticated_floor(backend):
            floor_rows = [("GET /v1/me", backend.get("http_floor")),
                          ("GET /health", backend.get("http_floor_health"))]
        for mix, run in [*((mix, backend.get("http", {}).get(mix)) for mix, _ in MIXES),
                         *floor_rows]:
            if not run:
                continue
            cpu = run.get("cpu", {})
            add(f"| {mix} | {_num(cpu.get('server_cores'), 2)} | "
                f"{_num(cpu.get('loadgen_cores'), 2)} | {_num(cpu.get('postgres_cores'), 2)} | "
                f"{_pct(cpu.get('box_busy'))} | {_num(cpu.get('server_cpu_ms_per_command'), 2)} |")
        add("")
        cost = auth_cost(backend)
        if cost:
            sentence = auth_cost_sentence(cost)
            add(sentence[0].upper() + sentence[1:] + ". The difference is the key's check (its SHA-256 digest against the "
                "process's key ring, which reads the store's new key events at most once a "
                "second), the route's permission check and rate limit, and the principal "
                "`GET /v1/me` answers; on a busy box it is the difference of two noisy figures.")
            add("")
        add(_where_time_goes(backend))
        add("")
        sizes = backend.get("event_bytes")
        if sizes:
            add(f"Average stored event size: ours {_num(sizes.get('ours'))} bytes, raw benchmark "
                f"event {_num(sizes.get('raw'))} bytes.")
            add("")
    add("## Reading the figures")
    add("")
    add("- The raw limit has no HTTP, no request validation and no aggregate loading: each save "
        "appends to an aggregate already in memory. Our command path loads the customer from "
        "the store on every command (the tag command replays its whole history), validates "
        "the request, and runs inside one Python process whose event loop and worker threads "
        "share one GIL, on cores it shares with the load generator.")
    add("- PostgreSQL's write path takes `LOCK TABLE … IN EXCLUSIVE MODE` in every write "
        "transaction (see shared/LIBRARY-FACTS.md), so writers are serialised and each "
        "commit waits for its own WAL flush; more threads do not raise the raw rate much.")
    add(f"- The clients are closed-loop: each sends its next command when the last one is "
        f"answered, so mean latency ≈ {cfg['clients']} / throughput (Little's law). A p99 of "
        f"{TARGET_P99_MS:.0f} ms with {cfg['clients']} clients therefore needs well over "
        f"{cfg['clients'] / (TARGET_P99_MS / 1000):,.0f} commands/s; the two targets are "
        "linked.")
    add("- Latencies are measured by the load generator from sending a request to reading the "
        "whole answer; throughput counts answers to requests sent inside the measured window.")
    add("")
    return "\n".join(out)
