"""A seeded `crm serve --demo` on a free port with a data dir of its own, and Debian's Chromium
to look at it: shared by the web app's accessibility test (tests/e2e/test_web_access.py), the
screenshot script (services/web/scripts/screenshots.py) and the web benchmark
(benchmarks/web.py).

The demo prints one account per role with a generated password, once, and an admin API key;
`DemoSite` reads them from the server's log.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.harness.services import free_port

ROOT = Path(__file__).resolve().parents[2]
CRM = shutil.which("crm", path=str(Path(sys.executable).parent)) or "crm"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
"""Without the background-networking flags Chromium keeps calling hosts of its own."""
AXE = ROOT / "services" / "web" / "node_modules" / "axe-core" / "axe.min.js"
DIST = ROOT / "services" / "web" / "dist"
START_S = 240.0
"""Loading two years of sample data and building every read model, on a busy 2-core machine."""
_ACCOUNT = re.compile(r"^  (\S+)\s+(\S+)\s+(\S+)$")


@dataclass
class DemoSite:
    """A running demo server: its address, the admin key's headers and each account's
    password by user name."""

    base: str
    admin: dict[str, str]
    passwords: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, **params: Any) -> Any:
        answer = httpx.get(f"{self.base}{path}", headers=self.admin, params=params, timeout=30)
        answer.raise_for_status()
        return answer.json()


def missing_tools(cjk_fonts: bool = False) -> list[str]:
    """What a browser run needs and this machine lacks, each with how to get it."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"Chromium at {CHROMIUM}: apt-get install -y chromium "
                       "(services/web/ensure-browser.sh)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("Playwright for Python: pip install -e '.[dev]'")
    if not (DIST / "index.html").is_file():
        missing.append("the built web app: npm ci --prefix services/web && "
                       "npm run build --prefix services/web")
    if cjk_fonts and not _has_cjk_fonts():
        missing.append("Chinese fonts: apt-get install -y fonts-noto-cjk")
    return missing


def _has_cjk_fonts() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return any(Path("/usr/share/fonts").rglob("NotoSansCJK*"))
    done = subprocess.run([fc_list, ":lang=zh-cn", "family"], capture_output=True, text=True,
                          timeout=60)
    return bool(done.stdout.strip())


@contextmanager
def demo_site(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[DemoSite]:
    """`crm serve --demo` on a fresh `data_dir` until the block ends; the read models have
    caught up with the sample data when it is yielded. It serves a copy of services/web/dist
    taken now (beside `data_dir`), so a rebuild meanwhile changes nothing under it, unless
    `env` names a CRM_WEB_DIR."""
    port = free_port()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    web = None
    if "CRM_WEB_DIR" not in (env or {}):
        web = data_dir.parent / f"web-{port}"
        _copy_build(web)
        env = {**(env or {}), "CRM_WEB_DIR": str(web)}
    log = data_dir.parent / f"crm-serve-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [CRM, "serve", "--demo", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "CRM_LOG_LEVEL": "warning", **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        site = _started(process, base, log)
        _caught_up(site)
        yield site
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.unlink(missing_ok=True)
        if web is not None:
            shutil.rmtree(web, ignore_errors=True)


def _copy_build(web: Path, attempts: int = 20) -> None:
    """Copy services/web/dist to `web`, again if a build was writing it meanwhile (a file
    index.html names is missing from the copy)."""
    for _ in range(attempts):
        shutil.rmtree(web, ignore_errors=True)
        try:
            shutil.copytree(DIST, web)
            html = (web / "index.html").read_text()
        except (OSError, shutil.Error):
            time.sleep(1)
            continue
        if all((web / name).is_file() for name in re.findall(r'(?:src|href)="/(assets/[^"]+)"',
                                                             html)):
            return
        time.sleep(1)
    raise RuntimeError(f"could not copy a complete build from {DIST}")


def _started(process: subprocess.Popen[bytes], base: str, log: Path) -> DemoSite:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"crm serve --demo exited: {log.read_text()[-2000:]}")
        text = log.read_text()
        lines = text.splitlines()
        keys = [line for line in lines if line.startswith("try: curl")]
        accounts = {match[1]: match[3] for line in lines if (match := _ACCOUNT.match(line))}
        if keys and accounts:
            try:
                healthy = httpx.get(f"{base}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                healthy = False
            if healthy:
                token = keys[0].split("Bearer ", 1)[1].split("'", 1)[0]
                return DemoSite(base, {"Authorization": f"Bearer {token}"}, accounts)
        time.sleep(0.2)
    raise RuntimeError(f"crm serve --demo did not start in {START_S:.0f} s: "
                       f"{log.read_text()[-2000:]}")


def _caught_up(site: DemoSite, timeout_s: float = START_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = site.get("/v1/projections")
        head = found["head_position"]
        if all(p["position"] >= head for p in found["projections"]):
            return
        time.sleep(0.25)
    raise RuntimeError("the demo's read models did not catch up with the sample data")


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)


def sign_in(page: Any, site: DemoSite, user: str, path: str = "/my-day") -> None:
    """Sign `user` in through the sign-in page and wait for `path` (in any language: the
    form's fields are found by their type, not their labels)."""
    page.goto(f"{site.base}/sign-in?next={path}")
    page.locator("#sign-in-name").fill(user)
    page.locator("#sign-in-password").fill(site.passwords[user])
    page.locator("#sign-in-password").press("Enter")
    page.wait_for_url(f"{site.base}{path}")
