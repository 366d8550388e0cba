"""Access events: API keys issued and revoked, local accounts added, re-passworded and
disabled. Stored as the audit of who was given access, never published, and never holding a
key's secret (only its SHA-256 digest) or a password or its hash."""

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


class UserAdded(CrmEvent):
    """A local account was added: a person who signs in with a password (`aggregate_id` is the
    account's id, derived from tenant and name; `customer_id` repeats it). The password's hash
    is never in an event: it is kept in a table beside the events (services/common/auth/users.py)."""

    event_type: ClassVar[str] = "crm.internal.user_added"
    internal: ClassVar[bool] = True

    name: str = Field(min_length=1, max_length=128)
    display_name: str | None = Field(default=None, max_length=200)
    roles: list[str]
    teams: list[str] = Field(default_factory=list)


class UserPasswordChanged(CrmEvent):
    """An account's password was set anew (the hash itself is not here); its sessions ended."""

    event_type: ClassVar[str] = "crm.internal.user_password_changed"
    internal: ClassVar[bool] = True


class UserDisabled(CrmEvent):
    """An account may no longer sign in; its sessions ended."""

    event_type: ClassVar[str] = "crm.internal.user_disabled"
    internal: ClassVar[bool] = True

    reason: str | None = Field(default=None, max_length=500)
