"""The projection runner: applies batches of source records to a read model, exactly once in
effect.

One transaction per batch holds the rows the batch changed, the last applied offset and global
position of every partition it touched, and its dead letters. Records at or below the stored
offset are skipped (redelivery after a crash or rebalance); events at or below the stored
position of their partition are skipped too (duplicates published again by the relay).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from services.common.log_privacy import describe
from services.common.times import iso
from services.projections.model import ConsumedEvent, Projection, Rows
from services.projections.sources import Source, SourceRecord
from services.projections.stores.base import DeadLetter, Progress, ReadStore

log = logging.getLogger("chronicle.projections")

ErrorPolicy = Literal["dead_letter", "stop"]


class ProjectionStopped(RuntimeError):
    """The error policy is `stop` and an event could not be applied."""


DeadLetterSink = Callable[[Sequence[DeadLetter]], None]
"""Publishes dead letters (e.g. to the dead-letter topic) before the batch commits."""


@dataclass
class RunnerStats:
    applied: int = 0
    skipped: int = 0
    dead_letters: int = 0
    batches: int = 0
    last_batch_at: float | None = None
    started_at: float = field(default_factory=time.time)


class ProjectionRunner:
    """Feeds one projection generation from one source.

    `follow_active=True` (live runners) moves to a newer generation when a rebuild activates
    it, continuing from that generation's stored offsets.
    """

    def __init__(
        self, projection: Projection, store: ReadStore, source: Source, *,
        generation: int | None = None, follow_active: bool = True, batch_size: int = 2000,
        on_error: ErrorPolicy = "dead_letter", dead_letter_sink: DeadLetterSink | None = None,
    ) -> None:
        if projection.holds_personal and projection.vault is None:
            raise ValueError(f"{projection.name} keeps personal values, sealed: run it with the "
                             "event store's vault (projection.vault)")
        self.projection = projection
        self.store = store
        self.source = source
        self.generation = generation if generation is not None else store.ensure_active(projection)
        store.create_generation(projection, self.generation)
        self.follow_active = follow_active
        self.batch_size = batch_size
        self.on_error = on_error
        self.dead_letter_sink = dead_letter_sink
        self.stats = RunnerStats()
        self._progress: dict[int, Progress] = {}
        self.progressed = threading.Condition()
        """Notified after every committed batch (read-your-writes waiters)."""
        self.committed_batches = 0
        """Batches committed so far (counted under `progressed`)."""
        source.bind(self.stored_next_offsets)
        self.resync()

    @property
    def name(self) -> str:
        return self.projection.name

    def stored_next_offsets(self) -> dict[int, int]:
        """Where to continue in each partition: one past the last applied offset."""
        progress = self.store.all_progress(self.name, self.generation)
        self._progress = progress
        return {p: pr.offset + 1 for p, pr in progress.items()}

    def resync(self) -> None:
        """Seek the source back to the stored offsets (after a start or a failed batch)."""
        self.source.seek(self.stored_next_offsets())

    # -- one batch ----------------------------------------------------------------------------

    def run_once(self, timeout_s: float = 0.5) -> int:
        """Poll one batch and apply it; returns the number of events applied."""
        before = self.stats.applied
        self.step(timeout_s)
        return self.stats.applied - before

    def _check_generation(self) -> None:
        if not self.follow_active:
            return
        active, _ = self.store.generations(self.name)
        if active is not None and active != self.generation:
            self._switch_to(active)

    def _switch_to(self, generation: int) -> None:
        log.info("%s: following the newly active generation %d (was %d)", self.name,
                 generation, self.generation)
        self.generation = generation
        self.resync()

    def apply(self, records: Sequence[SourceRecord]) -> int:
        projection = self.projection
        letters: list[DeadLetter] = []
        # Each letter's error as the log may show it: the letter keeps the whole text, which
        # can quote the event (services/common/log_privacy.py).
        logged_errors: list[str] = []
        applied = skipped = 0
        with self.store.transaction() as tx:
            if self.follow_active:
                active = tx.active_generation(self.name)
                if active is not None and active != self.generation:
                    switch_to = active
                else:
                    switch_to = None
            else:
                switch_to = None
            if switch_to is None:
                progress = tx.progress(self.name, self.generation, lock=True)
                fresh = self._fresh(records, progress)
                rows = self._load_rows(tx, fresh)
                # partition -> [offset, position, recorded_at]; Progress rows made once below
                moved: dict[int, list[Any]] = {}
                for record, duplicate in fresh:
                    state = moved.get(record.partition)
                    if state is None:
                        before = progress.get(record.partition)
                        state = moved[record.partition] = [
                            -1, before.position if before else 0,
                            before.event_recorded_at if before else None]
                    state[0] = record.offset
                    if record.event is None or record.position is None:
                        letters.append(self._letter(record, record.error or "no event"))
                        logged_errors.append((record.error or "no event").split(":", 1)[0])
                    elif record.bookkeeping:
                        state[1] = max(state[1], record.position)
                    elif duplicate:
                        skipped += 1
                    else:
                        consumed = ConsumedEvent(record.partition, record.offset, record.position,
                                                 record.event)
                        rows.begin_event()
                        try:
                            projection.apply(rows, consumed)
                        except Exception as exc:
                            rows.undo_event()
                            if self.on_error == "stop":
                                raise ProjectionStopped(
                                    f"{self.name} cannot apply {record.event.event_type} at "
                                    f"partition {record.partition} offset {record.offset}: "
                                    f"{describe(exc, with_message=True)}"  # logged: no values
                                ) from exc
                            letters.append(self._letter(record, _dead_letter_error(exc)))
                            logged_errors.append(describe(exc, with_message=True))
                        else:
                            applied += 1
                        state[1] = max(state[1], record.position)
                        state[2] = record.event.recorded_at
                touched = {
                    partition: Progress(partition, offset, position,
                                        iso(at) if isinstance(at, datetime) else at, None)
                    for partition, (offset, position, at) in moved.items()
                }
                for table_name, (upserts, deletes) in rows.changes_by_table().items():
                    tx.write(projection.table(table_name), self.generation, upserts, deletes)
                for letter in letters:
                    tx.dead_letter(letter)
                for item in touched.values():
                    tx.save_progress(self.name, self.generation, item)
                if letters:
                    for letter, error in zip(letters, logged_errors, strict=True):
                        log.error("%s: dead letter at partition %d offset %d (%s): %s",
                                  self.name, letter.partition, letter.offset, letter.event_type,
                                  error)
                    if self.dead_letter_sink is not None:
                        self.dead_letter_sink(letters)  # before commit: at least once
        if switch_to is not None:
            self._switch_to(switch_to)
            return 0
        with self.progressed:
            self._progress.update(touched)
            self.committed_batches += 1
            self.progressed.notify_all()
        self.stats.applied += applied
        self.stats.skipped += skipped
        self.stats.dead_letters += len(letters)
        self.stats.batches += 1
        self.stats.last_batch_at = time.time()
        return applied

    def _fresh(self, records: Sequence[SourceRecord], progress: dict[int, Progress]
               ) -> list[tuple[SourceRecord, bool]]:
        """Records not applied yet, each with whether it repeats an applied position."""
        out: list[tuple[SourceRecord, bool]] = []
        last_offset = {p: pr.offset for p, pr in progress.items()}
        last_position = {p: pr.position for p, pr in progress.items()}
        for record in records:
            if record.offset <= last_offset.get(record.partition, -1):
                continue  # redelivered: applied in an earlier transaction
            last_offset[record.partition] = record.offset
            duplicate = record.position is not None and \
                record.position <= last_position.get(record.partition, 0)
            if record.position is not None and not duplicate:
                last_position[record.partition] = record.position
            out.append((record, duplicate))
        return out

    def _load_rows(self, tx: Any, fresh: list[tuple[SourceRecord, bool]]) -> Rows:
        wanted: dict[str, set[str]] = {}
        for record, duplicate in fresh:
            if record.event is None or duplicate or record.bookkeeping:
                continue
            try:
                for table_name, row_id in self.projection.keys(record.event):
                    wanted.setdefault(table_name, set()).add(row_id)
            except Exception:  # apply() will fail on it too and dead-letter it
                continue
        rows = Rows()
        for table_name, ids in wanted.items():
            table = self.projection.table(table_name)
            found = tx.load(table, self.generation, sorted(ids))
            for row_id in ids:
                rows.loaded[(table_name, row_id)] = found.get(row_id)
        return rows

    def _letter(self, record: SourceRecord, error: str) -> DeadLetter:
        event = record.event
        payload = record.payload.decode("utf-8", "replace") if record.payload else None
        return DeadLetter(
            projection=self.name, generation=self.generation, partition=record.partition,
            offset=record.offset, position=record.position,
            event_id=str(event.event_id) if event else None,
            event_type=event.event_type if event else None, error=error, payload=payload,
        )

    # -- running ------------------------------------------------------------------------------

    def run(self, stop: threading.Event, idle_timeout_s: float = 0.5) -> None:
        """Apply batches until `stop` is set; a failed batch is retried after a pause."""
        failures = 0
        while not stop.is_set():
            try:
                self.run_once(idle_timeout_s)
                failures = 0
            except ProjectionStopped:
                log.exception("%s stopped by its error policy", self.name)
                raise
            except Exception:
                failures += 1
                delay = min(5.0, 0.1 * 2 ** min(failures, 6))
                log.exception("%s: batch failed (attempt %d); retrying in %.1fs", self.name,
                              failures, delay)
                stop.wait(delay)

    def catch_up(self, max_idle_polls: int = 2, timeout_s: float = 0.2) -> int:
        """Apply until the source has nothing more; returns the events applied."""
        before = self.stats.applied
        idle = 0
        while idle < max_idle_polls:
            idle = 0 if self.step(timeout_s) else idle + 1
        return self.stats.applied - before

    def step(self, timeout_s: float) -> int:
        """Poll one batch and apply it; returns the records consumed (applied or not)."""
        records = self.source.poll(self.batch_size, timeout_s)
        if not records:
            self._check_generation()
            return 0
        try:
            self.apply(records)
        except BaseException:
            self.resync()
            raise
        return len(records)

    def applied_offsets(self) -> dict[int, int]:
        return {p: pr.offset for p, pr in self._progress.items()}

    def has_reached(self, position: int,
                    published_through: tuple[int, dict[int, int]] | None = None) -> bool:
        """Whether every event up to `position` has been applied.

        `published_through` is the relay's (position, {partition: last offset}) when the source
        is the topic (None: the source is the event store itself). A partition counts when it
        applied an event at or past `position`, or everything the relay had published to it.
        """
        progress = dict(self._progress)
        if published_through is None:
            return self.source.reached(position, progress)
        relayed, offsets = published_through
        if relayed < position:
            return False
        unknown = {}
        for partition, applied in progress.items():
            if applied.position >= position:
                continue
            if partition in offsets:
                if applied.offset < offsets[partition]:
                    return False
            else:
                unknown[partition] = applied
        for partition, last in offsets.items():
            if partition not in progress and last >= 0:
                return False
        if not unknown:
            return True
        # Partitions the relay has not published to since it started: ask the source.
        confirmed = {p: replace(pr, position=max(pr.position, position))
                     for p, pr in progress.items() if p not in unknown}
        return self.source.reached(position, {**confirmed, **unknown})

    def reached_position(
        self, published_through: tuple[int, dict[int, int]] | None = None
    ) -> int:
        """The highest position P such that every event up to P has been applied."""
        progress = dict(self._progress)
        if published_through is None:
            own = progress.get(0)
            return own.position if own is not None else 0
        relayed, offsets = published_through
        if any(p not in progress for p, last in offsets.items() if last >= 0):
            return 0
        lagging = [pr.position for p, pr in progress.items()
                   if p in offsets and pr.offset < offsets[p]]
        # A lagging partition has applied everything up to its own position; partitions
        # caught up with the relay have applied everything it published.
        return min(lagging) if lagging else relayed

    def wait_until(
        self, position: int, timeout_s: float,
        published_through: Callable[[], tuple[int, dict[int, int]] | None] = lambda: None,
    ) -> bool:
        deadline = time.monotonic() + timeout_s
        with self.progressed:
            while not self.has_reached(position, published_through()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                # Woken by every batch; the cap re-checks a relay that moved meanwhile.
                self.progressed.wait(min(remaining, 0.25))
        return True

    def wait_for_batch_after(self, committed_batches: int, timeout_s: float) -> bool:
        """Wait until a batch beyond the `committed_batches`-th is committed (True) or
        `timeout_s` passed (False)."""
        with self.progressed:
            return self.progressed.wait_for(
                lambda: self.committed_batches > committed_batches, timeout_s)

    # -- status -------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        progress = dict(self._progress)
        lag = self.source.lag(self.applied_offsets())
        last_recorded = max((pr.event_recorded_at for pr in progress.values()
                             if pr.event_recorded_at), default=None)
        lag_seconds = 0.0
        if lag and last_recorded:
            lag_seconds = max(0.0, (datetime.now(UTC) - datetime.fromisoformat(last_recorded))
                              .total_seconds())
        return {
            "projection": self.name,
            "generation": self.generation,
            "position": max((pr.position for pr in progress.values()), default=0),
            "partitions": {p: {"offset": pr.offset, "position": pr.position}
                           for p, pr in sorted(progress.items())},
            "lag_events": lag,
            "lag_seconds": round(lag_seconds, 3),
            "applied": self.stats.applied,
            "duplicates_skipped": self.stats.skipped,
            "dead_letters": self.stats.dead_letters,
            "last_event_recorded_at": last_recorded,
        }


def _dead_letter_error(exc: Exception) -> str:
    """What a dead letter keeps of an error: its type (a validation error by field) and the
    last frames' code, never its message, which may quote the opened personal values."""
    return describe(exc, with_message=False) + "\n" + \
        "".join(traceback.format_tb(exc.__traceback__)[-3:])
