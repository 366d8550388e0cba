"""How every command runs: load the aggregates, let them decide, save their events in one
atomic write through the group commit, and answer with ids and positions — once per
`Idempotency-Key`, retrying an unconditional command that lost a concurrency race.

`CommandService` (service.py) adds one public method per command on top of this.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.command.aggregate_cache import AggregateCache
from services.command.books import in_book
from services.command.domain.aggregate import (
    AggregateRoot,
    CommandContext,
    events_in_decision_order,
)
from services.command.domain.customer import Customer
from services.command.domain.errors import (
    DomainError,
    IdempotencyKeyReused,
    NotFound,
    RuleViolation,
    VersionConflict,
)
from services.command.domain.idempotency import IdempotencyRecord, idempotency_record_id
from services.command.domain.lead import Lead
from services.command.domain.pipeline import TenantRules
from services.command.group_commit import GroupCommitter
from services.command.rules_book import RulesBook
from services.common.event_store import ChronicleStore, EventLog
from services.common.events.customer import CustomerRegistered
from services.common.settings import Settings

A = TypeVar("A", bound=AggregateRoot)


@dataclass(frozen=True)
class Idempotency:
    """An `Idempotency-Key` and a fingerprint of the request it was first used with."""

    key: str
    fingerprint: str


@dataclass(frozen=True)
class CommandResult:
    ids: dict[str, str]
    version: int
    position: int
    status_code: int = 200
    replayed: bool = False

    def body(self) -> dict[str, Any]:
        return {**self.ids, "version": self.version, "position": self.position}


@dataclass
class Decision:
    """What a command decided: the aggregates to save and what to answer."""

    target: AggregateRoot
    ids: dict[str, str]
    also_save: list[AggregateRoot] = field(default_factory=list)
    status_code: int = 200


class CommandExecution:
    """The command loop every command of `CommandService` runs through."""

    def __init__(self, store: ChronicleStore, settings: Settings) -> None:
        self.store = store
        self.log = EventLog(store)
        self._settings = settings
        self.rules_book = RulesBook(store, settings)
        self._stream_locks = [threading.Lock() for _ in range(256)]
        self.aggregate_cache = AggregateCache()
        self._committer = GroupCommitter(store)

    def close(self) -> None:
        """Stop the committer thread (the store itself belongs to whoever opened it)."""
        self._committer.close()

    def rules_for(self, tenant_id: str) -> TenantRules:
        return self.rules_book.tenant_rules(tenant_id)

    # -- the command loop ---------------------------------------------------------------------

    def _execute(
        self, ctx: CommandContext, idempotency: Idempotency | None,
        decide: Callable[[], Decision], expected_version: int | None = None,
        stream: UUID | None = None,
    ) -> CommandResult:
        """Decide and save, retrying an unconditional command that lost a concurrency race.

        Commands on one `stream` (the aggregate whose next version they write) take turns in
        this process, so they never race each other here; writers in other processes still can,
        which the retries cover.
        """
        if stream is None:
            return self._decide_and_save(ctx, idempotency, decide, expected_version)
        with self._stream_locks[stream.int % len(self._stream_locks)]:
            return self._decide_and_save(ctx, idempotency, decide, expected_version)

    def _decide_and_save(
        self, ctx: CommandContext, idempotency: Idempotency | None,
        decide: Callable[[], Decision], expected_version: int | None,
    ) -> CommandResult:
        if idempotency is not None:
            earlier = self._earlier_result(ctx, idempotency)
            if earlier is not None:
                return earlier
        attempt = 0
        while True:
            try:
                decision = decide()
            except DomainError:
                # A concurrent request with the same key may have committed between the check
                # above and this decision, changing the state the decision saw: its answer wins.
                if idempotency is not None:
                    earlier = self._earlier_result(ctx, idempotency)
                    if earlier is not None:
                        return earlier
                raise
            target = decision.target
            to_save: list[AggregateRoot] = [target, *decision.also_save]
            if idempotency is not None:
                to_save.append(
                    IdempotencyRecord.remember(
                        ctx, key=idempotency.key, fingerprint=idempotency.fingerprint,
                        customer_id=target.customer_id, status_code=decision.status_code,
                        response={**decision.ids, "version": target.version},
                    )
                )
            try:
                recordings = self._committer.save(events_in_decision_order(*to_save))
            except IntegrityError:
                if idempotency is not None:
                    earlier = self._earlier_result(ctx, idempotency)
                    if earlier is not None:
                        return earlier
                current = self._current_version(target)
                if expected_version is not None or attempt >= self._settings.conflict_retries:
                    raise VersionConflict(target.kind, target.id, expected_version, current) from None
                attempt += 1
                time.sleep(random.uniform(0, 0.002 * 2**attempt))
                continue
            # Saved, so the target's state is exactly its stored stream: the next command on it
            # starts from here (reading only what was stored after it, see `_load`).
            self.aggregate_cache.give_back(target)
            return CommandResult(
                ids=decision.ids, version=target.version,
                position=recordings[-1].notification.id, status_code=decision.status_code,
            )

    def _earlier_result(self, ctx: CommandContext, idempotency: Idempotency) -> CommandResult | None:
        record_id = idempotency_record_id(ctx.tenant_id, idempotency.key)
        try:
            record: IdempotencyRecord = self.store.repository.get(
                record_id, projector_func=IdempotencyRecord.project
            )
        except AggregateNotFoundError:
            return None
        if record.fingerprint != idempotency.fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used for a different request",
                idempotency_key=idempotency.key,
            )
        response = dict(record.response)
        version = int(response.pop("version"))
        position = self.log.position_of(record_id, 1) or 0
        return CommandResult(
            ids=response, version=version, position=position,
            status_code=record.status_code, replayed=True,
        )

    def _current_version(self, aggregate: AggregateRoot) -> int:
        latest = list(self.store.events.get(aggregate.id, desc=True, limit=1))
        return latest[0].originator_version if latest else 0

    def _load(
        self, cls: type[A], aggregate_id: UUID, ctx: CommandContext,
        expected_version: int | None = None,
    ) -> A:
        """Load an aggregate of this tenant; refuse if it is not at the expected version.

        Starts from the cached aggregate when there is one and applies the events stored after
        it (by this or any other process), so the decision always sees the current stream.
        """
        cached = self.aggregate_cache.take(aggregate_id)
        if type(cached) is cls:
            aggregate: A | None = cls.project(
                cached, self.store.events.get(aggregate_id, gt=cached.version))
            assert aggregate is not None
        else:
            try:
                aggregate = self.store.repository.get(aggregate_id, projector_func=cls.project)
            except AggregateNotFoundError:
                raise NotFound(cls.kind, aggregate_id) from None
        if aggregate.tenant_id != ctx.tenant_id or not in_book(aggregate, ctx.book,
                                                              self._lead_if_any):
            if type(cached) is cls:
                self.aggregate_cache.give_back(aggregate)
            raise NotFound(cls.kind, aggregate_id)
        if expected_version is not None and aggregate.version != expected_version:
            raise VersionConflict(cls.kind, aggregate_id, expected_version, aggregate.version)
        self._refuse_if_erased(aggregate.customer_id)
        return aggregate

    def _refuse_if_erased(self, customer_id: UUID) -> None:
        """An erased customer, and every record of it, accepts no further command."""
        if self.store.vault.is_destroyed(customer_id):
            raise RuleViolation("customer_erased", "the customer's personal data was erased; "
                                "it accepts no further commands", customer_id=str(customer_id))

    def _lead_if_any(self, lead_id: UUID) -> Lead | None:
        """A lead as stored (to decide whose book its customer is in), or None."""
        try:
            lead: Lead = self.store.repository.get(lead_id, projector_func=Lead.project)
        except AggregateNotFoundError:
            return None
        return lead

    def _customer_head(self, customer_id: UUID, ctx: CommandContext) -> Customer:
        """The customer at its current version, without replaying its whole history.

        Enough to link a new record to it; no rule needs the customer's full state.
        """
        first = list(self.store.events.get(customer_id, lte=1))
        if not first or not isinstance(first[0], CustomerRegistered):
            raise NotFound("customer", customer_id)
        registered: CustomerRegistered = first[0]
        if registered.tenant_id != ctx.tenant_id:
            raise NotFound("customer", customer_id)
        if ctx.book is not None:  # whose book it is in takes the whole customer
            return self._load(Customer, customer_id, ctx)
        self._refuse_if_erased(customer_id)
        customer = Customer(customer_id)
        customer.customer_id, customer.tenant_id = customer_id, registered.tenant_id
        customer.region, customer.industry = registered.region, registered.industry
        customer.version = self._current_version(customer)
        return customer

