"""The remembered outcome of a command sent with an idempotency key."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from services.command.domain.aggregate import AggregateRoot, CommandContext
from services.common.events.internal import CommandRecorded

_NAMESPACE = UUID("6c1d1c1e-3f7b-4f0e-9a51-3c2f0d7d2a10")


def idempotency_record_id(tenant_id: str, key: str) -> UUID:
    return uuid5(_NAMESPACE, f"{tenant_id}\x1f{key}")


class IdempotencyRecord(AggregateRoot):
    kind = "idempotency_record"
    created_by = CommandRecorded

    @classmethod
    def remember(
        cls, ctx: CommandContext, *, key: str, fingerprint: str, customer_id: UUID,
        status_code: int, response: dict[str, Any],
    ) -> IdempotencyRecord:
        record = cls(idempotency_record_id(ctx.tenant_id, key))
        record._record(
            CommandRecorded, ctx, customer_id=customer_id, key=key,
            request_fingerprint=fingerprint, status_code=status_code, response=response,
        )
        return record

    def _when_CommandRecorded(self, event: CommandRecorded) -> None:
        self._when_created(event)
        self.fingerprint = event.request_fingerprint
        self.status_code = event.status_code
        self.response = event.response
