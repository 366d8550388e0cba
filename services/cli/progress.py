"""The one progress display of every long command: a bar with count, rate and time left on a
terminal, and a plain line every few seconds when the output goes to a file or a log."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, Self, TextIO

PLAIN_EVERY_S = 5.0


class Progress:
    """`with Progress("importing", unit="rows", rate_unit="events") as shown:` then
    `shown.update(done, total, counted=events)`: `done` of `total` (None: unknown) in `unit`,
    and the rate in `rate_unit` (of `counted`, default `done`)."""

    def __init__(self, description: str, *, unit: str = "events", rate_unit: str | None = None,
                 stream: TextIO | None = None, plain_every_s: float = PLAIN_EVERY_S) -> None:
        self.description = description
        self.unit = unit
        self.rate_unit = rate_unit or unit
        self._stream = stream or sys.stderr
        self._plain_every_s = plain_every_s
        self._started = time.perf_counter()
        self._last_plain = float("-inf")
        self._state: tuple[int, int | None, int] = (0, None, 0)
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Self:
        self._started = time.perf_counter()
        if self._stream.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[note]}"), TimeElapsedColumn(),
                            TimeRemainingColumn(), console=Console(file=self._stream))
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=None, note="")
        return self

    def update(self, done: int, total: int | None = None, *, counted: int | None = None) -> None:
        self._state = (done, total, done if counted is None else counted)
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total, note=self._note())
        elif time.perf_counter() - self._last_plain >= self._plain_every_s:
            self._print_plain()

    def _rate(self) -> float:
        elapsed = time.perf_counter() - self._started
        return self._state[2] / elapsed if elapsed > 0 else 0.0

    def _note(self) -> str:
        done, _, counted = self._state
        counted_part = f"{counted:,} {self.rate_unit} · " if self.rate_unit != self.unit else ""
        return f"{self.unit} · {counted_part}{self._rate():,.0f} {self.rate_unit}/s"

    def _print_plain(self) -> None:
        self._last_plain = time.perf_counter()
        done, total, _ = self._state
        of = f" of {total:,} ({100 * done / total:.0f}%)" if total else ""
        left = ""
        rate_done = done / (time.perf_counter() - self._started or 1)
        if total and rate_done > 0:
            left = f", about {max(0.0, (total - done) / rate_done):,.0f}s left"
        print(f"{self.description}: {done:,}{of} {self._note()}{left}", file=self._stream,
              flush=True)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif kind is None:
            self._print_plain()
