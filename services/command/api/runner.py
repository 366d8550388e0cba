"""Where the command API runs the blocking command service: a few dedicated threads.

FastAPI would run every sync route and sync dependency in AnyIO's shared pool of 40 threads,
one thread hop each. Forty threads taking turns at one GIL and at the store's few connections
spent more CPU switching than deciding (about 150 context switches per command). Routes are
therefore `async`, do their parsing on the event loop, and hand only the service call to this
small pool, whose threads stay busy instead of queueing on locks.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

COMMAND_THREADS = 4
"""Enough that commands waiting on the database (a read, or their turn in a shared commit, see
group_commit.py) do not stall the others; few enough that they do not fight over the GIL.
Measured on 2 cores, SQLite, 16 clients: 1 thread 660 commands/s, 4 threads 820/s,
8 threads 790/s, 16 threads 714/s (more threads, more context switches per command)."""


class CommandRunner:
    """Runs blocking calls on a small pool of its own and awaits their results.

    The pool starts with the first call and `close()` ends it, so an app can be started again
    (tests enter one app's lifespan more than once).
    """

    def __init__(self, threads: int = COMMAND_THREADS) -> None:
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None

    async def __call__(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="command")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
