"""Per-customer data keys: seal personal data under them, destroy one to forget a customer.

Each customer gets a random AES-256 data key on the first personal value sealed for it. Keys
are kept in the table `crm_data_keys` beside the events (the SQLite file, or the PostgreSQL
schema), wrapped by the key-encryption key (master_key.py). Destroying a customer's key deletes
its row and records the destruction in `crm_key_destructions`; every process drops its cached
copy within a second (`REFRESH_S`), and from then on nothing sealed under it can be opened by
anyone: crypto-shredding.

A sealed value is a small JSON object, the same in the store, on the topic and in read models:
`{"alg": "A256GCM", "kid": <key id>, "iv": <nonce>, "ct": <ciphertext and tag>}` (base64url),
with the customer id and a context id (the event id) as associated data, so a sealed value
moved to another customer or event no longer opens.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.common.privacy.master_key import KEY_BYTES, NONCE_BYTES, KeyEncryptionKey

if TYPE_CHECKING:
    from services.common.event_store import SideTable

ALGORITHM = "A256GCM"
REFRESH_S = 1.0
"""How stale a process's view of destroyed keys may be."""
ALIVE_CACHE_SIZE = 200_000
KEY_TABLE = "crm_data_keys"
DESTRUCTION_TABLE = "crm_key_destructions"

Sealed = dict[str, str]


class CustomerForgotten(Exception):
    """The customer's data key was destroyed: nothing personal can be sealed for it again."""

    def __init__(self, owner: str) -> None:
        super().__init__(f"the personal data of {owner} was erased")
        self.owner = owner


class UnreadableSealedValue(ValueError):
    """A sealed value whose key exists but that does not open: it was altered or moved."""


def is_sealed(value: object) -> bool:
    return isinstance(value, dict) and value.get("alg") == ALGORITHM and "ct" in value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _wrap_context(owner: str, key_id: str) -> bytes:
    return f"chronicle-data-key|{owner}|{key_id}".encode()


def _seal_context(owner: str, context_id: str) -> bytes:
    return f"{owner}|{context_id}".encode()


class PersonalDataVault:
    """Seals and opens personal values under their customer's data key (see module doc).

    `keys` and `destructions` are the two side tables, or None for the in-memory store, whose
    keys then live (and die) with the process.
    """

    def __init__(self, kek: KeyEncryptionKey, keys: SideTable | None,
                 destructions: SideTable | None, clock: Callable[[], float] = time.monotonic,
                 ) -> None:
        self._kek = kek
        self._keys = keys if keys is not None and keys.datastore is not None else None
        self._destructions = destructions if self._keys is not None else None
        self._clock = clock
        self._lock = threading.Lock()
        self._by_owner: dict[str, tuple[str, AESGCM]] = {}
        self._secrets: dict[str, bytes] = {}
        self._by_key_id: dict[str, AESGCM] = {}
        self._gone_key_ids: set[str] = set()
        self._gone_owners: set[str] = set()
        self._alive_owners: set[str] = set()
        """Owners seen with no destroyed key (forgotten again when a destruction arrives)."""
        self._memory_rows: dict[str, tuple[str, bytes]] = {}  # owner -> (key id, raw key)
        self._last_destruction = 0
        self._checked_at = float("-inf")
        if self._keys is not None and self._destructions is not None:
            self._create_tables()
            self._last_destruction = self._latest_destruction()
            self._checked_at = clock()

    @property
    def kek_id(self) -> str:
        return self._kek.key_id

    # -- sealing -------------------------------------------------------------------------------

    def seal(self, owner: UUID | str, context_id: UUID | str, value: dict[str, Any]) -> Sealed:
        """`value` as a sealed object under the owner's data key (created on first use)."""
        owner_text = str(owner)
        key_id, aead = self._current_key(owner_text)
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        ciphertext = aead.encrypt(nonce, plaintext, _seal_context(owner_text, str(context_id)))
        return {"alg": ALGORITHM, "kid": key_id, "iv": _b64(nonce), "ct": _b64(ciphertext)}

    def open(self, owner: UUID | str, context_id: UUID | str, sealed: Sealed) -> Any | None:
        """The sealed value, or None when its key was destroyed (the customer was erased)."""
        self._refresh()
        key_id = sealed.get("kid", "")
        aead = self._by_key_id.get(key_id)
        if aead is None:
            aead = self._load_key(key_id)
            if aead is None:
                return None
        owner_text = str(owner)
        try:
            plaintext = aead.decrypt(_unb64(sealed["iv"]), _unb64(sealed["ct"]),
                                     _seal_context(owner_text, str(context_id)))
        except (InvalidTag, KeyError, ValueError):
            raise UnreadableSealedValue(
                f"a sealed value of {owner_text} does not open under its key {key_id}: it "
                "was altered, or moved from another customer or event") from None
        return json.loads(plaintext)

    def search_key(self, tenant_id: str) -> bytes:
        """The tenant's key for blind search tokens (HMAC): a data key of its own, never
        destroyed with a customer, so a token names no person without it."""
        owner = f"search:{tenant_id}"
        found = self._secrets.get(owner)
        if found is None:
            with self._lock:
                key_id, raw = self._stored_or_new_key(owner)
                found = self._secrets[owner] = raw
        return found

    # -- erasure -------------------------------------------------------------------------------

    def destroy(self, owner: UUID | str) -> bool:
        """Destroy the owner's data key. True if there was one. Irreversible by design."""
        owner_text = str(owner)
        now = datetime.now(UTC).isoformat()
        with self._lock:
            existed = False
            if self._keys is None or self._destructions is None:
                existed = self._memory_rows.pop(owner_text, None) is not None
            else:
                rows = self._keys.rows("SELECT key_id FROM {t} WHERE owner = ?", (owner_text,))
                existed = bool(rows)
                self._delete_key_row(owner_text)
                self._destructions.execute(
                    "INSERT INTO {t} (owner, key_id, destroyed_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (owner) DO NOTHING",
                    (owner_text, rows[0][0] if rows else None, now))
            self._forget(owner_text)
        return existed

    def is_destroyed(self, owner: UUID | str) -> bool:
        owner_text = str(owner)
        self._refresh()
        if owner_text in self._gone_owners:
            return True
        if owner_text in self._alive_owners or self._destructions is None:
            return False
        found = self._destructions.rows("SELECT 1 FROM {t} WHERE owner = ?", (owner_text,))
        with self._lock:
            if found:
                self._gone_owners.add(owner_text)
            else:
                if len(self._alive_owners) >= ALIVE_CACHE_SIZE:
                    self._alive_owners.clear()
                self._alive_owners.add(owner_text)
        return bool(found)

    # -- key-encryption-key rotation ----------------------------------------------------------

    def rewrap(self, new_kek: KeyEncryptionKey,
               progress: Callable[[int, int], None] | None = None) -> int:
        """Re-wrap every data key under `new_kek`, in one transaction; no event is touched.
        Returns how many keys were re-wrapped. The vault uses `new_kek` afterwards."""
        with self._lock:
            if self._keys is None:
                self._kek = new_kek
                return len(self._memory_rows)
            rows = self._keys.rows("SELECT owner, key_id, kek_id, wrapped FROM {t}")
            assert self._keys.datastore is not None
            statement = (f"UPDATE {self._keys.name} SET kek_id = {self._keys.mark}, "
                         f"wrapped = {self._keys.mark} WHERE owner = {self._keys.mark}")
            done = 0
            with self._keys.datastore.transaction(commit=True) as cursor:
                for owner, key_id, kek_id, wrapped in rows:
                    if kek_id != self._kek.key_id:
                        raise ValueError(f"the data key of {owner} is wrapped by {kek_id}, not "
                                         f"by the current master key {self._kek.key_id}")
                    context = _wrap_context(owner, key_id)
                    raw = self._kek.unwrap(_unb64(wrapped), context)
                    cursor.execute(statement, (new_kek.key_id,
                                               _b64(new_kek.wrap(raw, context)), owner))
                    done += 1
                    if progress is not None:
                        progress(done, len(rows))
            self._kek = new_kek
            return done

    def key_count(self) -> int:
        if self._keys is None:
            return len(self._memory_rows)
        return int(self._keys.rows("SELECT COUNT(*) FROM {t}")[0][0])

    # -- internals -----------------------------------------------------------------------------

    def _current_key(self, owner: str) -> tuple[str, AESGCM]:
        self._refresh()
        found = self._by_owner.get(owner)
        if found is not None:
            return found
        with self._lock:
            found = self._by_owner.get(owner)
            if found is not None:
                return found
            if owner in self._gone_owners:
                raise CustomerForgotten(owner)
            key_id, raw = self._stored_or_new_key(owner)
            aead = AESGCM(raw)
            self._by_owner[owner] = (key_id, aead)
            self._by_key_id[key_id] = aead
            return key_id, aead

    def _stored_or_new_key(self, owner: str) -> tuple[str, bytes]:
        if self._keys is None or self._destructions is None:
            if owner not in self._memory_rows:
                self._memory_rows[owner] = (os.urandom(8).hex(), AESGCM.generate_key(KEY_BYTES * 8))
            return self._memory_rows[owner]
        if self._destructions.rows("SELECT 1 FROM {t} WHERE owner = ?", (owner,)):
            self._gone_owners.add(owner)
            raise CustomerForgotten(owner)
        key_id = os.urandom(12).hex()
        raw = AESGCM.generate_key(KEY_BYTES * 8)
        wrapped = _b64(self._kek.wrap(raw, _wrap_context(owner, key_id)))
        # Another process may create the owner's key at the same moment: the first one wins
        # and both use it.
        self._keys.execute(
            "INSERT INTO {t} (owner, key_id, kek_id, wrapped, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (owner) DO NOTHING",
            (owner, key_id, self._kek.key_id, wrapped, datetime.now(UTC).isoformat()))
        stored = self._keys.rows("SELECT key_id, kek_id, wrapped FROM {t} WHERE owner = ?",
                                 (owner,))
        return stored[0][0], self._unwrap(owner, *stored[0])

    def _load_key(self, key_id: str) -> AESGCM | None:
        if key_id in self._gone_key_ids:
            return None
        if self._keys is None:
            for key, raw in self._memory_rows.values():
                if key == key_id:
                    self._by_key_id[key_id] = AESGCM(raw)
                    return self._by_key_id[key_id]
            return None
        rows = self._keys.rows("SELECT owner, key_id, kek_id, wrapped FROM {t} WHERE key_id = ?",
                               (key_id,))
        if not rows:
            self._gone_key_ids.add(key_id)  # key ids are random: a missing one never returns
            return None
        owner, _, kek_id, wrapped = rows[0]
        aead = AESGCM(self._unwrap(owner, key_id, kek_id, wrapped))
        with self._lock:
            self._by_key_id[key_id] = aead
            self._by_owner.setdefault(owner, (key_id, aead))
        return aead

    def _unwrap(self, owner: str, key_id: str, kek_id: str, wrapped: str) -> bytes:
        if kek_id != self._kek.key_id:
            raise ValueError(
                f"the data key {key_id} is wrapped by master key {kek_id}, but this process has "
                f"{self._kek.key_id}: CRM_MASTER_KEY(_FILE) points at another key")
        return self._kek.unwrap(_unb64(wrapped), _wrap_context(owner, key_id))

    def _forget(self, owner: str) -> None:
        """Drop every cached trace of the owner's key (call with the lock held)."""
        self._gone_owners.add(owner)
        self._alive_owners.discard(owner)
        entry = self._by_owner.pop(owner, None)
        if entry is not None:
            self._by_key_id.pop(entry[0], None)
            self._gone_key_ids.add(entry[0])

    def _refresh(self) -> None:
        """Learn of keys other processes destroyed since the last look (at most once per
        REFRESH_S)."""
        if self._destructions is None:
            return
        now = self._clock()
        if now - self._checked_at < REFRESH_S:
            return
        with self._lock:
            if now - self._checked_at < REFRESH_S:
                return
            rows = self._destructions.rows(
                "SELECT seq, owner, key_id FROM {t} WHERE seq > ? ORDER BY seq",
                (self._last_destruction,))
            for seq, owner, key_id in rows:
                self._forget(owner)
                if key_id:
                    self._by_key_id.pop(key_id, None)
                    self._gone_key_ids.add(key_id)
                self._last_destruction = max(self._last_destruction, int(seq))
            self._checked_at = now

    def _latest_destruction(self) -> int:
        assert self._destructions is not None
        return int(self._destructions.rows("SELECT COALESCE(MAX(seq), 0) FROM {t}")[0][0])

    def _create_tables(self) -> None:
        assert self._keys is not None and self._destructions is not None
        sequence = ("seq INTEGER PRIMARY KEY AUTOINCREMENT" if self._keys.mark == "?"
                    else "seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
        self._keys.create("owner TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE, "
                          "kek_id TEXT NOT NULL, wrapped TEXT NOT NULL, created_at TEXT NOT NULL")
        self._destructions.create(f"{sequence}, owner TEXT NOT NULL UNIQUE, key_id TEXT, "
                                  "destroyed_at TEXT NOT NULL")

    def _delete_key_row(self, owner: str) -> None:
        """Delete the key's row so that no page of the file keeps its bytes (SQLite: secure
        delete, then the write-ahead log is emptied into the file and truncated)."""
        assert self._keys is not None and self._keys.datastore is not None
        sqlite = self._keys.mark == "?"
        with self._keys.datastore.transaction(commit=True) as cursor:
            if sqlite:
                cursor.execute("PRAGMA secure_delete = ON")
            cursor.execute(f"DELETE FROM {self._keys.name} WHERE owner = {self._keys.mark}",
                           (owner,))
        if sqlite:
            with self._keys.datastore.transaction(commit=False) as cursor:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
