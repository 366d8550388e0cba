"""The key-encryption key (KEK): it wraps every customer's data key and never touches an event.

`KeyEncryptionKey` is the whole interface a key-management service has to offer — Vault's
transit engine (`encrypt`/`decrypt` with a context), AWS KMS or GCP KMS (`Encrypt`/`Decrypt`
with an encryption context or additional authenticated data) each implement it in a few lines.
`LocalKeyEncryptionKey` is the built-in one: 32 random bytes from `CRM_MASTER_KEY` (base64) or
the file `CRM_MASTER_KEY_FILE` names; the embedded default creates `<data dir>/master.key`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
DEFAULT_FILE_NAME = "master.key"


class MasterKeyError(ValueError):
    """The configured master key is missing, unreadable or malformed (a start-up error)."""


class KeyEncryptionKey(Protocol):
    """Wraps and unwraps data keys. `context` is bound to the result (associated data)."""

    @property
    def key_id(self) -> str:
        """Names this KEK; each wrapped data key records the id of the KEK that wrapped it."""
        ...

    def wrap(self, data_key: bytes, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...


class LocalKeyEncryptionKey:
    """AES-256-GCM with a key held by this process (`nonce || ciphertext+tag`)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"the master key must be {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self._key_id = "local:" + hashlib.sha256(b"chronicle-kek|" + key).hexdigest()[:16]

    @property
    def key_id(self) -> str:
        return self._key_id

    def wrap(self, data_key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context)

    @classmethod
    def generate(cls) -> LocalKeyEncryptionKey:
        return cls(os.urandom(KEY_BYTES))

    @classmethod
    def from_text(cls, text: str, where: str) -> LocalKeyEncryptionKey:
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except ValueError:
            raise MasterKeyError(f"{where} is not base64 (expected {KEY_BYTES} random bytes, "
                                 "e.g. from `crm privacy new-master-key`)") from None
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"{where} holds {len(key)} bytes; a master key is {KEY_BYTES}")
        return cls(key)


def new_master_key_text() -> str:
    """A fresh master key as the text a key file or `CRM_MASTER_KEY` holds."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def write_key_file(path: Path, text: str) -> None:
    """Write a key file readable by its owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.chmod(partial, 0o600)
    os.replace(partial, path)


def load_key_file(path: Path) -> LocalKeyEncryptionKey:
    try:
        text = path.read_text()
    except OSError as exc:
        raise MasterKeyError(f"cannot read the master key file {path}: {exc.strerror}") from None
    return LocalKeyEncryptionKey.from_text(text, f"the master key file {path}")


def embedded_key_file(path: Path) -> LocalKeyEncryptionKey:
    """The embedded default's key file: read it, or create it (0600) on first start."""
    if path.exists():
        return load_key_file(path)
    write_key_file(path, new_master_key_text())
    print(f"Created the master key {path} (0600). It wraps every customer's data key: back it "
          "up apart from the data, or set CRM_MASTER_KEY_FILE to a key kept elsewhere "
          "(docs/privacy.md).", file=sys.stderr)
    return load_key_file(path)
