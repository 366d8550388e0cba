"""Wiring the policy engine to a process: the command service, the projector that keeps the
policy state, the rules book and a clock; and a thread that runs it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from services.command.policies.engine import PolicyEngine
from services.command.policies.state import PolicyState
from services.command.service import CommandService
from services.common.clock import Clock, SystemClock
from services.projections.host import ProjectorHost

log = logging.getLogger("chronicle.policies")
PublishedThrough = Callable[[], tuple[int, dict[int, int]] | None]
"""The relay's acknowledged (position, offsets) when it runs in this process."""
STATE = "policy_state"


def build_engine(service: CommandService, projectors: ProjectorHost, *,
                 clock: Clock | None = None,
                 published_through: PublishedThrough = lambda: None) -> PolicyEngine:
    if STATE not in projectors.runners or projectors.sql_store is None:
        raise ValueError("the policies need the policy_state projector in this process")
    runner = projectors.runners[STATE]
    return PolicyEngine(
        service, PolicyState(projectors.sql_store), service.rules_book, clock or SystemClock(),
        state_reached=lambda position, timeout_s: runner.wait_until(
            position, timeout_s, published_through),
        watch=runner,
    )


class PolicyThread:
    def __init__(self, engine: PolicyEngine, interval_s: float) -> None:
        self.engine = engine
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.engine.run, args=(self._stop, self._interval_s),
                                        name="policies", daemon=True)
        self._thread.start()
        log.info("policies running: %s", ", ".join(self.engine.policies))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.engine.close()
