"""The policy engine: reads the policy state, asks each policy what is due, issues the commands.

One round: read the clock once, let every policy decide for every tenant (by its rules in
force), and issue the commands through the command service with actor `rule:<id>`, the
triggering event as causation and a key that names the decision. Re-deciding (after a crash, or
before a command's events came back) repeats the key, so a command is never applied twice.

A round runs in phases: assignment first, then — once the policy state shows the new owners —
the policies whose alerts name a lead's owner and manager, so a lead assigned and found overdue
in one round is chased with its new owner. The state goes on applying events meanwhile, so
assignment is asked again after a later phase decided, and that phase decides again if it
placed anyone; if the state does not show the round's own commands in time, the round stops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.command.domain.errors import DomainError
from services.command.domain.rules import RuleSet
from services.command.policies import (
    assignment,
    clearing,
    discounts,
    dormancy,
    follow_up,
    sla,
    task_reminder,
)
from services.command.policies.actions import Action
from services.command.rules_book import RulesBook
from services.command.service import CommandResult, CommandService
from services.common.clock import Clock
from services.projections.policy_state.reads import PolicyStateReads

log = logging.getLogger("chronicle.policies")


class Policy(Protocol):
    def __call__(self, state: PolicyStateReads, tenant: str, rules: RuleSet, now: datetime,
                 limit: int) -> list[Action]: ...


POLICIES: dict[str, Policy] = {
    "assignment": assignment.decide,
    "follow_up": follow_up.decide,
    "sla": sla.decide,
    "discount_approval": discounts.decide,
    "dormancy": dormancy.decide,
    "task_reminder": task_reminder.decide,
    "alert_clearing": clearing.decide,
}
PHASES: tuple[frozenset[str], ...] = (frozenset({"assignment"}),
                                      frozenset(POLICIES) - {"assignment"})
"""The order of a round: a later phase decides on a state that shows the earlier one's writes."""
EVENT_DRIVEN: frozenset[str] = frozenset({"assignment", "discount_approval", "alert_clearing"})
"""Policies whose decisions change only when new events arrive; the others (follow-ups, SLAs,
dormancy, task reminders) also change as the clock moves on."""
ROUND_LIMIT = 500
"""Rows a policy reads per query in a round (assignment reads on, a page at a time, while it
can still place a lead)."""
QUIET_AFTER_ROUND = 4.0
"""After a round that issued nothing, the engine rests at least this many times the round's own
duration before the next: with nothing to do it then takes at most a fifth of a core, whatever
the interval and however often events arrive (a round over a large state costs tens to
hundreds of milliseconds)."""


class StateWatch(Protocol):
    """What the engine needs of the policy state's projector (a `ProjectionRunner`) to wake
    when it applied events."""

    @property
    def committed_batches(self) -> int: ...

    def wait_for_batch_after(self, committed_batches: int, timeout_s: float) -> bool: ...


@dataclass
class RoundResult:
    decided: int = 0
    issued: int = 0
    repeated: int = 0
    """Decisions whose command had already been issued (same key): nothing written again."""
    refused: int = 0
    """Decisions the domain refused because the world moved on (e.g. the lead was closed)."""
    position: int = 0
    by_policy: dict[str, int] = field(default_factory=dict)
    stopped_early: bool = False
    """The policy state had not applied the round's own commands in time, so the phases after
    them were left to the next round."""


class PolicyEngine:
    def __init__(
        self, service: CommandService, state: PolicyStateReads, rules: RulesBook, clock: Clock, *,
        state_reached: Callable[[int, float], bool] | None = None, limit: int = ROUND_LIMIT,
        policies: Sequence[str] = tuple(POLICIES), tenants: Sequence[str] | None = None,
        watch: StateWatch | None = None, issue_threads: int = 8,
    ) -> None:
        """`state_reached(position, timeout_s)` waits until the policy state has applied the
        event at `position` (the engine's own commands), so a round never decides on a state
        that does not yet show the previous round's effects. `watch` lets `run` answer new
        events at once instead of at the next interval. `issue_threads`: how many of a round's
        commands are in flight together (the command service's group commit then writes them
        in shared transactions; commands on one aggregate still go one after another)."""
        self.service = service
        self.state = state
        self.rules = rules
        self.clock = clock
        self.limit = limit
        self.policies = {name: POLICIES[name] for name in policies}
        self._state_reached = state_reached
        self._tenants = list(tenants) if tenants is not None else None
        """Only these tenants (one engine per group of tenants); None: every tenant."""
        self._refused: dict[str, float] = {}
        self._watch = watch
        self._issue_threads = max(1, issue_threads)
        self._pool: ThreadPoolExecutor | None = None
        self.totals = RoundResult()
        self.last_round_at: datetime | None = None

    def decide(self, now: datetime, policies: Collection[str] | None = None) -> list[Action]:
        """Every command due at `now` by the state and the rules (of `policies`, default all);
        nothing is issued."""
        actions: list[Action] = []
        tenants = self._tenants if self._tenants is not None else self.state.tenants()
        for tenant in tenants:
            rules = self.rules.rule_set(tenant)
            for name, policy in self.policies.items():
                if policies is None or name in policies:
                    actions += policy(self.state, tenant, rules, now, self.limit)
        return actions

    def run_once(self, policies: Collection[str] | None = None) -> RoundResult:
        """One round of `policies` (default all): decide and issue, phase by phase."""
        now = self.clock.now()
        result = RoundResult()
        wanted = self.policies.keys() if policies is None else self.policies.keys() & policies
        first, *later = [phase & wanted for phase in PHASES]
        self._run_phase(first, now, result)
        for phase in later:
            if phase and not self._run_later_phase(phase, first, now, result):
                break
        if result.position and self._state_reached is not None and not result.stopped_early:
            self._state_reached(result.position, 10.0)  # the next round starts from there
        self._add(result)
        self.last_round_at = now
        return result

    def _run_phase(self, phase: Collection[str], now: datetime, result: RoundResult) -> bool:
        """Decide and issue `phase` until it has nothing more to do (assignment reads `limit`
        leads at a time: it goes on until nothing more can be placed, so the next phase sees
        every lead that gets an owner this round). Whether it left the state something new to
        show: a write, or a repeat of one past what the round has waited for. (A repeat the
        state already shows changes nothing, and must not make the round go round again.)"""
        position_before = result.position
        while phase and self._state_shows(result):
            issued_before = result.issued
            self._issue(self.decide(now, phase), now, result)
            if result.issued == issued_before or self._state_reached is None:
                break
        return result.position > position_before

    def _run_later_phase(self, phase: Collection[str], first: Collection[str], now: datetime,
                         result: RoundResult) -> bool:
        """Decide and issue a phase after the first on a state that shows the first phase's
        effects; False if the state did not get there in time (the round then stops)."""
        while True:
            if not self._state_shows(result):
                return False
            actions = self.decide(now, phase)
            # The policy state goes on applying events while a round runs: a lead it showed
            # only after the assignment phase looked would be chased here without an owner
            # (and its follow-up window used up). Asked again after this phase decided, the
            # assignment finds every such lead and places it; then this phase decides again.
            # (Without a way to wait for the state, the second look would only repeat.)
            if not actions or not first or self._state_reached is None \
                    or not self._run_phase(first, now, result):
                break
        self._issue(actions, now, result)
        return True

    def _state_shows(self, result: RoundResult) -> bool:
        """Whether the policy state has applied this round's commands so far, waiting a while
        for it: a phase must not decide on a state without the earlier phases' effects (a lead
        without the owner assignment just gave it), so a round stops early rather than do so."""
        if result.stopped_early:
            return False
        if not result.position or self._state_reached is None:
            return True
        if self._state_reached(result.position, 10.0):
            return True
        log.warning("the policy state has not applied position %d within 10 s; the rest of "
                    "this round waits for the next one", result.position)
        result.stopped_early = True
        return False

    def _issue(self, actions: list[Action], now: datetime, result: RoundResult) -> None:
        retry_after = time.monotonic() - 60
        result.decided += len(actions)
        # Refused within the last minute: the state has not caught up yet.
        due = [a for a in actions if self._refused.get(a.key, retry_after) <= retry_after]

        def attempt(action: Action) -> CommandResult | DomainError:
            try:
                return action.issue(self.service, action.context(now), action.idempotency())
            except DomainError as exc:
                return exc

        if len(due) > 1 and self._issue_threads > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._issue_threads,
                                                thread_name_prefix="policy-issue")
            outcomes = [f.result() for f in [self._pool.submit(attempt, a) for a in due]]
        else:
            outcomes = [attempt(a) for a in due]
        for action, outcome in zip(due, outcomes, strict=True):
            if isinstance(outcome, DomainError):
                result.refused += 1
                self._refused[action.key] = time.monotonic()
                log.info("%s not applied (%s): %s", action.key, outcome.code, outcome.message)
                continue
            if outcome.replayed:
                result.repeated += 1
            else:
                result.issued += 1
                result.by_policy[action.policy] = result.by_policy.get(action.policy, 0) + 1
                log.info("%s by %s: %s", action.policy, action.actor, action.describe)
            result.position = max(result.position, outcome.position)
        if len(self._refused) > 100_000:
            self._refused = {k: t for k, t in self._refused.items() if t > retry_after}

    def _add(self, result: RoundResult) -> None:
        totals = self.totals
        totals.decided += result.decided
        totals.issued += result.issued
        totals.repeated += result.repeated
        totals.refused += result.refused
        totals.position = max(totals.position, result.position)
        for name, count in result.by_policy.items():
            totals.by_policy[name] = totals.by_policy.get(name, 0) + count

    def run(self, stop: threading.Event, interval_s: float = 1.0) -> None:
        """Rounds until `stop`: every policy at least every `interval_s`, at once again while
        a round issued something, and the event-driven policies as soon as the state applied
        new events (with a `watch`)."""
        every_policy_at = 0.0
        while not stop.is_set():
            mark = self._watch.committed_batches if self._watch is not None else 0
            began = time.monotonic()
            everything = began >= every_policy_at
            try:
                result = self.run_once(None if everything else EVENT_DRIVEN)
            except Exception:
                log.exception("policy round failed; retrying")
                stop.wait(max(interval_s, 5.0))
                continue
            ended = time.monotonic()
            if everything:
                every_policy_at = ended + interval_s
            if result.issued:
                continue
            stop.wait(QUIET_AFTER_ROUND * (ended - began))
            if self._watch is None:
                stop.wait(max(0.0, every_policy_at - time.monotonic()))
                continue
            while not stop.is_set():  # in slices, so a stop is seen within half a second
                pause = every_policy_at - time.monotonic()
                if pause <= 0 or self._watch.wait_for_batch_after(mark, min(pause, 0.5)):
                    break

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def status(self) -> dict[str, object]:
        t = self.totals
        return {"issued": t.issued, "repeated": t.repeated, "refused": t.refused,
                "by_policy": dict(t.by_policy),
                "last_round_at": self.last_round_at.isoformat() if self.last_round_at else None}


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
