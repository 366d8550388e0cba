"""Rebuilding the chain on purpose, after a sanctioned rewrite of stored events.

The log is never rewritten in normal operation; a migration that must rewrite stored bytes
(say, sealing personal fields of events stored in plain text before sealing existed) breaks
the chain exactly as a forger would. `rechain` then recomputes every chain row from the events
as they are, deletes the store's checkpoints (they vouch for the old chain) and signs a
re-chain record — a checkpoint of the new head that also carries the reason — into the store,
the checkpoint file and the topic. `crm audit verify` names it on every run afterwards, and
treats every checkpoint signed before it (the copies in the file and on the topic) as
superseded. Only the holder of the signing key can do this, and it cannot be done quietly.
"""

from __future__ import annotations

from typing import Any

from services.common.audit_chain.checkpoints import (
    RECHAIN,
    Checkpoint,
    append_to_file,
    sign,
)
from services.common.audit_chain.keys import checkpoint_file_path, load_signing_key
from services.common.audit_chain.recorders import chain_from_start
from services.common.audit_chain.tables import chain_tables_of
from services.common.settings import Settings


class RechainRefused(RuntimeError):
    """No chain to rebuild, no events, or no signing key."""


def rechain(store: Any, settings: Settings, reason: str) -> Checkpoint:
    """Rebuild the chain of `store` from its events as they are now; the signed re-chain
    record. One transaction under the write lock: writers wait, then extend the new chain."""
    if not reason.strip():
        raise RechainRefused("a re-chain needs a reason (it is signed and shown by every verify)")
    tables = chain_tables_of(store)
    if tables is None:
        raise RechainRefused("the in-memory store keeps no chain")
    key = load_signing_key(settings, create=True)
    if key is None:
        raise RechainRefused("no audit signing key: set CRM_AUDIT_SIGNING_KEY_FILE")
    with tables.writing() as cursor:
        tables.clear(cursor)
        head = chain_from_start(tables, cursor)
        if head.seq == 0:
            raise RechainRefused("the store holds no events")
        record = sign(key, head, kind=RECHAIN, reason=" ".join(reason.split()))
        tables.insert_checkpoint(cursor, record.row())
    file = checkpoint_file_path(settings)
    if file is not None:
        append_to_file(file, record)
    return record
