"""The server under test as a subprocess, and the CPU it and PostgreSQL use while measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.stats import box_cpu_jiffies, process_cpu_seconds, tree_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]


class ServerProcess:
    """`crm <subcommand>` in its own session on a free loopback port; `stop()` terminates it."""

    def __init__(self, subcommand: str, env_overrides: dict[str, str], log_path: Path,
                 start_timeout: float = 60.0) -> None:
        from tests.harness.services import free_port

        crm = Path(sys.executable).parent / "crm"
        command = [str(crm)] if crm.exists() else [sys.executable, "-m", "services.cli"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
        env.update(env_overrides)
        env["CRM_LOG_LEVEL"] = "warning"
        self.command = command
        self.env = env
        self.token: str | None = None
        """The API key `issue_key` issued, sent by `get_json` once there is one."""
        self.log_path = log_path
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.start_seconds = 0.0
        last_error = ""
        for _ in range(3):  # a port from bind(0) can be taken before the server binds it
            self.port = free_port()
            started = time.perf_counter()
            with self.log_path.open("ab") as out:
                self.process = subprocess.Popen(
                    [*command, subcommand, "--host", "127.0.0.1", "--port", str(self.port)],
                    env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                self._wait_healthy()
                self.start_seconds = time.perf_counter() - started
                return
            except RuntimeError as exc:
                last_error = str(exc)
                self.stop()
        raise RuntimeError(f"`crm {subcommand}` did not start: {last_error}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def issue_key(self, subject: str = "bench", role: str = "admin",
                  timeout: float = 120.0) -> str:
        """An API key for `subject` with `role`, issued by `crm keys create` on the server's
        own store (same CRM_* environment) while it runs; kept in `self.token` and returned."""
        done = subprocess.run(
            [*self.command, "keys", "create", "--role", role, "--subject", subject],
            env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=timeout, check=False)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"`crm keys create` failed (exit {done.returncode}): "
                               f"{(done.stderr or done.stdout)[-2000:]}")
        self.token = lines[-1].strip()
        return self.token

    def get_json(self, path: str, timeout: float = 10.0) -> Any:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if self.token is not None:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read())

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; log tail:\n"
                                   f"{self.log_tail()}")
            try:
                self.get_json("/health", timeout=2)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"no healthy answer in {self.start_timeout:.0f} s; log tail:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


class CpuWindow:
    """CPU counters sampled when the load generator opens and closes its measured window."""

    def __init__(self, server_pid: int, postgres_pid: int | None) -> None:
        self.server_pid, self.postgres_pid = server_pid, postgres_pid
        self.marks: list[tuple[float, float | None, float | None, tuple[int, int]]] = []

    def mark(self) -> None:
        self.marks.append((time.perf_counter(), process_cpu_seconds(self.server_pid),
                           tree_cpu_seconds(self.postgres_pid) if self.postgres_pid else None,
                           box_cpu_jiffies()))

    def summary(self, loadgen_cpu: float, count: int, unit: str = "request") -> dict[str, Any]:
        """Cores used by each party over the window, and CPU ms per `unit` served."""
        if len(self.marks) < 2:
            return {}
        (t0, s0, p0, (b0, tot0)), (t1, s1, p1, (b1, tot1)) = self.marks[0], self.marks[-1]
        wall = max(t1 - t0, 1e-9)
        server = (s1 - s0) if s0 is not None and s1 is not None else None
        postgres = (p1 - p0) if p0 is not None and p1 is not None else None

        def per(cpu: float | None, digits: int = 2) -> float | None:
            return round(cpu / count * 1000, digits) if cpu is not None and count else None

        return {
            "window_seconds": round(wall, 3),
            "server_cores": round(server / wall, 2) if server is not None else None,
            "loadgen_cores": round(loadgen_cpu / wall, 2),
            "postgres_cores": round(postgres / wall, 2) if postgres is not None else None,
            "box_busy": round((b1 - b0) / max(tot1 - tot0, 1), 3),
            f"server_cpu_ms_per_{unit}": per(server, 3),  # 3: a difference of two is quoted
            "postgres_cpu_ms_per_request": per(postgres),
            "loadgen_cpu_ms_per_request": per(loadgen_cpu, 3),
        }
