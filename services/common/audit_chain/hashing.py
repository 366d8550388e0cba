"""What the hash chain hashes, byte for byte (docs/privacy.md "Tamper evidence").

Every stored event gets three SHA-256 digests:

- `content`: over its canonical content — originator id, originator version, topic and the
  exact stored `state` bytes (whatever is stored: ciphertext for sealed personal fields, so
  erasure, which only destroys keys, never changes a hash);
- `previous`: the `content` of its predecessor in the same aggregate — the event one version
  before it, when that is stored at an earlier position (32 zero bytes for a first event);
- `chain`: over the chain hash of the previous row of the whole log, this row's position and
  sequence number, `content` and `previous` — the log-wide chain, in position order.

Encodings are fixed-width big-endian integers and length-prefixed strings, so no two
different inputs share a byte string.
"""

from __future__ import annotations

from hashlib import sha256
from struct import Struct
from uuid import UUID

GENESIS = bytes(32)
"""The chain hash before the first row, and the `previous` of an aggregate's first event."""

_CONTENT_HEAD = Struct(">H")
_CONTENT_MIDDLE = Struct(">QI")
_UUID_HEAD = Struct(">H16sQI")
_CHAIN_NUMBERS = Struct(">QQ")


def originator_bytes(originator_id: UUID | str | bytes) -> bytes:
    """An originator id as the chain stores and hashes it: a UUID's 16 bytes (whether it comes
    as a UUID or as the 32 hex digits SQLite stores), else its UTF-8 text."""
    if isinstance(originator_id, UUID):
        return originator_id.bytes
    if isinstance(originator_id, bytes):
        return originator_id
    if len(originator_id) == 32:
        try:
            return bytes.fromhex(originator_id)
        except ValueError:
            pass
    return originator_id.encode()


def content_hash(originator: bytes, version: int, topic: str, state: bytes) -> bytes:
    """SHA-256 of one stored event's canonical content (`originator` from originator_bytes)."""
    encoded_topic = topic.encode()
    if len(originator) == 16:  # a UUID: the same bytes as below, packed in one call
        head = _UUID_HEAD.pack(16, originator, version, len(encoded_topic))
    else:
        head = (_CONTENT_HEAD.pack(len(originator)) + originator
                + _CONTENT_MIDDLE.pack(version, len(encoded_topic)))
    return sha256(head + encoded_topic + state).digest()


def chain_hash(before: bytes, position: int, seq: int, content: bytes, previous: bytes) -> bytes:
    """The log-wide chain hash of the row at `position`, the `seq`-th row of the chain."""
    return sha256(before + _CHAIN_NUMBERS.pack(position, seq) + content + previous).digest()
