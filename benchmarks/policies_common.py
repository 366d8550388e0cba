"""What the parts of the policies benchmark share: the log line, the load average, and the CPU
accounting of a phase."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from benchmarks.stats import box_cpu_jiffies


def log(message: str) -> None:
    print(f"[policies {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


class Phase:
    """Wall time, this process's CPU, the box's busy share and the load average over a block."""

    def __init__(self, out: dict[str, Any], key: str = "phase") -> None:
        self.out, self.key = out, key

    def __enter__(self) -> Phase:
        self.t0, self.cpu0, self.box0 = time.perf_counter(), time.process_time(), box_cpu_jiffies()
        self.load0 = loadavg()
        return self

    def __exit__(self, *exc: Any) -> None:
        wall = max(time.perf_counter() - self.t0, 1e-9)
        box1 = box_cpu_jiffies()
        self.out[self.key] = {
            "wall_seconds": round(wall, 3),
            "bench_process_cores": round((time.process_time() - self.cpu0) / wall, 2),
            "box_busy": round((box1[0] - self.box0[0]) / max(box1[1] - self.box0[1], 1), 3),
            "loadavg_start": self.load0, "loadavg_end": loadavg(),
        }
