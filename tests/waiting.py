"""Waiting in tests: on the condition itself, for a bounded time, failing with what did not
happen.

A test that sleeps a fixed time instead is slow where the machine is fast and wrong where it
is busy; a loop without a bound turns a failure into a hang that only the suite's timeout
ends, with nothing said about what was awaited. `eventually` is the one loop the tests use.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

Message = str | Callable[[], str]
"""What did not happen; a callable is asked only on failure (for state worth showing then,
e.g. a component's status or the tail of a log)."""


class WaitTimedOut(AssertionError):
    """The awaited condition did not hold within its time."""


def eventually(condition: Callable[[], T], timeout_s: float, message: Message,
               interval_s: float = 0.05) -> T:
    """Ask `condition` until it returns something truthy, and return that.

    Fails with `message` and the last value seen once `timeout_s` has passed. The condition is
    always asked at least once, and once more at the deadline, so a slow machine that gets
    there just in time passes. An exception from the condition is not retried: it propagates.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        last = condition()
        if last:
            return last
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            said = message() if callable(message) else message
            raise WaitTimedOut(f"{said} (not within {timeout_s:g} s; last seen: {last!r})")
        time.sleep(min(interval_s, remaining))
