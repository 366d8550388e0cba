"""API keys: how they look, how they are checked, and the ring of keys a process knows.

A key is `crm_<key id, 32 hex>_<secret, 43 base64url characters = 256 random bits>`. Only the
SHA-256 digest of the secret is stored (in the `ApiKeyCreated` event): the secret is random, so
a plain digest is as safe as a slow hash and costs a microsecond per request. The digest is
compared in constant time.

Every process that serves HTTP keeps a `KeyRing`: the keys issued and revoked, read from the
event store where each issue and revocation is an event. A key the ring does not know makes it
read the events stored since it last looked, so a key created by `crm keys create` in another
process works at once; a revocation made elsewhere takes effect within `refresh_s`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from eventsourcing.utils import get_topic

from services.common.auth.principal import Principal
from services.common.event_store import ChronicleStore, side_table
from services.common.events.access import ApiKeyCreated, ApiKeyRevoked

KEY_PREFIX = "crm_"
_KEY = re.compile(r"^crm_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$")
_TOPICS = (get_topic(ApiKeyCreated), get_topic(ApiKeyRevoked))


class InvalidKey(Exception):
    """Why an API key was refused, safe to show the caller."""


@dataclass(frozen=True)
class NewKey:
    key_id: UUID
    token: str
    """The whole key, shown once."""
    secret_sha256: str


def new_key() -> NewKey:
    key_id = uuid4()
    secret = secrets.token_urlsafe(32)  # 32 random bytes -> 43 characters
    return NewKey(key_id, f"{KEY_PREFIX}{key_id.hex}_{secret}", digest_of(secret))


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


@dataclass
class KeyRecord:
    """What the ring knows of one key (never its secret)."""

    key_id: UUID
    tenant_id: str
    subject: str
    display_name: str | None
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    expires_at: datetime | None
    secret_sha256: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def principal(self) -> Principal:
        return Principal(subject=self.subject, tenants=(self.tenant_id,),
                         roles=frozenset(self.roles), scopes=frozenset(self.scopes),
                         display_name=self.display_name, credential="api_key",
                         key_id=str(self.key_id))

    def describe(self) -> dict[str, object]:
        """The key as `GET /v1/admin/keys` and `crm keys list` show it."""
        return {"key_id": str(self.key_id), "tenant_id": self.tenant_id, "subject": self.subject,
                "display_name": self.display_name, "roles": list(self.roles),
                "scopes": list(self.scopes),
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "created_at": self.created_at.isoformat(), "created_by": self.created_by,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
                "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None}


class KeyRing:
    """The API keys issued in this event store, kept up to date from it."""

    def __init__(self, store: ChronicleStore, refresh_s: float = 1.0) -> None:
        self._store = store
        self._refresh_s = refresh_s
        self._keys: dict[UUID, KeyRecord] = {}
        self._next_position = 1
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self._uses = side_table(store, "crm_api_key_use")
        self._uses.create("key_id TEXT PRIMARY KEY, last_used_at TEXT NOT NULL")
        self._used: dict[UUID, datetime] = {}
        """Uses not yet written down (they are, on the next look at the store)."""

    # -- checking a key ---------------------------------------------------------------------

    def is_fresh(self) -> bool:
        """Whether a check may answer from memory (else `refresh()` first, off the loop)."""
        return time.monotonic() - self._checked_at < self._refresh_s

    def check(self, token: str, now: datetime | None = None) -> Principal:
        """The principal of a valid key; InvalidKey otherwise. Reads the store only when the
        key is unknown here (a key issued since the last look) or the ring is stale."""
        found = _KEY.fullmatch(token)
        if found is None:
            raise InvalidKey("the API key is malformed")
        key_id, secret = UUID(found.group(1)), found.group(2)
        if not self.is_fresh() or key_id not in self._keys:
            self.refresh()
        record = self._keys.get(key_id)
        digest = digest_of(secret)
        if record is None or not hmac.compare_digest(digest, record.secret_sha256):
            raise InvalidKey("the API key is not valid")
        now = now or datetime.now(UTC)
        if record.revoked_at is not None:
            raise InvalidKey("the API key was revoked")
        if record.expires_at is not None and now >= record.expires_at:
            raise InvalidKey("the API key has expired")
        record.last_used_at = self._used[key_id] = now
        return record.principal()

    def still_valid(self, key_id: str, now: datetime | None = None) -> bool:
        """Whether a key this ring accepted is still neither revoked nor expired (what a
        long-lived request, such as an event stream, asks again now and then). Reads the
        store only when the ring is stale."""
        if not self.is_fresh():
            self.refresh()
        record = self._keys.get(UUID(key_id))
        now = now or datetime.now(UTC)
        return record is not None and record.revoked_at is None and (
            record.expires_at is None or now < record.expires_at)

    # -- what the ring knows ----------------------------------------------------------------

    def refresh(self) -> None:
        """Read the key events stored since the last look."""
        with self._lock:
            recorder = self._store.recorder
            while True:
                batch = recorder.select_notifications(self._next_position, 500, topics=_TOPICS)
                for notification in batch:
                    self._apply(self._store.mapper.to_domain_event(notification))
                    self._next_position = notification.id + 1
                if len(batch) < 500:
                    break
            self._write_uses()
            self._checked_at = time.monotonic()

    def _write_uses(self) -> None:
        """Record the latest use of each key used since the last look (every process
        writes its own; the latest wins)."""
        if self._uses.datastore is None:
            return
        used, self._used = self._used, {}
        for key_id, at in used.items():
            self._uses.execute(
                "INSERT INTO {t} AS used (key_id, last_used_at) VALUES (?, ?) ON CONFLICT "
                "(key_id) DO UPDATE SET last_used_at = CASE WHEN excluded.last_used_at > "
                "used.last_used_at THEN excluded.last_used_at ELSE used.last_used_at END",
                (str(key_id), at.astimezone(UTC).isoformat()))

    def _read_uses(self) -> None:
        """The latest use of each key any process recorded (for listing keys)."""
        if self._uses.datastore is None:
            return
        for key_id, at in self._uses.rows("SELECT key_id, last_used_at FROM {t}"):
            record = self._keys.get(UUID(str(key_id)))
            if record is not None:
                seen = datetime.fromisoformat(str(at))
                if record.last_used_at is None or seen > record.last_used_at:
                    record.last_used_at = seen

    def _apply(self, event: object) -> None:
        if isinstance(event, ApiKeyCreated):
            self._keys[event.aggregate_id] = KeyRecord(
                key_id=event.aggregate_id, tenant_id=event.tenant_id, subject=event.subject,
                display_name=event.display_name, roles=tuple(event.roles),
                scopes=tuple(event.scopes), expires_at=event.expires_at,
                secret_sha256=event.secret_sha256, created_at=event.recorded_at,
                created_by=event.actor)
        elif isinstance(event, ApiKeyRevoked) and (record := self._keys.get(event.aggregate_id)):
            record.revoked_at = event.recorded_at

    def keys(self, tenant_id: str | None = None) -> list[KeyRecord]:
        """Every key of a tenant (or of all), oldest first, after a fresh look."""
        self.refresh()
        self._read_uses()
        return sorted((k for k in self._keys.values()
                       if tenant_id is None or k.tenant_id == tenant_id),
                      key=lambda k: k.created_at)

    def get(self, key_id: UUID) -> KeyRecord | None:
        self.refresh()
        self._read_uses()
        return self._keys.get(key_id)
