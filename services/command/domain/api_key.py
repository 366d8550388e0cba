"""ApiKey: a credential issued to a person or a program, and its revocation."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from services.command.domain.aggregate import AggregateRoot, CommandContext
from services.command.domain.errors import RuleViolation
from services.common.events.access import ApiKeyCreated, ApiKeyRevoked


class ApiKey(AggregateRoot):
    kind = "api_key"
    created_by = ApiKeyCreated

    subject: str
    revoked: bool

    @classmethod
    def issue(cls, key_id: UUID, ctx: CommandContext, *, subject: str, roles: list[str],
              scopes: list[str], expires_at: datetime | None, display_name: str | None,
              secret_sha256: str) -> ApiKey:
        key = cls(key_id)
        key._record(ApiKeyCreated, ctx, customer_id=key_id, subject=subject, roles=roles,
                    scopes=scopes, expires_at=expires_at, display_name=display_name,
                    secret_sha256=secret_sha256)
        return key

    def revoke(self, ctx: CommandContext, reason: str | None) -> None:
        if self.revoked:
            raise RuleViolation("key_revoked", "the key is already revoked")
        self._record(ApiKeyRevoked, ctx, reason=reason)

    def _when_ApiKeyCreated(self, event: ApiKeyCreated) -> None:
        self._when_created(event)
        self.subject, self.revoked = event.subject, False

    def _when_ApiKeyRevoked(self, event: ApiKeyRevoked) -> None:
        self.revoked = True
