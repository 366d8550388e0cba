"""The web app's first load and a board move, in Debian's Chromium against `crm serve --demo`,
beside the raw floor measured in the same run.

    .venv/bin/python -m benchmarks.web [--loads 5] [--moves 20] [--no-docs]     (~3 min)

Needs the built app (services/web/dist; nothing is built here), Chromium at /usr/bin/chromium
and Playwright for Python. In one run:
1. the JavaScript and CSS the first page needs, from the build: the entry chunk of
   dist/index.html, the chunks it imports statically (and any modulepreload), and its CSS —
   each gzipped at level 9 as `vite build` reports it — against the 300 kB budget; the chunks
   loaded later (`import()`) are listed apart;
2. `crm serve --demo` (the sample data, one account per role) on a free port with a data dir
   of its own; rep-1's session cookie is taken once by signing in;
3. cold-cache first loads of My day and of a customer page of rep-1, each in a fresh browser
   context (an empty cache) that carries only the cookie: **time to interactive** = from
   navigation start until the page's data is shown (a MutationObserver sees the page's
   data element) and the main thread is idle — the end of the last long task (> 50 ms, from a
   `longtask` PerformanceObserver) before a quiet window of 2 s with none, or the moment the
   data showed if that is later; **bytes transferred** = every response's encoded length
   with headers (CDP `Network.loadingFinished`) until then;
4. the floor: GET / (index.html) and GET of the entry chunk over HTTP from this process, and
   an empty page (GET /health, a few bytes) loaded the same way in the same browser;
5. board moves: rep-1 moves one lead between `negotiation` and `proposal` by keyboard (pick up
   with Space, arrow, drop with Space); **drop → settled** = from the drop's keydown until
   the card is in its new column and the board says "Moved … to …" (the server accepted the
   move and the columns were read again); the optimistic move (card in the new column) is
   timed too. Beside it, the raw `POST /v1/leads/{id}/stage` of another lead, from this
   process, in the same run.

Writes benchmarks/results/web.json and the block between `<!-- web:begin -->` and
`<!-- web:end -->` of docs/BENCHMARKS.md (the rest of the page is left as it is).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.docs_block import write_block
from benchmarks.machine import code_version, machine_info
from benchmarks.stats import percentile
from tests.harness.demo_site import DemoSite, demo_site, launch_chromium, missing_tools, sign_in

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "services" / "web" / "dist"
RESULTS_PATH = ROOT / "benchmarks" / "results" / "web.json"
BEGIN, END = "<!-- web:begin -->", "<!-- web:end -->"
BUDGET_KB = 300.0
QUIET_MS = 2000
LONG_TASK_MS = 50
REP = "rep-1"
_STATIC_IMPORT = re.compile(r"""\bimport\s*(?:[\w$*{},\s]+?\s*from\s*)?["'](\.{1,2}/[^"']+\.js)["']""")


def log(message: str) -> None:
    print(message, flush=True)


def kb(size: int) -> float:
    return round(size / 1000, 2)  # kB as vite reports them


# 1. What the first page needs, from the build ---------------------------------------------

def first_page_assets(dist: Path = DIST) -> dict[str, Any]:
    html = (dist / "index.html").read_text()
    scripts = re.findall(r'<script[^>]+type="module"[^>]+src="/([^"]+)"', html)
    preloads = re.findall(r'<link[^>]+rel="modulepreload"[^>]+href="/([^"]+)"', html)
    styles = re.findall(r'<link[^>]+rel="stylesheet"[^>]+href="/([^"]+)"', html)
    needed: list[str] = []
    queue = [*scripts, *preloads]
    while queue:
        name = queue.pop(0)
        if name in needed:
            continue
        needed.append(name)
        text = (dist / name).read_text()
        for imported in _STATIC_IMPORT.findall(text):
            queue.append(str(((dist / name).parent / imported).resolve().relative_to(dist)))

    def sized(name: str) -> dict[str, Any]:
        data = (dist / name).read_bytes()
        return {"file": name, "raw_kb": kb(len(data)), "gzip_kb": kb(len(gzip.compress(data, 9)))}

    first = [sized(name) for name in [*needed, *styles]]
    later = [sized(str(path.relative_to(dist))) for path in sorted((dist / "assets").glob("*.js"))
             if str(path.relative_to(dist)) not in needed]
    total = round(sum(item["gzip_kb"] for item in first), 2)
    return {"first_page": first, "first_page_gzip_kb": total, "budget_kb": BUDGET_KB,
            "within_budget": total <= BUDGET_KB, "loaded_later": later}


# 3. Cold first loads ----------------------------------------------------------------------

_WATCH = """
window.__bench = {long: [], shown: null};
new PerformanceObserver(list => {
  for (const e of list.getEntries()) window.__bench.long.push([e.startTime, e.startTime + e.duration]);
}).observe({type: 'longtask', buffered: true});
const loading = () => [...document.querySelectorAll('main [role=status]')]
  .some(s => s.textContent.includes('Loading'));
const check = () => {
  if (window.__bench.shown === null && document.querySelector(SELECTOR) && !loading()) {
    window.__bench.shown = performance.now();
  }
};
new MutationObserver(check).observe(document, {subtree: true, childList: true, characterData: true});
"""


def cold_load(browser: Any, site: DemoSite, cookies: Any, path: str, selector: str) -> dict[str, Any]:
    """One first load of `path` in a fresh context (empty cache) with rep-1's cookie; the
    data is shown once `selector` matches and no part of the page says it is loading."""
    context = browser.new_context(storage_state=cookies, viewport={"width": 1280, "height": 800})
    try:
        context.add_init_script(_WATCH.replace("SELECTOR", json.dumps(selector)))
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        transferred: dict[str, int] = {"bytes": 0, "responses": 0}
        kinds: dict[str, str] = {}

        def response(event: dict[str, Any]) -> None:
            kinds[event["requestId"]] = event.get("type", "Other")

        def finished(event: dict[str, Any]) -> None:
            transferred["bytes"] += int(event["encodedDataLength"])
            transferred["responses"] += 1

        cdp.on("Network.responseReceived", response)
        cdp.on("Network.loadingFinished", finished)
        page.goto(site.base + path, wait_until="commit")
        page.wait_for_function("() => window.__bench && window.__bench.shown !== null",
                               timeout=60_000)
        # Idle: no long task for QUIET_MS.
        page.wait_for_function(
            """quiet => {
                 const b = window.__bench;
                 const last = Math.max(b.shown, ...b.long.map(t => t[1]));
                 return performance.now() - last >= quiet;
               }""", arg=QUIET_MS, timeout=120_000, polling=100)
        bench = page.evaluate("""() => {
            const b = window.__bench;
            const tti = Math.max(b.shown, ...b.long.map(t => t[1]));
            const nav = performance.getEntriesByType('navigation')[0];
            return {shown_ms: b.shown, tti_ms: tti, long_tasks: b.long.length,
                    long_task_ms: b.long.reduce((s, t) => s + t[1] - t[0], 0),
                    dom_content_loaded_ms: nav.domContentLoadedEventEnd,
                    load_ms: nav.loadEventEnd};
        }""")
        return {**bench, "transferred_kb": kb(transferred["bytes"]),
                "responses": transferred["responses"]}
    finally:
        context.close()


def empty_page_load(browser: Any, site: DemoSite) -> float:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{site.base}/health")
        return float(page.evaluate(
            "() => performance.getEntriesByType('navigation')[0].loadEventEnd"))
    finally:
        context.close()


def http_floor(site: DemoSite, entry: str, rounds: int = 20) -> dict[str, Any]:
    """Median ms of GET / and of the entry chunk, each on a new connection (asking for gzip),
    and the entry chunk's Content-Encoding."""
    times: dict[str, list[float]] = {"index_html": [], "entry_chunk": []}
    encoding = None
    for _ in range(rounds):
        for name, path in (("index_html", "/"), ("entry_chunk", f"/{entry}")):
            with httpx.Client() as client:
                start = time.perf_counter()
                answer = client.get(site.base + path, headers={"Accept-Encoding": "gzip"})
                answer.read()
                times[name].append((time.perf_counter() - start) * 1000)
                answer.raise_for_status()
                if name == "entry_chunk":
                    encoding = answer.headers.get("content-encoding")
    return {**{name: round(statistics.median(values), 2) for name, values in times.items()},
            "entry_chunk_content_encoding": encoding}


# 5. Board moves -----------------------------------------------------------------------------

_ARM = """leadId => {
  window.__move = {drop: null, moved: null, settled: null};
  const card = () => document.querySelector(`[data-lead="${leadId}"]`);
  const from = card().closest('[data-stage]').dataset.stage;
  const seen = () => {
    const m = window.__move;
    if (m.drop === null) return;
    const c = card();
    const stage = c && c.closest('[data-stage]') ? c.closest('[data-stage]').dataset.stage : null;
    if (m.moved === null && stage && stage !== from) m.moved = performance.now();
    const said = [...document.querySelectorAll('[role=status]')].some(s => /Moved/.test(s.textContent));
    if (m.settled === null && stage && stage !== from && said) m.settled = performance.now();
  };
  document.addEventListener('keydown', e => {
    if (e.code === 'Space' && window.__move.drop === null && window.__move.picked) {
      window.__move.drop = performance.now();
    }
  }, {capture: true});
  new MutationObserver(seen).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def board_moves(browser: Any, site: DemoSite, cookies: Any, lead: dict[str, Any], moves: int
                ) -> list[dict[str, float]]:
    context = browser.new_context(storage_state=cookies, viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(f"{site.base}/pipeline")
        card = page.locator(f'[data-lead="{lead["lead_id"]}"]')
        card.wait_for(timeout=60_000)
        handle = card.locator(".board__handle")
        timings = []
        for index in range(moves):
            target = "proposal" if index % 2 == 0 else "negotiation"
            arrow = "ArrowLeft" if target == "proposal" else "ArrowRight"
            page.wait_for_function(
                "id => { const h = document.querySelector(`[data-lead=\"${id}\"] .board__handle`);"
                " return h && !h.disabled; }", arg=lead["lead_id"])
            page.evaluate(_ARM, lead["lead_id"])
            handle.focus()
            page.keyboard.press("Space")
            page.locator('.board__handle[aria-pressed="true"]').wait_for()
            page.keyboard.press(arrow)
            page.locator(f'[data-stage="{target}"].board__column--over').wait_for()
            page.evaluate("() => { window.__move.picked = true; }")
            page.keyboard.press("Space")
            page.wait_for_function("() => window.__move.settled !== null", timeout=60_000)
            result = page.evaluate("() => window.__move")
            timings.append({"moved_ms": result["moved"] - result["drop"],
                            "settled_ms": result["settled"] - result["drop"]})
            # The next move waits for the status to be cleared by that move itself.
            page.reload()
            card.wait_for(timeout=60_000)
        return timings
    finally:
        context.close()


def raw_stage_posts(site: DemoSite, lead: dict[str, Any], moves: int) -> list[float]:
    times = []
    with httpx.Client(headers=site.admin, timeout=30) as client:
        for index in range(moves):
            stage = "proposal" if index % 2 == 0 else "negotiation"
            start = time.perf_counter()
            answer = client.post(f"{site.base}/v1/leads/{lead['lead_id']}/stage",
                                 json={"stage": stage})
            times.append((time.perf_counter() - start) * 1000)
            answer.raise_for_status()
    return times


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 1),
            "p95": round(percentile(ordered, 0.95), 1), "min": round(ordered[0], 1),
            "max": round(ordered[-1], 1), "count": len(ordered)}


# The run ----------------------------------------------------------------------------------

def run(loads: int, moves: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="crm-web-bench-") as scratch:
        # A copy of the build, served and measured: a rebuild meanwhile changes neither.
        web = Path(scratch) / "web"
        shutil.copytree(DIST, web)
        assets = first_page_assets(web)
        log(f"first page: {assets['first_page_gzip_kb']} kB gzipped (budget {BUDGET_KB:.0f} kB)")
        log("starting crm serve --demo…")
        env = {"CRM_POLICIES_ENABLED": "false", "CRM_WEB_DIR": str(web)}
        with demo_site(Path(scratch) / "crm-data", env=env) as site, \
                sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                chromium_version = browser.version
                context = browser.new_context()
                sign_in(context.new_page(), site, REP)
                cookies = context.storage_state()
                context.close()
                customers = site.get("/v1/customers", owner=REP, limit=1)["items"]
                customer_path = f"/customers/{customers[0]['customer_id']}"
                pages = {
                    "my_day": ("/my-day", ".my-day__columns .item"),
                    "customer": (customer_path, ".timeline__entry"),
                }
                first_loads: dict[str, Any] = {}
                for name, (path, selector) in pages.items():
                    cold_load(browser, site, cookies, path, selector)  # the server warms up
                    runs = [cold_load(browser, site, cookies, path, selector)
                            for _ in range(loads)]
                    first_loads[name] = {"path": path.replace(customers[0]["customer_id"],
                                                              "{id}"),
                                         "data_shown_when": selector, "runs": runs}
                    log(f"{name}: TTI median {statistics.median(r['tti_ms'] for r in runs):.0f} ms")
                entry = assets["first_page"][0]["file"]
                floor = {**http_floor(site, entry),
                         "empty_page_load_ms": round(statistics.median(
                             empty_page_load(browser, site) for _ in range(loads)), 1)}
                leads = site.get("/v1/leads", stage="negotiation", open="true", limit=100)["items"]
                mine = next(lead for lead in leads if lead["owner"] == REP and lead["amount"])
                other = next(lead for lead in leads
                             if lead["lead_id"] != mine["lead_id"] and lead["amount"])
                move_timings = board_moves(browser, site, cookies, mine, moves)
                raw = raw_stage_posts(site, other, moves)
            finally:
                browser.close()
    return {
        "benchmark": "web", "machine": {**machine_info(), "chromium": chromium_version},
        "code": code_version(str(ROOT)), "assets": assets, "first_loads": first_loads,
        "floor": floor,
        "board": {"moves": len(move_timings),
                  "moved_optimistic_ms": summary([t["moved_ms"] for t in move_timings]),
                  "drop_to_settled_ms": summary([t["settled_ms"] for t in move_timings]),
                  "raw_post_stage_ms": summary(raw)},
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(run[key] for run in runs))


def section(results: dict[str, Any]) -> str:
    m, a, f, b = results["machine"], results["assets"], results["floor"], results["board"]
    loads = results["first_loads"]
    lines = [
        "## The web app: first load and a board move",
        "",
        f"`.venv/bin/python -m benchmarks.web` (`benchmarks/web.py`), measured {m['date']}. "
        f"Machine: {m['cpu_model']}, {m['nproc']} cores, {m['memory_gib']} GiB, Python "
        f"{m['python']}, Chromium {m['chromium']} (headless, Playwright). Raw results: "
        "`benchmarks/results/web.json`.",
        "",
        "`crm serve --demo` (the sample data) on the same machine, over loopback; the browser "
        "signed in as `rep-1`. **Cold first load**: a fresh browser context (empty cache) with "
        "only the session cookie opens the page. **Time to interactive** = from navigation "
        "start until the page's data is shown (a MutationObserver sees it: My day's items, the "
        "customer's timeline, and no part of the page says \"Loading…\") and the main thread is idle — the end of the last long task "
        f"(> {LONG_TASK_MS} ms, `longtask` PerformanceObserver) before {QUIET_MS / 1000:.0f} s "
        "with none, or the moment the data showed if later. **Transferred**: every response "
        "with its headers (CDP `Network.loadingFinished`), until then. Median of "
        f"{len(next(iter(loads.values()))['runs'])} loads each, after one warm-up load.",
        "",
        "| page | time to interactive ms | data shown ms | DOMContentLoaded ms | "
        "long tasks (total ms) | transferred kB (responses) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in (("my_day", "My day"), ("customer", "customer page")):
        runs = loads[name]["runs"]
        lines.append(
            f"| {label} (`{loads[name]['path']}`) | {_median(runs, 'tti_ms'):.0f} | "
            f"{_median(runs, 'shown_ms'):.0f} | {_median(runs, 'dom_content_loaded_ms'):.0f} | "
            f"{_median(runs, 'long_tasks'):.0f} ({_median(runs, 'long_task_ms'):.0f}) | "
            f"{_median(runs, 'transferred_kb'):.1f} ({_median(runs, 'responses'):.0f}) |")
    lines += [
        "",
        f"**The raw floor underneath**, same run: GET `/` (index.html) {f['index_html']} ms and "
        f"GET of the entry chunk {f['entry_chunk']} ms from Python on a new connection each "
        f"(median of 20); an empty page (GET `/health`) loaded in a fresh context of the same "
        f"browser: load event at {f['empty_page_load_ms']} ms.",
        "",
        f"**What the first page needs**, from the build (`services/web/dist`; gzip level 9, "
        f"as `vite build` reports): {a['first_page_gzip_kb']} kB of {a['budget_kb']:.0f} kB "
        f"budget — {'within' if a['within_budget'] else 'OVER'} it."
        + (" The server sends these files as they are (no `Content-Encoding`, also when asked "
           "for gzip), so the first load transfers their raw size, in the table above."
           if not f["entry_chunk_content_encoding"] else
           f" The server sends them with `Content-Encoding: {f['entry_chunk_content_encoding']}`."),
        "",
        "| file | raw kB | gzipped kB |",
        "|---|---:|---:|",
    ]
    lines += [f"| `{item['file']}` | {item['raw_kb']} | {item['gzip_kb']} |"
              for item in a["first_page"]]
    lines += [f"| `{item['file']}` (loaded later, `import()`) | {item['raw_kb']} | "
              f"{item['gzip_kb']} |" for item in a["loaded_later"]]
    lines += [
        "",
        f"**A board move** ({b['moves']} moves of one of rep-1's leads between `negotiation` "
        "and `proposal` by keyboard: Space, arrow, Space): from the drop's keydown until the "
        "card is in its new column and the board says \"Moved … to …\" — the server accepted "
        "the move (`POST /v1/leads/{id}/stage`) and both columns were read again at the "
        "move's position. Beside it, the raw POST of another lead from Python, same run.",
        "",
        "| | median ms | p95 ms | min ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in (("drop_to_settled_ms", "drop → card settled with the server's answer"),
                       ("moved_optimistic_ms", "drop → card shown in its new column"),
                       ("raw_post_stage_ms", "raw `POST /v1/leads/{id}/stage`")):
        s = b[key]
        lines.append(f"| {label} | {s['median']} | {s['p95']} | {s['min']} | {s['max']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--output", type=Path, default=RESULTS_PATH)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    if missing := missing_tools():
        sys.exit("benchmarks.web needs " + "; ".join(missing))
    results = run(args.loads, args.moves)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {args.output}")
    text = section(results)
    print(text)
    if not args.no_docs:
        write_block(BEGIN, END, text)


if __name__ == "__main__":
    main()
