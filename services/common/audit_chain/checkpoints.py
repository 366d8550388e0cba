"""Signed checkpoints of the chain: where they are made, kept and sent.

A checkpoint vouches for the chain's head: its position, how many events the chain holds up to
it (`count`), the chain hash there, and when it was signed. The signed message is plain text,
so anyone can check a checkpoint with any Ed25519 tool:

    chronicle-crm audit checkpoint v1
    position <position>
    count <count>
    chain <chain hash, 64 hex digits>
    time <created_at, ISO 8601 UTC>

Each checkpoint is written to the store (`crm_audit_checkpoints`), appended to the checkpoint
file (one JSON line: `Checkpoint.as_json`) and, with Kafka configured, sent to the topic
`crm.audit.checkpoints` (the table is its outbox: `published_at` is set once the broker has
acknowledged it). A forger who rewrites an event and recomputes every later chain hash cannot
make the old checkpoints match, nor sign new ones without the key. A re-chain record
(rechain.py) is a checkpoint of kind `rechain` whose signed text also carries its reason.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.common.audit_chain.keys import (
    SigningKey,
    checkpoint_file_path,
    load_signing_key,
)
from services.common.audit_chain.tables import ChainHead, ChainTables, CheckpointRow
from services.common.settings import Settings

log = logging.getLogger("chronicle.audit")

CHECKPOINT, RECHAIN = "checkpoint", "rechain"
MESSAGE_TYPES = {CHECKPOINT: "crm.audit.checkpoint", RECHAIN: "crm.audit.rechain"}
POLL_S = 1.0
"""How often the checkpointer looks at the chain's head (one indexed read of one row)."""
MAX_RETRY_S = 30.0


class CheckpointFileError(ValueError):
    """A line of the checkpoint file is not a checkpoint."""


def checkpoint_message(position: int, count: int, chain_hash: bytes, created_at: str,
                       kind: str = CHECKPOINT, reason: str | None = None) -> bytes:
    """The exact bytes a checkpoint's (or a re-chain's) signature covers."""
    text = (f"chronicle-crm audit {kind} v1\nposition {position}\ncount {count}\n"
            f"chain {chain_hash.hex()}\ntime {created_at}\n")
    if kind == RECHAIN:
        text += f"reason {reason or ''}\n"
    return text.encode()


@dataclass(frozen=True)
class Checkpoint:
    position: int
    count: int
    chain_hash: bytes
    created_at: str
    key_id: str
    signature: bytes
    kind: str = CHECKPOINT
    """`checkpoint`, or `rechain`: the chain was rebuilt on purpose (rechain.py); checkpoints
    signed before it vouch for the old chain and are superseded."""
    reason: str | None = None
    """Why a re-chain was made."""
    source: str = field(default="store", compare=False)
    """Where it was read from: `store`, or the checkpoint file's path."""

    def message(self) -> bytes:
        return checkpoint_message(self.position, self.count, self.chain_hash, self.created_at,
                                  self.kind, self.reason)

    def row(self) -> CheckpointRow:
        return (self.position, self.count, self.chain_hash, self.created_at, self.key_id,
                self.signature, self.kind, self.reason)

    @classmethod
    def from_row(cls, row: CheckpointRow, source: str = "store") -> Checkpoint:
        return cls(*row, source=source)

    def as_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "type": MESSAGE_TYPES[self.kind], "version": 1, "position": self.position,
            "count": self.count, "chain_hash": self.chain_hash.hex(),
            "created_at": self.created_at, "algorithm": "Ed25519", "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode()}
        if self.kind == RECHAIN:
            value["reason"] = self.reason
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any], source: str) -> Checkpoint:
        kinds = {message_type: kind for kind, message_type in MESSAGE_TYPES.items()}
        return cls(int(value["position"]), int(value["count"]), bytes.fromhex(value["chain_hash"]),
                   str(value["created_at"]), str(value["key_id"]),
                   base64.b64decode(value["signature"], validate=True),
                   kinds[value.get("type", MESSAGE_TYPES[CHECKPOINT])], value.get("reason"),
                   source)


def sign(key: SigningKey, head: ChainHead, *, kind: str = CHECKPOINT,
         reason: str | None = None, now: datetime | None = None) -> Checkpoint:
    created_at = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    message = checkpoint_message(head.position, head.seq, head.chain, created_at, kind, reason)
    return Checkpoint(head.position, head.seq, head.chain, created_at, key.key_id,
                      key.sign(message), kind, reason)


def sign_head(tables: ChainTables, key: SigningKey, now: datetime | None = None
              ) -> Checkpoint | None:
    """A signed checkpoint of the chain's head, stored; None when the chain is empty or its head
    already has a checkpoint (another process may have made it: at most one per position)."""
    with tables.snapshot() as cursor:
        head = tables.head(cursor)
    if head.seq == 0:
        return None
    checkpoint = sign(key, head, now=now)
    with tables.plain_write() as cursor:
        stored = tables.insert_checkpoint(cursor, checkpoint.row())
    return checkpoint if stored else None


def stored_checkpoints(tables: ChainTables, since: int = 0) -> list[Checkpoint]:
    with tables.snapshot() as cursor:
        return [Checkpoint.from_row(row) for row in tables.checkpoint_rows(cursor, since)]


def append_to_file(path: Path, checkpoint: Checkpoint) -> None:
    """One JSON line, flushed to disk before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a") as out:
        out.write(json.dumps(checkpoint.as_json(), separators=(",", ":")) + "\n")
        out.flush()
        os.fsync(out.fileno())


def read_file(path: Path) -> list[Checkpoint]:
    """Every checkpoint in a checkpoint file (missing file: none)."""
    if not path.exists():
        return []
    found: list[Checkpoint] = []
    with path.open() as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                found.append(Checkpoint.from_json(json.loads(line), str(path)))
            except (ValueError, KeyError, TypeError) as exc:
                raise CheckpointFileError(f"{path} line {number} is not a checkpoint: {exc}") \
                    from None
    return found


class CheckpointSender:
    """Sends stored checkpoints that the topic has not acknowledged yet (the table is the
    outbox), then marks them sent."""

    def __init__(self, tables: ChainTables, settings: Settings) -> None:
        from services.common.kafka_clients import kafka_client_config

        self._tables = tables
        self._topic = settings.audit_checkpoint_topic
        self._config = kafka_client_config(settings)
        self._producer: Any = None

    def send_pending(self) -> int:
        with self._tables.snapshot() as cursor:
            pending = [Checkpoint.from_row(row) for row in self._tables.unpublished(cursor)]
        if not pending:
            return 0
        producer = self._connected()
        futures = [producer.send(self._topic, key=b"checkpoint",
                                 value=json.dumps(c.as_json(), separators=(",", ":")).encode())
                   for c in pending]
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=0)  # raises the delivery error of a failed send
        with self._tables.plain_write() as cursor:
            self._tables.mark_published(cursor, [c.position for c in pending],
                                        datetime.now(UTC).isoformat())
        return len(pending)

    def _connected(self) -> Any:
        if self._producer is None:
            from kafka import KafkaProducer

            from services.common.kafka_topics import ensure_topic

            ensure_topic(self._config, self._topic, 1)  # one partition: one order
            self._producer = KafkaProducer(**self._config, acks="all", enable_idempotence=True,
                                           client_id="chronicle-audit", request_timeout_ms=15_000,
                                           delivery_timeout_ms=30_000, max_block_ms=15_000)
        return self._producer

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=5)
            except Exception as exc:  # a broken producer: nothing left to save
                log.debug("closing the checkpoint producer failed: %s", exc)


class Checkpointer:
    """Makes a checkpoint when `every_events` new events were chained since the last one, or
    `interval_s` passed and there is anything new; and one when it stops. Each goes to the
    store, the checkpoint file and (with Kafka) the topic.

    `checkpoint()` does one now; `run_until_stopped(stop)` is the loop `crm serve` and
    `crm command-api` run in a thread (services/bootstrap.py).
    """

    def __init__(self, tables: ChainTables, settings: Settings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._tables = tables
        self._settings = settings
        self._file = checkpoint_file_path(settings)
        self._sender = CheckpointSender(tables, settings) if settings.kafka_bootstrap else None
        self._clock = clock
        self._last_made = clock()
        self._lock = threading.Lock()
        self._unsent = True

    @property
    def file(self) -> Path | None:
        return self._file

    @property
    def topic(self) -> str | None:
        return self._settings.audit_checkpoint_topic if self._sender is not None else None

    def checkpoint(self, *, send: bool = True) -> Checkpoint | None:
        """Sign the chain's head now (None: empty, or its head already has one); then, with
        `send`, send whatever the topic still lacks."""
        with self._lock:
            key = load_signing_key(self._settings, create=True)
            if key is None:
                raise RuntimeError("no audit signing key: set CRM_AUDIT_SIGNING_KEY_FILE")
            made = sign_head(self._tables, key)
            self._last_made = self._clock()
            if made is not None and self._file is not None:
                append_to_file(self._file, made)
            if made is not None:
                self._unsent = True
                log.info("audit checkpoint at position %d (%d events, key %s)", made.position,
                         made.count, made.key_id)
            if send:
                self.send_pending()
            return made

    def send_pending(self) -> int:
        """Send what the topic lacks: looked for at start, and after each checkpoint or failure."""
        if self._sender is None or not self._unsent:
            return 0
        sent = self._sender.send_pending()
        self._unsent = False
        return sent

    def due(self) -> bool:
        with self._tables.snapshot() as cursor:
            head = self._tables.head(cursor)
            last = self._tables.last_checkpoint(cursor)
        new = head.seq - (last[1] if last is not None else 0)
        if new <= 0:
            return False
        return new >= self._settings.audit_checkpoint_every_events or \
            self._clock() - self._last_made >= self._settings.audit_checkpoint_interval_s

    def run_until_stopped(self, stop: threading.Event) -> None:
        """Checkpoint when due until `stop` is set, then once more for the tail (stored and
        written to the file; the topic gets it from the next process). Failures (the
        database or broker away) are logged and retried at the next look; nothing is lost, as
        the chain itself is written with the events."""
        pause = POLL_S
        while not stop.wait(pause):
            try:
                if self.due():
                    self.checkpoint()
                else:
                    self.send_pending()
                pause = POLL_S
            except Exception as exc:
                pause = min(pause * 2, MAX_RETRY_S)
                log.warning("audit checkpoint failed (%s: %s); retrying in %.0fs",
                            type(exc).__name__, exc, pause)
        try:
            # Not sent now: stopping never waits on a broker; the next start sends it.
            self.checkpoint(send=False)
        except Exception as exc:
            log.warning("the final audit checkpoint failed: %s", exc)

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()


def checkpointer_for(store: Any, settings: Settings) -> Checkpointer | None:
    """The checkpointer a process that writes events runs beside them; None when the store
    keeps no chain (in memory) or no signing key is configured (PostgreSQL without
    `CRM_AUDIT_SIGNING_KEY_FILE`: the log is still chained, but nothing is signed). The
    embedded store's default key pair is created here, on first start."""
    from services.common.audit_chain.tables import chain_tables_of

    tables = chain_tables_of(store)
    if tables is None:
        return None
    if load_signing_key(settings, create=True) is None:
        log.warning("no CRM_AUDIT_SIGNING_KEY_FILE: the event log is hash-chained, but no "
                    "checkpoints are signed, so a forger who recomputes the chain goes unseen "
                    "(docs/privacy.md \"Tamper evidence\")")
        return None
    return Checkpointer(tables, settings)
