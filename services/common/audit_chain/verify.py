"""Recomputes the whole chain from the stored events and checks every checkpoint.

One pass over the events and the chain rows in position order, from one snapshot of the
store, stopping at the first thing that breaks:

| how | meaning |
|---|---|
| content changed | the stored event no longer hashes to what the chain recorded for it |
| event missing | the chain records an event at this position that is no longer stored |
| reordered | the event stands at another position than the chain recorded it at |
| inserted | a stored event the chain never recorded (written around the application) |
| chain altered | a chain row does not follow from the rows before it (the chain table was edited) |
| checkpoint signature wrong | a checkpoint is not signed by any verification key |
| checkpoint does not match | the log no longer gives a signed chain hash: rewritten, recomputed |

`start` (`--from POSITION`) trusts the chain row before that position and checks from there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.common.audit_chain.checkpoints import RECHAIN, Checkpoint
from services.common.audit_chain.hashing import GENESIS, chain_hash, content_hash
from services.common.audit_chain.keys import VerifyKeys
from services.common.audit_chain.recorders import Predecessors
from services.common.audit_chain.tables import (
    EMPTY,
    PAGE,
    ChainRow,
    ChainTables,
    EventRow,
    chain_tables_of,
)

HOW: dict[str, str] = {
    "content_changed": "content changed",
    "event_missing": "event missing",
    "reordered": "reordered",
    "inserted": "inserted",
    "chain_altered": "chain altered",
    "checkpoint_signature": "checkpoint signature wrong",
    "checkpoint_mismatch": "checkpoint does not match",
}
"""What broke, as a code (the API's `break.how`) and as the words the command prints."""

Progress = Callable[[int, int], None]
"""Called with (positions verified, positions to verify) every page."""


class VerifyKeyMissing(RuntimeError):
    """The store holds checkpoints but no verification key is configured."""


@dataclass(frozen=True)
class Break:
    """The first thing that breaks, and where."""

    position: int
    how: str
    """A key of HOW."""
    detail: str
    event_id: str | None = None
    aggregate_id: str | None = None
    aggregate_version: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"position": self.position, "how": self.how, "what": HOW[self.how],
                "event_id": self.event_id, "aggregate_id": self.aggregate_id,
                "aggregate_version": self.aggregate_version, "detail": self.detail}


@dataclass
class Verification:
    """What a verification found."""

    ok: bool
    events: int = 0
    """Events whose hashes were recomputed."""
    first_position: int | None = None
    last_position: int = 0
    chain_head: str = GENESIS.hex()
    checkpoints: int = 0
    """Checkpoints whose signature and chain hash were checked."""
    last_checkpoint: Checkpoint | None = None
    trusted_position: int = 0
    """With `start`: the position of the chain row trusted as the starting point (0: none)."""
    broken: Break | None = None
    rechained: Checkpoint | None = None
    """The latest deliberate re-chain (rechain.py), when there was one."""
    superseded: int = 0
    """Checkpoints signed before that re-chain, not checked."""
    note: str | None = None
    seconds: float = 0.0
    checkpoint_sources: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line: `OK …` or `FAILED at position …, event …: <how> — <detail>`."""
        if self.broken is not None:
            b = self.broken
            event = f"event {b.event_id}" if b.event_id else "event id unknown"
            aggregate = (f" (aggregate {b.aggregate_id} version {b.aggregate_version})"
                         if b.aggregate_id else "")
            return (f"FAILED at position {b.position}, {event}{aggregate}: {HOW[b.how]} — "
                    f"{b.detail}")
        if self.note:
            return f"OK {self.note}"
        span = (f"positions {self.first_position}–{self.last_position}"
                if self.first_position is not None else "no events")
        trusted = (f", trusting the chain row at position {self.trusted_position}"
                   if self.trusted_position else "")
        last = self.last_checkpoint
        signed = (f", the last at position {last.position} signed {last.created_at}"
                  if last is not None else "")
        checkpoints = (f"{self.checkpoints:,} checkpoint"
                       + ("" if self.checkpoints == 1 else "s"))
        rechained = ""
        if self.rechained is not None:
            rechained = (f"; re-chained at position {self.rechained.position} on "
                         f"{self.rechained.created_at} ({self.rechained.reason}), "
                         f"{self.superseded:,} earlier checkpoint"
                         f"{'' if self.superseded == 1 else 's'} superseded")
        return (f"OK {self.events:,} events verified ({span}{trusted}), chain head "
                f"{self.chain_head[:16]}, {checkpoints} verified{signed}{rechained}")

    def as_json(self) -> dict[str, Any]:
        last = self.last_checkpoint
        return {
            "ok": self.ok, "line": self.line(), "events": self.events,
            "first_position": self.first_position, "last_position": self.last_position,
            "trusted_position": self.trusted_position or None, "chain_head": self.chain_head,
            "checkpoints": self.checkpoints,
            "last_checkpoint": None if last is None else {
                "position": last.position, "count": last.count, "created_at": last.created_at,
                "key_id": last.key_id},
            "break": self.broken.as_json() if self.broken is not None else None,
            "rechained": None if self.rechained is None else {
                "position": self.rechained.position, "created_at": self.rechained.created_at,
                "reason": self.rechained.reason, "superseded": self.superseded},
            "seconds": round(self.seconds, 3),
        }


def verify_log(store: Any, keys: VerifyKeys | None, *, start: int | None = None,
               more_checkpoints: Sequence[Checkpoint] = (),
               progress: Progress | None = None) -> Verification:
    """Recompute the chain of `store` (a ChronicleStore) and check its checkpoints and
    `more_checkpoints` (e.g. from the checkpoint file) with `keys`."""
    began = time.perf_counter()
    tables = chain_tables_of(store)
    if tables is None:
        return Verification(ok=True, note="nothing to verify: the in-memory store keeps no chain")
    with tables.snapshot() as cursor:
        result = _Walk(tables, cursor, keys, start, more_checkpoints, progress,
                       _describer(store)).run()
    result.seconds = time.perf_counter() - began
    return result


def _describer(store: Any) -> Callable[[EventRow], str | None]:
    """The event id of a stored event, for messages: from its JSON when it is plain, else
    through the store's mapper; None when neither can read it."""

    def event_id(row: EventRow) -> str | None:
        try:
            value = json.loads(row[4]).get("event_id")
            if isinstance(value, str):
                return value
        except (ValueError, AttributeError):
            pass
        try:
            from eventsourcing.persistence import StoredEvent

            event = store.mapper.to_domain_event(StoredEvent(
                originator_id=row[1].hex(), originator_version=row[2], topic=row[3],
                state=row[4]))
            return str(event.event_id)
        except Exception:  # a tampered event may not decode at all; the message goes without
            return None

    return event_id


class _Walk:
    def __init__(self, tables: ChainTables, cursor: Any, keys: VerifyKeys | None,
                 start: int | None, more: Sequence[Checkpoint], progress: Progress | None,
                 event_id: Callable[[EventRow], str | None]) -> None:
        self.tables, self.cursor, self.keys = tables, cursor, keys
        self.start = start if start and start > 1 else None
        self.progress = progress
        self.event_id = event_id
        stored = [Checkpoint.from_row(row) for row in tables.checkpoint_rows(cursor, 0)]
        unique = list({(c.position, c.signature): c for c in [*stored, *more]}.values())
        if unique and keys is None:
            raise VerifyKeyMissing(
                f"{len(unique)} checkpoints to check, but no verification key: set "
                "CRM_AUDIT_VERIFY_KEY_FILE (or pass --verify-key)")
        # A genuine re-chain (rechain.py) supersedes everything signed before it.
        rechains = [c for c in unique if c.kind == RECHAIN and keys is not None
                    and keys.verify(c.key_id, c.signature, c.message())]
        self.rechained = max(rechains, key=lambda c: _moment(c.created_at), default=None)
        if self.rechained is not None:
            since_rechain = _moment(self.rechained.created_at)
            current = [c for c in unique if _moment(c.created_at) >= since_rechain]
            self.superseded = len(unique) - len(current)
            unique = current
        else:
            self.superseded = 0
        since = self.start or 0
        self.checkpoints = sorted((c for c in unique if c.position >= since),
                                  key=lambda c: c.position)
        self.matched_through = 0
        self._after = self._total = 0

    # -- the pass -----------------------------------------------------------------------------

    def run(self) -> Verification:
        tables, cursor = self.tables, self.cursor
        trusted = tables.head_before(cursor, self.start) if self.start else EMPTY
        result = Verification(ok=False, trusted_position=trusted.position)
        result.checkpoint_sources = sorted({c.source for c in self.checkpoints})
        after = (self.start - 1) if self.start else 0
        total = max(tables.max_event_position(cursor), tables.head(cursor).position) - after
        self._after, self._total = after, total
        events = self._pages(tables.event_rows, after)
        chain = self._pages(tables.chain_rows, after)
        before, seq, last_position = trusted.chain, trusted.seq, trusted.position
        predecessors = Predecessors(tables, cursor)
        latest = predecessors.latest
        checkpoints, next_checkpoint = self.checkpoints, 0
        count = 0
        e: EventRow | None = next(events, None)
        c: ChainRow | None = next(chain, None)
        while e is not None or c is not None:
            if e is not None and (c is None or e[0] <= c[0]):
                position = e[0]
            else:
                assert c is not None
                position = c[0]
            while next_checkpoint < len(checkpoints) and \
                    checkpoints[next_checkpoint].position < position:
                broken = self._check(checkpoints[next_checkpoint], last_position, seq, before)
                if broken:
                    return self._fail(result, broken)
                next_checkpoint += 1
                result.checkpoints += 1
            if c is None or (e is not None and e[0] < c[0]):
                assert e is not None
                return self._fail(result, self._unrecorded(e, None))
            if e is None or c[0] < e[0]:
                assert c is not None
                return self._fail(result, self._missing(c))
            assert c is not None
            position, originator, version, topic, state = e
            if originator != c[2] or version != c[3]:
                return self._fail(result, self._unrecorded(e, c))
            content = content_hash(originator, version, topic, state)
            if content != c[4]:
                return self._fail(result, self._event_break(
                    e, "content_changed", "its stored bytes no longer hash to what the chain "
                    "recorded for it when it was written"))
            seen = latest.get(originator)
            if version == 1:
                previous = GENESIS
            elif seen is not None and seen[0] == version - 1:
                previous = seen[1]
            elif self.start:  # before `start`: trusted, as the chain row recorded it
                previous = c[5]
            else:  # not stored before it
                previous = predecessors.previous(originator, version, position)
            seq += 1
            if c[1] != seq or c[5] != previous:
                return self._fail(result, self._event_break(
                    e, "chain_altered", "its chain row does not follow from the rows before it "
                    f"(sequence {c[1]}, expected {seq}; or the link to the aggregate's previous "
                    "event was changed): the chain table was edited"))
            before = chain_hash(before, position, seq, content, previous)
            if before != c[6]:
                return self._fail(result, self._event_break(
                    e, "chain_altered", "its chain hash does not follow from the row before it: "
                    "the chain table was edited"))
            latest[originator] = (version, content)
            last_position = position
            count += 1
            if result.first_position is None:
                result.first_position = position
            while next_checkpoint < len(checkpoints) and \
                    checkpoints[next_checkpoint].position == position:
                broken = self._check(checkpoints[next_checkpoint], last_position, seq, before)
                if broken:
                    return self._fail(result, broken)
                next_checkpoint += 1
                result.checkpoints += 1
            if self.progress is not None and count % PAGE == 0:
                self.progress(position - after, total)
            result.events, result.last_position = count, position
            e, c = next(events, None), next(chain, None)
        for checkpoint in checkpoints[next_checkpoint:]:
            broken = self._check(checkpoint, last_position, seq, before)
            if broken:
                return self._fail(result, broken)
            result.checkpoints += 1
        if self.progress is not None:
            self.progress(total, total)
        result.ok = True
        result.events, result.last_position = count, last_position
        result.chain_head = before.hex()
        result.last_checkpoint = checkpoints[-1] if checkpoints else None
        result.rechained, result.superseded = self.rechained, self.superseded
        return result

    def _pages(self, fetch: Callable[[Any, int, int], list[Any]], after: int) -> Iterator[Any]:
        while page := fetch(self.cursor, after, PAGE):
            yield from page
            after = page[-1][0]

    def _fail(self, result: Verification, broken: Break) -> Verification:
        if self.progress is not None:
            self.progress(max(0, result.last_position - self._after), self._total)
        result.ok = False
        result.broken = broken
        result.chain_head = ""
        return result

    # -- naming what broke --------------------------------------------------------------------

    def _event_break(self, row: EventRow, how: str, detail: str) -> Break:
        return Break(row[0], how, detail, self.event_id(row), _aggregate(row[1]), row[2])

    def _unrecorded(self, row: EventRow, recorded_here: ChainRow | None) -> Break:
        """A stored event that the chain does not record at its position."""
        elsewhere = self.tables.chain_position_of(self.cursor, row[1], row[2])
        here = (f"; the chain records aggregate {_aggregate(recorded_here[2])} version "
                f"{recorded_here[3]} here" if recorded_here is not None else "")
        if elsewhere is not None:
            return self._event_break(row, "reordered", f"the chain recorded this event at "
                                     f"position {elsewhere}{here}")
        return self._event_break(row, "inserted", "the chain never recorded this event: it was "
                                 f"written around the application{here}")

    def _missing(self, row: ChainRow) -> Break:
        return Break(row[0], "event_missing", f"the chain records aggregate {_aggregate(row[2])} "
                     f"version {row[3]} at this position, but no such event is stored here",
                     None, _aggregate(row[2]), row[3])

    def _check(self, checkpoint: Checkpoint, position: int, count: int, chain: bytes
               ) -> Break | None:
        assert self.keys is not None
        if not self.keys.verify(checkpoint.key_id, checkpoint.signature, checkpoint.message()):
            known = "a key" if checkpoint.key_id in self.keys.keys else "no key"
            return self._checkpoint_break(
                checkpoint, "checkpoint_signature",
                f"the checkpoint ({_source(checkpoint)}, signed {checkpoint.created_at} by key "
                f"{checkpoint.key_id}) does not verify: {known} of that id is among the "
                f"verification keys ({self.keys.source})")
        if checkpoint.position != position or checkpoint.count != count or \
                checkpoint.chain_hash != chain:
            since = (f"after position {self.matched_through}, where the last checkpoint matched"
                     if self.matched_through else "before it")
            now = (f"the chain hash there is {chain.hex()[:16]} over {count:,} events"
                   if checkpoint.position == position else
                   f"the log has no event at that position now (the last before it is "
                   f"{position}, {count:,} events)")
            return self._checkpoint_break(
                checkpoint, "checkpoint_mismatch",
                f"the checkpoint ({_source(checkpoint)}, signed {checkpoint.created_at}) vouches "
                f"for chain hash {checkpoint.chain_hash.hex()[:16]} over {checkpoint.count:,} "
                f"events; {now}: events {since} were rewritten and the chain recomputed")
        self.matched_through = checkpoint.position
        return None

    def _checkpoint_break(self, checkpoint: Checkpoint, how: str, detail: str) -> Break:
        rows = self.tables.event_rows(self.cursor, checkpoint.position - 1, 1)
        if rows and rows[0][0] == checkpoint.position:
            return self._event_break(rows[0], how, detail)
        return Break(checkpoint.position, how, detail)


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)  # unreadable: never supersedes, never recent


def _aggregate(originator: bytes) -> str:
    from uuid import UUID

    return str(UUID(bytes=originator)) if len(originator) == 16 else originator.decode()


def _source(checkpoint: Checkpoint) -> str:
    return "in the store" if checkpoint.source == "store" else f"in {checkpoint.source}"
