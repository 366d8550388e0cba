"""A policy's decision: one command, with the rule that issues it and the event that caused it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from services.command.domain.aggregate import CommandContext
from services.command.service import CommandResult, CommandService, Idempotency

Issue = Callable[[CommandService, CommandContext, Idempotency], CommandResult]


@dataclass(frozen=True)
class Action:
    """A command a rule decided on.

    `key` names the decision, not the attempt: the same decision made again (after a crash,
    or before its event came back) carries the same key, and the command service's
    idempotency returns the first result instead of writing again.
    """

    policy: str
    key: str
    tenant_id: str
    rule_id: str
    cause_event_id: UUID
    correlation_id: UUID
    issue: Issue = field(compare=False)
    describe: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def actor(self) -> str:
        return f"rule:{self.rule_id}"

    def context(self, now: datetime) -> CommandContext:
        return CommandContext(actor=self.actor, tenant_id=self.tenant_id,
                              correlation_id=self.correlation_id,
                              causation_id=self.cause_event_id, occurred_at=now)

    def idempotency(self) -> Idempotency:
        return Idempotency(key=self.key, fingerprint=self.key)

    def summary(self) -> dict[str, Any]:
        return {"policy": self.policy, "key": self.key, "tenant_id": self.tenant_id,
                "actor": self.actor, "causation_id": str(self.cause_event_id), **self.describe}
