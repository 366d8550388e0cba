"""The Ed25519 keys of the checkpoints, kept outside the data dir and the database.

- The signing key (`CRM_AUDIT_SIGNING_KEY_FILE`): a PKCS#8 PEM private key, read by whoever
  makes checkpoints (`crm serve`, `crm command-api`, `crm audit checkpoint`). It is read again
  for every checkpoint, so a rotated key is used from the next one on, without a restart.
- The verification keys (`CRM_AUDIT_VERIFY_KEY_FILE`): one or more PEM public keys, every key
  that ever signed (old checkpoints stay verifiable after a rotation). Without that setting
  the public half of the signing key is used.
- The embedded store (SQLite) with neither setting keeps both, and the checkpoint file, in a
  directory beside its data dir — `<data dir>.audit/` — created 0700 on first use with a new
  key pair (0600), announced on stderr. A backup or copy of the data dir does not carry it.

A key is named by its id: the first 16 hex digits of the SHA-256 of its raw public bytes.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.common.settings import Settings

SIGNING_FILE = "signing-key.pem"
VERIFY_FILE = "verify-keys.pem"
CHECKPOINT_FILE = "checkpoints.jsonl"
_PUBLIC_BEGIN = b"-----BEGIN PUBLIC KEY-----"


class AuditKeyError(ValueError):
    """A key file is missing, unreadable, or not an Ed25519 key."""


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    key_id: str
    path: Path

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


class VerifyKeys:
    """The public keys a checkpoint may be signed by, by key id."""

    def __init__(self, keys: dict[str, Ed25519PublicKey], source: str) -> None:
        self.keys = keys
        self.source = source
        """Where they were read from, for messages."""

    def verify(self, key_id: str, signature: bytes, message: bytes) -> bool:
        public = self.keys.get(key_id)
        if public is None:
            return False
        try:
            public.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def embedded_audit_dir(settings: Settings) -> Path | None:
    """`<data dir>.audit/` beside the embedded store's data dir; None for other stores (a
    PostgreSQL deployment runs on several hosts: its keys are configured, never made up)."""
    if settings.store != "sqlite":
        return None
    data_dir = settings.data_dir.absolute()
    return data_dir.parent / f"{data_dir.name}.audit"


def signing_key_path(settings: Settings) -> Path | None:
    if settings.audit_signing_key_file is not None:
        return settings.audit_signing_key_file
    directory = embedded_audit_dir(settings)
    return directory / SIGNING_FILE if directory is not None else None


def verify_key_path(settings: Settings) -> Path | None:
    """The verification key file the settings name (None: derive it from the signing key)."""
    if settings.audit_verify_key_file is not None:
        return settings.audit_verify_key_file
    if settings.audit_signing_key_file is not None:
        return None
    directory = embedded_audit_dir(settings)
    return directory / VERIFY_FILE if directory is not None else None


def checkpoint_file_path(settings: Settings) -> Path | None:
    if settings.audit_checkpoint_file is not None:
        return settings.audit_checkpoint_file
    directory = embedded_audit_dir(settings)
    return directory / CHECKPOINT_FILE if directory is not None else None


def load_signing_key(settings: Settings, *, create: bool) -> SigningKey | None:
    """The signing key, or None when none is configured (a PostgreSQL store without
    `CRM_AUDIT_SIGNING_KEY_FILE`). With `create`, the embedded default pair is made if missing."""
    path = signing_key_path(settings)
    if path is None:
        return None
    if not path.exists():
        if settings.audit_signing_key_file is not None:
            raise AuditKeyError(f"CRM_AUDIT_SIGNING_KEY_FILE {path} does not exist (make one with "
                                "`crm audit rotate-key`)")
        if not create:
            return None
        verify_path = verify_key_path(settings)
        assert verify_path is not None
        write_key_pair(path, verify_path)
        print(f"Created the audit signing key {path} (0600) and its verification key "
              f"{verify_path}: checkpoints of the event log are signed with it. Keep a copy of "
              "the verification key apart from this host (docs/privacy.md \"Tamper evidence\").",
              file=sys.stderr, flush=True)
    return read_signing_key(path)


def read_signing_key(path: Path) -> SigningKey:
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise AuditKeyError(f"cannot read the audit signing key {path}: {exc}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise AuditKeyError(f"{path} is not an Ed25519 private key")
    return SigningKey(private, key_id_of(private.public_key()), path)


def load_verify_keys(settings: Settings, override: Path | None = None) -> VerifyKeys | None:
    """The verification keys: `override` (the command line), else the settings' file, else the
    public half of the signing key; None when there is none at all."""
    path = override or verify_key_path(settings)
    if path is not None:
        if not path.exists():
            if override is not None or settings.audit_verify_key_file is not None:
                raise AuditKeyError(f"the verification key file {path} does not exist")
            return None  # the embedded default, before its first checkpoint
        return read_verify_keys(path)
    signing = signing_key_path(settings)
    if signing is None or not signing.exists():
        return None
    key = read_signing_key(signing)
    return VerifyKeys({key.key_id: key.private.public_key()}, f"the public half of {signing}")


def read_verify_keys(path: Path) -> VerifyKeys:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise AuditKeyError(f"cannot read the verification keys {path}: {exc}") from None
    keys: dict[str, Ed25519PublicKey] = {}
    for block in text.split(_PUBLIC_BEGIN)[1:]:
        try:
            public = serialization.load_pem_public_key(_PUBLIC_BEGIN + block)
        except ValueError as exc:
            raise AuditKeyError(f"{path} holds a key that cannot be read: {exc}") from None
        if not isinstance(public, Ed25519PublicKey):
            raise AuditKeyError(f"{path} holds a key that is not Ed25519")
        keys[key_id_of(public)] = public
    if not keys:
        raise AuditKeyError(f"{path} holds no PEM public key")
    return VerifyKeys(keys, str(path))


def write_key_pair(signing_path: Path, verify_path: Path) -> SigningKey:
    """A new key pair: the private key replaces `signing_path` (0600, atomically), the public key
    is appended to `verify_path` (so the keys that signed before stay there)."""
    private = Ed25519PrivateKey.generate()
    for directory in {signing_path.parent, verify_path.parent}:
        _private_dir(directory)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    temporary = signing_path.with_name(f".{signing_path.name}.{os.getpid()}.new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, signing_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    descriptor = os.open(verify_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "ab") as out:
        out.write(public)
        out.flush()
        os.fsync(out.fileno())
    return SigningKey(private, key_id_of(private.public_key()), signing_path)


def _private_dir(path: Path) -> None:
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):
            path.chmod(0o700)  # mkdir's mode passes through the umask
