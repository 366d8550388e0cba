"""Group commit: the events of concurrent commands are written in shared transactions.

The event store serialises writers (PostgreSQL: a table lock per write transaction; SQLite: one
writer at a time) and each transaction waits for its own flush to disk, so throughput comes
from putting more events into each transaction. Commands hand their events to one committer
thread, which saves everything already waiting in one `save()` — it never waits for a batch
to fill, so a lone command is written at once. If a shared write fails (typically one command
lost an optimistic-concurrency race), each command of the batch is written on its own, so a
conflict in one command never fails its neighbours.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from services.common.event_store import ChronicleStore
from services.common.events.envelope import CrmEvent

log = logging.getLogger("chronicle.group_commit")

MAX_EVENTS_PER_TRANSACTION = 500


@dataclass
class _Waiting:
    events: Sequence[CrmEvent]
    done: Future[list[Any]] = field(default_factory=Future)


class GroupCommitter:
    """Saves events atomically per command, sharing transactions between concurrent commands."""

    def __init__(self, store: ChronicleStore,
                 max_events: int = MAX_EVENTS_PER_TRANSACTION) -> None:
        self._store = store
        self._max_events = max_events
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Waiting | None] | None = None
        self._thread: threading.Thread | None = None

    def save(self, events: Sequence[CrmEvent]) -> list[Any]:
        """Store the events atomically (with others' or alone); return their recordings.

        Raises what the store raised when the events were written on their own (e.g. the
        library's `IntegrityError` on a version conflict).
        """
        waiting = _Waiting(events)
        with self._lock:
            if self._queue is None:  # the committer starts with the first write
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(target=self._run, args=(self._queue,),
                                                name="group-commit", daemon=True)
                self._thread.start()
            self._queue.put(waiting)
        return waiting.done.result()

    def queued(self) -> int:
        """How many saves wait for the committer's next transaction (the one being written,
        if any, is not counted)."""
        with self._lock:
            return self._queue.qsize() if self._queue is not None else 0

    def close(self) -> None:
        """Write what is waiting, then stop the committer thread (a later save starts another)."""
        with self._lock:
            waiting, self._queue = self._queue, None
            thread, self._thread = self._thread, None
            if waiting is not None:
                waiting.put(None)
        if thread is not None:
            thread.join(timeout=30)

    def _run(self, waiting: queue.SimpleQueue[_Waiting | None]) -> None:
        while True:
            first = waiting.get()
            if first is None:
                return
            batch = [first]
            count = len(first.events)
            stop = False
            while count < self._max_events:
                try:
                    more = waiting.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
                count += len(more.events)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Waiting]) -> None:
        if len(batch) > 1:
            try:
                recordings = self._store.save(*[e for w in batch for e in w.events])
            except Exception:  # one command's conflict must not fail the others: go one by one
                log.debug("shared write of %d commands failed; writing each alone", len(batch))
            else:
                start = 0
                for waiting in batch:
                    end = start + len(waiting.events)
                    waiting.done.set_result(recordings[start:end])
                    start = end
                return
        for waiting in batch:
            try:
                waiting.done.set_result(self._store.save(*waiting.events))
            except BaseException as exc:  # handed to the command's own thread, which decides
                waiting.done.set_exception(exc)
