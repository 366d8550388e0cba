"""Hand-made tampering with a stored event log, the way someone with database access would do
it: plain SQL on the event store's tables, around the application (no code of ours that
writes events is used). For the tamper-evidence tests on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from services.common.audit_chain.hashing import chain_hash, content_hash, originator_bytes
from services.common.audit_chain.tables import CHAIN_TABLE, CHECKPOINT_TABLE


class Forger:
    """SQL on the events, the chain and the checkpoints of one store."""

    def __init__(self, connect: Any, events: str, chain: str, checkpoints: str, position: str,
                 mark: str, uuid_ids: bool) -> None:
        self._connect = connect
        self.events, self.chain, self.checkpoints = events, chain, checkpoints
        self.position = position
        self.mark = mark
        self.uuid_ids = uuid_ids
        """PostgreSQL stores originator ids as uuid; SQLite as 32 hex digits (events) and
        16-byte blobs (chain)."""

    @classmethod
    def sqlite(cls, path: Path) -> Forger:
        return cls(lambda: sqlite3.connect(path), "stored_events", CHAIN_TABLE,
                   CHECKPOINT_TABLE, "rowid", "?", uuid_ids=False)

    @classmethod
    def postgres(cls, url: str, schema: str) -> Forger:
        import psycopg

        return cls(lambda: psycopg.connect(url), f'"{schema}".chronicle_events',
                   f'"{schema}".{CHAIN_TABLE}', f'"{schema}".{CHECKPOINT_TABLE}',
                   "notification_id", "%s", uuid_ids=True)

    @contextmanager
    def _sql(self) -> Iterator[Any]:
        conn = self._connect()
        try:
            yield conn
            conn.commit()
        finally:
            conn.close()

    def _q(self, text: str) -> str:
        return text.format(e=self.events, c=self.chain, k=self.checkpoints,
                           p=self.position).replace("?", self.mark)

    # -- reading ----------------------------------------------------------------------------

    def event(self, position: int) -> tuple[str, int, str, bytes]:
        """(originator id, version, topic, state) stored at `position`."""
        with self._sql() as conn:
            row = conn.execute(self._q("SELECT originator_id, originator_version, topic, state "
                                       "FROM {e} WHERE {p} = ?"), (position,)).fetchone()
        assert row is not None, f"no event at position {position}"
        return str(row[0]), row[1], row[2], bytes(row[3])

    def event_id(self, position: int) -> str:
        return str(json.loads(self.event(position)[3])["event_id"])

    def positions(self) -> list[int]:
        with self._sql() as conn:
            return [r[0] for r in conn.execute(self._q("SELECT {p} FROM {e} ORDER BY {p}"))]

    # -- tampering --------------------------------------------------------------------------

    def set_actor(self, position: int, actor: str) -> None:
        """An UPDATE of one stored event's state: its actor becomes `actor`."""
        state = json.loads(self.event(position)[3])
        state["actor"] = actor
        with self._sql() as conn:
            conn.execute(self._q("UPDATE {e} SET state = ? WHERE {p} = ?"),
                         (json.dumps(state, separators=(",", ":")).encode(), position))

    def delete(self, position: int) -> None:
        with self._sql() as conn:
            conn.execute(self._q("DELETE FROM {e} WHERE {p} = ?"), (position,))

    def swap(self, first: int, second: int) -> None:
        """The two events exchange positions (rows keep their content)."""
        with self._sql() as conn:
            for old, new in ((first, -1), (second, first), (-1, second)):
                conn.execute(self._q("UPDATE {e} SET {p} = ? WHERE {p} = ?"), (new, old))

    def insert_copy(self, position: int) -> int:
        """A new row, a copy of the event at `position` under another aggregate id; its
        position."""
        _, version, topic, state = self.event(position)
        new_id = uuid.uuid4()
        with self._sql() as conn:
            conn.execute(self._q("INSERT INTO {e} (originator_id, originator_version, topic, "
                                 "state) VALUES (?, ?, ?, ?)"),
                         (new_id if self.uuid_ids else new_id.hex, version, topic, state))
        return max(self.positions())

    def recompute_chain(self) -> None:
        """What a careful forger does after changing events: every chain row recomputed from
        the events as they are now (content, the link to the aggregate's previous event,
        the log-wide chain), so the chain alone shows nothing."""
        with self._sql() as conn:
            events = conn.execute(self._q(
                "SELECT {p}, originator_id, originator_version, topic, state FROM {e} "
                "ORDER BY {p}")).fetchall()
            conn.execute(self._q("DELETE FROM {c}"))
            before, contents = bytes(32), dict[tuple[bytes, int], bytes]()
            for seq, (position, originator_id, version, topic, state) in enumerate(events, 1):
                originator = originator_bytes(originator_id)
                content = content_hash(originator, version, topic, bytes(state))
                previous = contents.get((originator, version - 1), bytes(32))
                before = chain_hash(before, position, seq, content, previous)
                contents[(originator, version)] = content
                conn.execute(self._q("INSERT INTO {c} (position, seq, originator_id, "
                                     "originator_version, content_hash, prev_hash, chain_hash) "
                                     "VALUES (?, ?, ?, ?, ?, ?, ?)"),
                             (position, seq, originator_id if self.uuid_ids else originator,
                              version, content, previous, before))

    def set_chain_previous(self, position: int, value: bytes) -> None:
        """An edit of the chain table itself: one row's link to its aggregate's predecessor."""
        with self._sql() as conn:
            conn.execute(self._q("UPDATE {c} SET prev_hash = ? WHERE position = ?"),
                         (value, position))

    def delete_checkpoints(self) -> None:
        with self._sql() as conn:
            conn.execute(self._q("DELETE FROM {k}"))

    def checkpoint_count(self) -> int:
        with self._sql() as conn:
            return int(conn.execute(self._q("SELECT COUNT(*) FROM {k}")).fetchone()[0])

    def chain_count(self) -> int:
        with self._sql() as conn:
            return int(conn.execute(self._q("SELECT COUNT(*) FROM {c}")).fetchone()[0])
