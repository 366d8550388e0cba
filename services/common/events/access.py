"""Access events: API keys issued and revoked. Stored as the audit of who was given access,
never published, and never holding a key's secret (only its SHA-256 digest)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, Field

from services.common.events.envelope import CrmEvent


class ApiKeyCreated(CrmEvent):
    """An API key was issued (`aggregate_id` is the key's id; `customer_id` repeats it: a key
    is about no customer)."""

    event_type: ClassVar[str] = "crm.internal.api_key_created"
    internal: ClassVar[bool] = True

    subject: str = Field(min_length=1, max_length=128)
    display_name: str | None = Field(default=None, max_length=200)
    roles: list[str]
    scopes: list[str] = Field(default_factory=list)
    expires_at: AwareDatetime | None = None
    secret_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ApiKeyRevoked(CrmEvent):
    """An API key stopped working."""

    event_type: ClassVar[str] = "crm.internal.api_key_revoked"
    internal: ClassVar[bool] = True

    reason: str | None = Field(default=None, max_length=500)
