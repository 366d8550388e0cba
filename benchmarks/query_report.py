"""Verdicts, the docs section and the console summary of the query benchmark."""

from __future__ import annotations

from typing import Any

BEGIN = "<!-- query:begin -->"
END = "<!-- query:end -->"

TARGETS = {
    "point_p99_vs_floor": 3.0,
    "analytics_p50_ms": 100.0,
}
POINT_ROUTES = ("customer_360", "timeline", "leads_list", "lead_page", "tickets_list",
                "ticket_page")
ANALYTICS_ROUTES = ("funnel", "funnel_by_source", "retention_purchase", "retention_any")


def _run(results: dict[str, Any], key: str, clients: int) -> dict[str, Any] | None:
    for entry in results.get("http", []):
        if entry["key"] == key and entry["clients"] == clients:
            return dict(entry)
    return None


def floor_key(results: dict[str, Any]) -> str:
    """The route measured as the HTTP floor: `me` (`GET /v1/me`, authenticated) since
    authentication; `health` in results made before it."""
    return "me" if any(e["key"] == "me" for e in results.get("http", [])) else "health"


def auth_cost(results: dict[str, Any]) -> dict[str, Any] | None:
    """What authentication costs per request, from this run: `GET /v1/me` (the key checked,
    no store) less `GET /health` (public, no store), under the same clients."""
    clients = int(results.get("config", {}).get("clients", 32))
    me, health = _run(results, "me", clients), _run(results, "health", clients)
    if not me or not health:
        return None
    me_cpu = me.get("cpu", {}).get("server_cpu_ms_per_request")
    health_cpu = health.get("cpu", {}).get("server_cpu_ms_per_request")
    c360 = _run(results, "customer_360", clients) or {}
    c360_cpu = c360.get("cpu", {}).get("server_cpu_ms_per_request")
    cpu = me_cpu - health_cpu if me_cpu is not None and health_cpu is not None else None
    p50 = (me["latency_ms"]["p50"] - health["latency_ms"]["p50"]
           if me["latency_ms"].get("p50") is not None
           and health["latency_ms"].get("p50") is not None else None)
    return {
        "server_cpu_ms_per_request": round(cpu, 3) if cpu is not None else None,
        "share_of_customer_360": round(cpu / c360_cpu, 3) if cpu is not None and c360_cpu
        else None,
        "me_server_cpu_ms": me_cpu, "health_server_cpu_ms": health_cpu,
        "customer_360_server_cpu_ms": c360_cpu,
        "me_p50_ms": me["latency_ms"].get("p50"), "health_p50_ms": health["latency_ms"].get("p50"),
        "p50_ms": round(p50, 2) if p50 is not None else None,
        "me_requests_per_s": me.get("requests_per_s"),
        "health_requests_per_s": health.get("requests_per_s"),
    }


def auth_cost_sentence(cost: dict[str, Any]) -> str:
    """"authentication costs X ms of server CPU per request (Y% of a customer-360 request)",
    and what it is the difference of."""
    share = cost.get("share_of_customer_360")
    p50 = cost.get("p50_ms")
    return (f"authentication costs {_n(cost.get('server_cpu_ms_per_request'), 3)} ms of server "
            f"CPU per request ({'–' if share is None else f'{share * 100:.0f}%'} of a "
            f"customer-360 request): `GET /v1/me` {_n(cost.get('me_server_cpu_ms'), 3)} ms "
            f"against `GET /health` {_n(cost.get('health_server_cpu_ms'), 3)} ms, in the same "
            f"run under the same clients; p50 latency {_ms(cost.get('me_p50_ms'))} against "
            f"{_ms(cost.get('health_p50_ms'))} ms ({'–' if p50 is None else f'{p50:+.2f}'} ms), "
            f"{_n(cost.get('me_requests_per_s'))} against "
            f"{_n(cost.get('health_requests_per_s'))} requests/s")


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}"
    return str(value)


def _ms(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:,.2f}" if value < 100 else f"{value:,.1f}"


def _other_cores(cpu: dict[str, Any], nproc: Any) -> float | None:
    if cpu.get("box_busy") is None or not nproc or cpu.get("server_cores") is None:
        return None
    return max(0.0, cpu["box_busy"] * nproc - cpu["server_cores"]
               - (cpu.get("loadgen_cores") or 0.0) - (cpu.get("postgres_cores") or 0.0))


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    clients = int(results.get("config", {}).get("clients", 32))
    floor = _run(results, floor_key(results), clients)
    out: list[dict[str, Any]] = []
    floor_p99 = floor["latency_ms"]["p99"] if floor else None
    for key in POINT_ROUTES:
        run = _run(results, key, clients)
        if run is None or not floor_p99:
            continue
        ratio = run["latency_ms"]["p99"] / floor_p99
        out.append({"target": f"{key} p99 ≤ {TARGETS['point_p99_vs_floor']:g} × floor p99 "
                              f"({clients} clients)",
                    "measured": f"{run['latency_ms']['p99']:.1f} ms / {floor_p99:.1f} ms = "
                                f"{ratio:.1f}×",
                    "met": ratio <= TARGETS["point_p99_vs_floor"] and run["errors"] == 0})
    limit = TARGETS["analytics_p50_ms"]
    for key in ANALYTICS_ROUTES:
        for n in sorted({1, clients}):
            run = _run(results, key, n)
            if run is None:
                continue
            p50 = run["latency_ms"]["p50"]
            out.append({"target": f"{key} p50 ≤ {limit:g} ms over HTTP, {n} client(s)",
                        "measured": f"{p50:.1f} ms", "met": p50 <= limit and run["errors"] == 0})
        inproc = results.get("in_process", {}).get(key)
        if inproc:
            p50 = inproc["latency_ms"]["p50"]
            out.append({"target": f"{key} p50 ≤ {limit:g} ms in process (query alone)",
                        "measured": f"{p50:.1f} ms", "met": p50 <= limit})
    return out


def _where_time_goes(results: dict[str, Any]) -> list[str]:
    clients = int(results["config"]["clients"])
    floor = _run(results, floor_key(results), clients)
    health = _run(results, "health", clients)
    lines = []
    if floor and floor_key(results) == "me":
        cpu = floor.get("cpu", {})
        beside = ""
        if health:
            beside = (f"; `GET /health`, no authentication: "
                      f"{_n(health.get('cpu', {}).get('server_cpu_ms_per_request'), 2)} ms at "
                      f"{_n(health['requests_per_s'])} requests/s")
        lines.append(
            f"- The floor: `GET /v1/me` checks the key and touches no store; the server spent "
            f"{_n(cpu.get('server_cpu_ms_per_request'), 2)} ms of CPU per request at "
            f"{_n(floor['requests_per_s'])} requests/s ({_n(cpu.get('server_cores'), 2)} cores of "
            f"one Python process){beside}; with {clients} closed-loop clients the latency is "
            f"mostly queueing: mean latency ≈ {clients} / throughput.")
        cost = auth_cost(results)
        if cost:
            sentence = auth_cost_sentence(cost)
            lines.append(f"- {sentence[0].upper()}{sentence[1:]}. The difference is the key's "
                         "check (its SHA-256 digest against the process's key ring), the "
                         "route's permission check and rate limit, and the principal "
                         "`GET /v1/me` answers; on a busy box it is the difference of two noisy "
                         "figures.")
    elif floor:
        cpu = floor.get("cpu", {})
        lines.append(
            f"- The floor: `GET /health` touches no store; the server spent "
            f"{_n(cpu.get('server_cpu_ms_per_request'), 2)} ms of CPU per request at "
            f"{_n(floor['requests_per_s'])} requests/s ({_n(cpu.get('server_cores'), 2)} cores of "
            f"one Python process); with {clients} closed-loop clients the latency is mostly "
            f"queueing: mean latency ≈ {clients} / throughput.")
    inproc = results.get("in_process", {})
    for key in ("customer_360", "timeline", "list", "leads_list", "lead_page", "tickets_list",
                "ticket_page"):
        run = _run(results, key, clients)
        if not run:
            continue
        cpu = run.get("cpu", {})
        alone = inproc.get(key, {}).get("latency_ms", {}).get("p50")
        extra = (f"; the read functions alone take {_ms(alone)} ms p50 in process"
                 if alone is not None else "")
        lines.append(
            f"- {key}: {_n(cpu.get('server_cpu_ms_per_request'), 2)} ms of server CPU per "
            f"request ({_n(run['requests_per_s'])} requests/s, "
            f"{_n(run.get('mean_response_bytes'))} bytes per answer){extra}.")
    for key in (*ANALYTICS_ROUTES, "service"):
        run1, run = _run(results, key, 1), _run(results, key, clients)
        alone = inproc.get(key, {}).get("latency_ms", {}).get("p50")
        if run is None:
            continue
        lines.append(
            f"- {key}: the query alone {_ms(alone)} ms p50 in process; over HTTP "
            f"{_ms(run1['latency_ms']['p50']) if run1 else '–'} ms p50 with one client, "
            f"{_ms(run['latency_ms']['p50'])} ms p50 with {clients} "
            f"({_n(run['requests_per_s'], 1)} requests/s, "
            f"{_n(run.get('cpu', {}).get('server_cpu_ms_per_request'), 1)} ms server CPU "
            f"per request, {_n(run.get('cpu', {}).get('server_cores'), 2)} server cores).")
    if any(_run(results, key, clients) for key in ANALYTICS_ROUTES):
        lines.append(
            f"- With {clients} closed-loop clients an analytics route's p50 is mostly queueing "
            f"(≈ {clients} / throughput): the server answers one query per DuckDB execution "
            "on 2 shared cores; the one-client and in-process rows are the query's own latency.")
    return lines


def markdown(results: dict[str, Any]) -> str:
    config, machine = results["config"], results["machine"]
    generate, rebuilt = results.get("generate", {}), results.get("rebuild", {})
    clients = int(config["clients"])
    lines = [
        "## Query API",
        "",
        "Generated by `.venv/bin/python -m benchmarks.query` (this section only). Raw results: "
        "`benchmarks/results/query.json`.",
        "",
        "```",
        ".venv/bin/python -m benchmarks.query                        # 100,000 customers, "
        "about 1.1 million events",
        ".venv/bin/python -m benchmarks.query --customers 5000       # a quick run",
        ".venv/bin/python -m benchmarks.query --postgres             # events and SQL read "
        "models in PostgreSQL",
        "```",
        "",
        "Options: `--clients N` (32), `--seconds S` (window per route, 15), `--warmup S` (3), "
        "`--single-seconds S` (one-client runs, 8), `--seed`, `--explain` (DuckDB EXPLAIN "
        "ANALYZE of the analytics statements into the JSON), `--no-docs`, `--render-only`. "
        "The server, PostgreSQL and temp dirs are removed even on Ctrl-C.",
        "",
        f"**Run:** {_n(generate.get('customers'))} customers, {_n(generate.get('events'))} "
        f"events (`{config.get('generator', 'services.command.bulk')}`, two years of business time ending at the run, seed "
        f"{config['seed']}; generated at {_n(generate.get('events_per_s'))} events/s); event "
        f"store {config['event_store']}; customer-360, timeline and lifecycle in "
        f"{config['sql_read_models']}, funnel, retention and service in a DuckDB file; all six "
        f"built in one pass from the store in {_n(rebuilt.get('seconds'), 1)} s "
        f"({_n(rebuilt.get('events_per_s'))} events/s). Server: `crm query-api` (one uvicorn "
        f"process; its projectors follow the store, idle during the run). Clients: "
        f"`benchmarks.query_load`, its own process, {clients} closed-loop keep-alive "
        f"connections"
        + (f", every request with an API key issued for the run once the server was up "
           f"(`Authorization: Bearer <key>`, subject `{config['auth'].get('subject', 'bench')}`, "
           f"role `{', '.join(config['auth'].get('roles', ['admin']))}`)"
           if config.get("auth") else "")
        + f"; {config['warmup']:g} s warm-up then {config['seconds']:g} s per route; "
        f"customer ids drawn at random from {_n(config.get('sampled_customer_ids'))}. Machine: "
        f"{machine.get('cpu_model')}, {machine.get('nproc')} cores shared by server, clients "
        f"and database; load average at start "
        f"{', '.join(f'{x:.2f}' for x in machine.get('load_average_at_start', []))}"
        + ("; other benchmarks running at start: "
           + "; ".join(f"`{c}`" for c in machine["other_benchmarks_at_start"])
           if machine.get("other_benchmarks_at_start") else "; no other benchmark running")
        + f". Date {machine.get('date')}.",
        "",
    ]
    if results.get("error"):
        lines += [f"**The run failed:** {results['error']}", ""]
    rows = rebuilt.get("rows")
    if rows:
        lines += ["Rows in the read models: " + ", ".join(f"`{k}` {_n(v)}"
                                                          for k, v in rows.items()) + ".", ""]
    floor = _run(results, floor_key(results), clients)
    floor_p99 = floor["latency_ms"]["p99"] if floor else None
    lines += [
        f"### Over HTTP, {clients} concurrent clients",
        "",
        "| route | requests/s | p50 ms | p90 ms | p99 ms | errors | p99 / floor p99 | "
        "server CPU ms / request | server cores | box busy | other processes (cores) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for entry in results.get("http", []):
        if entry["clients"] != clients:
            continue
        lat, cpu = entry["latency_ms"], entry.get("cpu", {})
        ratio = (f"{lat['p99'] / floor_p99:.1f}×" if floor_p99 and entry["key"] in
                 (*POINT_ROUTES, "list") else "")
        label = f"**{entry['label']}**" if entry["key"] == floor_key(results) else entry["label"]
        lines.append(
            f"| {label} | {_n(entry['requests_per_s'])} | {_ms(lat['p50'])} | "
            f"{_ms(lat['p90'])} | {_ms(lat['p99'])} | {entry['errors']} | {ratio} | "
            f"{_n(cpu.get('server_cpu_ms_per_request'), 2)} | "
            f"{_n(cpu.get('server_cores'), 2)} | "
            f"{_n(100 * cpu['box_busy'] if cpu.get('box_busy') is not None else None)}% | "
            f"{_n(_other_cores(cpu, machine.get('nproc')), 2)} |")
    lines += ["", "CPU columns are CPU-seconds per second of the measured window; *other "
              "processes* is the box's busy time minus server, load generator and database: "
              "work of anything else on the machine during that window."]
    singles = [e for e in results.get("http", []) if e["clients"] == 1 and clients != 1]
    if singles:
        lines += [
            "",
            "### Analytics over HTTP, one client (latency without queueing)",
            "",
            "| route | requests/s | p50 ms | p90 ms | p99 ms | errors | server CPU ms / request "
            "| server cores |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for entry in singles:
            lat, cpu = entry["latency_ms"], entry.get("cpu", {})
            lines.append(
                f"| {entry['label']} | {_n(entry['requests_per_s'], 1)} | {_ms(lat['p50'])} | "
                f"{_ms(lat['p90'])} | {_ms(lat['p99'])} | {entry['errors']} | "
                f"{_n(cpu.get('server_cpu_ms_per_request'), 1)} | "
                f"{_n(cpu.get('server_cores'), 2)} |")
    inproc = results.get("in_process", {})
    if inproc:
        lines += [
            "",
            "### In process, no HTTP (one thread, the read functions the routes call)",
            "",
            "| read function | runs | p50 ms | p99 ms | min ms |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        names = {"customer_360": "`read_customer_360` + `read_timeline(limit=20)`",
                 "timeline": "`read_timeline(limit=50)`",
                 "funnel": "`queries.funnel`", "funnel_by_source": "`queries.funnel(group_by="
                 "'source')`", "retention_purchase": "`queries.retention('purchase')`",
                 "retention_any": "`queries.retention('any')`", "service": "`queries.service`"}
        if config.get("generator"):  # measured since the read functions moved to `reads`
            names.update({"funnel": "`read_funnel`",
                          "funnel_by_source": "`read_funnel(group_by='source')`",
                          "retention_purchase": "`read_retention(activity='purchase')`",
                          "retention_any": "`read_retention(activity='any')`",
                          "service": "`read_service`"})
        for key, entry in inproc.items():
            lat = entry["latency_ms"]
            lines.append(f"| {names.get(key, key)} | {entry['repetitions']} | {_ms(lat['p50'])} "
                         f"| {_ms(lat['p99'])} | {_ms(entry.get('min_ms'))} |")
    found = results.get("verdicts") or verdicts(results)
    if found:
        lines += ["", "### Targets", "", "| target | measured | |", "| --- | --- | --- |"]
        for verdict in found:
            lines.append(f"| {verdict['target']} | {verdict['measured']} | "
                         f"**{'met' if verdict['met'] else 'missed'}** |")
    if results.get("http"):
        lines += ["", "### Where the time goes (this run)", "", *_where_time_goes(results)]
    lines += ["", *DIAGNOSIS]
    return "\n".join(lines)


DIAGNOSIS = [
    "### Diagnosis (profiled apart from the runs above, 2026-11-22)",
    "",
    "- **customer-360, timeline:** the read functions take 0.1–0.2 ms; the rest of the 1.7–2.6 "
    "ms of server CPU per request is the framework. The routes and their dependencies "
    "(`_read_models`, `_tenant`, `consistent(...)` in `services/query/api/deps.py`) are plain "
    "`def`, so FastAPI runs each in the thread pool: four thread hops per request, with 32 "
    "requests in flight contending for the GIL and for the SQLite store's one reader "
    "connection. `py-spy --gil` on the server (5,000 customers, 32 clients): 32% of GIL time in "
    "`anyio.to_thread.run_sync` (20% in `Queue.put` waking a worker), 42% in "
    "`solve_dependencies`, 11% in the route itself. Making the three dependencies `async def` "
    "(the blocking `wait_for` moved into `run_in_threadpool`, and only when `min_position` is "
    "ahead) took customer-360 from 439 to 760 requests/s (p99 148 → 114 ms); making the two "
    "point routes `async def` as well: 1,352 requests/s, p99 46 ms against a floor p99 of "
    "9.3 ms (5×). The rest is FastAPI's parameter solving (29%), the pydantic response model "
    "(validate + serialise, 8%) and uvicorn's send (14%).",
    "- **list with region + owner:** 62–68 ms of server CPU per request. SQLite uses the "
    "`(tenant_id, region)` index (25,000 EMEA rows), then sorts the 2,082 matches *with their "
    "`doc` column* (1.2 kB each) and evaluates the lifecycle-stage subquery for every match, "
    "not just the 50 returned. Selecting the page's ids and sort keys first and fetching `doc` "
    "and the stage only for the page (same rows, same order) takes the statement from 51 to 31 "
    "ms; with an index `(tenant_id, owner, region, created_at, id)` on `customer_360`, to 2 ms.",
    "- **funnel, retention:** the DuckDB statements take 17–33 ms alone over 1.1 M events "
    "(65,000 leads, 234,000 stage stays, 200,000 activity rows); the retention cohorts are a "
    "hash aggregate joined back (formerly a window over 100,000 partitions: 1.6× slower). With "
    "32 clients each request waits for the ones before it: DuckDB already uses both cores, so "
    "the p50 there is ≈ 32 × the per-query cost / 2 cores.",
]


def console(results: dict[str, Any]) -> str:
    lines = []
    if results.get("error"):
        lines.append(f"ERROR: {results['error']}")
    generate = results.get("generate", {})
    lines.append(f"{_n(generate.get('customers'))} customers, {_n(generate.get('events'))} "
                 f"events; rebuild {_n(results.get('rebuild', {}).get('seconds'), 1)} s")
    for entry in results.get("http", []):
        lat = entry["latency_ms"]
        lines.append(f"{entry['key']:20s} {entry['clients']:3d} clients "
                     f"{_n(entry['requests_per_s'], 1):>9s} req/s  p50 {_ms(lat['p50']):>8s}  "
                     f"p99 {_ms(lat['p99']):>8s} ms  errors {entry['errors']}")
    for key, entry in results.get("in_process", {}).items():
        lines.append(f"in process {key:20s} p50 {_ms(entry['latency_ms']['p50'])} ms")
    cost = auth_cost(results)
    if cost:
        lines.append(auth_cost_sentence(cost))
    for verdict in results.get("verdicts", []):
        lines.append(f"{'met   ' if verdict['met'] else 'MISSED'} {verdict['target']}: "
                     f"{verdict['measured']}")
    return "\n".join(lines)
