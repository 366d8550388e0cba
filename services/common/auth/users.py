"""Local accounts: people who sign in with a name and a password (docs/security.md, "Signing
in").

An account is event-sourced like an API key: `UserAdded`, `UserPasswordChanged` and
`UserDisabled` are internal events (never published), so the store keeps who added, changed or
disabled whom, and when. The password's argon2id hash is never in an event: it is kept in a
table beside the events (`crm_user_passwords`), which no export, topic or history route reads.
An account's name is the id it acts as (the `actor` of what it writes, an owner or assignee);
its id is derived from tenant and name, so a name is taken once per tenant.

`UserDirectory` is what a serving process knows of the accounts, read from the events as the
key ring reads keys.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from eventsourcing.utils import get_topic

from services.common.auth.principal import Principal
from services.common.event_store import ChronicleStore, side_table
from services.common.events.access import UserAdded, UserDisabled, UserPasswordChanged

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
USER_ROLES_EXCLUDED = ("integration",)
"""A person's account takes any role but `integration` (a program's key, with scopes)."""
TEAM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PASSWORDS_TABLE = "crm_user_passwords"
_NAMESPACE = uuid.UUID("5b0b7c38-1f4e-4b57-9a52-3c1f6f0c2a11")
_TOPICS = (get_topic(UserAdded), get_topic(UserPasswordChanged), get_topic(UserDisabled))

# A small built-in refusal list: the commonest passwords of 12 characters or more, and the
# patterns they are made of. Not a full breach corpus.
_COMMON = frozenset({
    "password1234", "password12345", "password123456", "passwordpassword", "123456789012",
    "1234567890123", "12345678901234", "qwertyuiop12", "qwertyuiopasdf", "qwerty123456",
    "1q2w3e4r5t6y", "iloveyou1234", "letmein12345", "welcome12345", "administrator",
    "changeme1234", "abcdefghijkl", "abc123abc123", "asdfghjkl123", "zaq12wsxcde3",
    "football1234", "baseball1234", "monkey123456", "sunshine1234", "princess1234",
    "trustno1trustno1", "passw0rd1234", "p@ssw0rd1234", "correcthorsebatterystaple",
})
_HASHER = PasswordHasher()  # argon2id, RFC 9106's second recommended parameters
_DUMMY_HASH: str | None = None


class WeakPassword(ValueError):
    """Why a password was refused, safe to show (it never quotes the password)."""


def check_password(password: str, name: str) -> str:
    """The password, or WeakPassword: at least 12 characters, at most 1024, not one of the
    commonest, not one character repeated, not the account's name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    folded = password.lower()
    if folded in _COMMON or len(set(folded)) <= 2 or name.lower() in folded:
        raise WeakPassword("this password is too easy to guess (a common one, one or two "
                           "characters repeated, or the account's name): choose another")
    return password


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash (an unknown account) a dummy one is checked,
    so the answer takes about as long either way."""
    global _DUMMY_HASH
    if stored_hash is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = _HASHER.hash(uuid.uuid4().hex)
        stored_hash = _DUMMY_HASH
        matches = False
    else:
        matches = True
    try:
        _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return matches


def user_id_of(tenant_id: str, name: str) -> uuid.UUID:
    """The account id of a name in a tenant (one account per name and tenant)."""
    return uuid.uuid5(_NAMESPACE, f"{tenant_id}\n{name}")


@dataclass
class UserRecord:
    """What a process knows of one account (never its password or hash)."""

    user_id: uuid.UUID
    tenant_id: str
    name: str
    display_name: str | None
    roles: tuple[str, ...]
    teams: tuple[str, ...]
    created_at: datetime
    created_by: str
    password_changed_at: datetime | None = None
    disabled_at: datetime | None = None
    disabled_by: str | None = None

    def principal(self) -> Principal:
        return Principal(subject=self.name, tenants=(self.tenant_id,),
                         roles=frozenset(self.roles), teams=frozenset(self.teams),
                         display_name=self.display_name, credential="session")

    def describe(self) -> dict[str, Any]:
        def moment(value: datetime | None) -> str | None:
            return value.isoformat(timespec="seconds") if value else None

        return {"user_id": str(self.user_id), "tenant_id": self.tenant_id, "name": self.name,
                "display_name": self.display_name, "roles": list(self.roles),
                "teams": list(self.teams), "created_at": moment(self.created_at),
                "created_by": self.created_by,
                "password_changed_at": moment(self.password_changed_at),
                "disabled_at": moment(self.disabled_at), "disabled_by": self.disabled_by}


class Passwords:
    """The accounts' password hashes, in a table beside the events (in memory for the
    in-memory store)."""

    def __init__(self, store: ChronicleStore) -> None:
        self._table = side_table(store, PASSWORDS_TABLE)
        self._table.create("tenant_id TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, "
                           "changed_at TEXT NOT NULL, PRIMARY KEY (tenant_id, name)")
        # The in-memory store's hashes, shared by every Passwords object on that store.
        self._memory: dict[tuple[str, str], str] = store.__dict__.setdefault(
            "_crm_user_passwords", {})

    def set(self, tenant_id: str, name: str, password_hash: str) -> None:
        if self._table.datastore is None:
            self._memory[(tenant_id, name)] = password_hash
            return
        self._table.execute(
            "INSERT INTO {t} (tenant_id, name, hash, changed_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (tenant_id, name) DO UPDATE SET hash = excluded.hash, "
            "changed_at = excluded.changed_at",
            (tenant_id, name, password_hash, datetime.now(UTC).isoformat()))

    def get(self, tenant_id: str, name: str) -> str | None:
        if self._table.datastore is None:
            return self._memory.get((tenant_id, name))
        rows = self._table.rows("SELECT hash FROM {t} WHERE tenant_id = ? AND name = ?",
                                (tenant_id, name))
        return str(rows[0][0]) if rows else None


class UserDirectory:
    """The local accounts of an event store, kept up to date from its events."""

    def __init__(self, store: ChronicleStore, refresh_s: float = 1.0) -> None:
        self._store = store
        self._refresh_s = refresh_s
        self._users: dict[uuid.UUID, UserRecord] = {}
        self._next_position = 1
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self.passwords = Passwords(store)

    def refresh(self) -> None:
        """Read the account events stored since the last look."""
        with self._lock:
            recorder = self._store.recorder
            while True:
                batch = recorder.select_notifications(self._next_position, 500, topics=_TOPICS)
                for notification in batch:
                    self._apply(self._store.mapper.to_domain_event(notification))
                    self._next_position = notification.id + 1
                if len(batch) < 500:
                    break
            self._checked_at = time.monotonic()

    def _apply(self, event: object) -> None:
        if isinstance(event, UserAdded):
            self._users[event.aggregate_id] = UserRecord(
                user_id=event.aggregate_id, tenant_id=event.tenant_id, name=event.name,
                display_name=event.display_name, roles=tuple(event.roles),
                teams=tuple(event.teams), created_at=event.recorded_at, created_by=event.actor,
                password_changed_at=event.recorded_at)
        elif isinstance(event, UserPasswordChanged) and (
                record := self._users.get(event.aggregate_id)):
            record.password_changed_at = event.recorded_at
        elif isinstance(event, UserDisabled) and (record := self._users.get(event.aggregate_id)):
            record.disabled_at, record.disabled_by = event.recorded_at, event.actor

    def get(self, tenant_id: str, name: str, fresh: bool = False) -> UserRecord | None:
        """The account of `name` in a tenant (disabled or not); reads the store when asked
        for `fresh`, when the directory is stale, or when the account is unknown here."""
        user_id = user_id_of(tenant_id, name)
        if fresh or time.monotonic() - self._checked_at >= self._refresh_s \
                or user_id not in self._users:
            self.refresh()
        return self._users.get(user_id)

    def users(self, tenant_id: str | None = None) -> list[UserRecord]:
        """Every account of a tenant (or of all), oldest first, after a fresh look."""
        self.refresh()
        return sorted((u for u in self._users.values()
                       if tenant_id is None or u.tenant_id == tenant_id),
                      key=lambda u: u.created_at)
