"""The live event stream behind `GET /v1/stream`: a tenant's published events as they are
stored, as Server-Sent Events (services/query/api/stream.py is the route).

Read from the event store, not from Kafka, so it works on the embedded store too. Each event
is the CloudEvents document the relay publishes (`published_document`, the same function):
`personal` stays sealed, and internal bookkeeping events are left out as on the topic.

One `LiveEvents` per process follows the notification log for every open stream: it reads new
notifications in batches, once, into a window of the latest events, and wakes the streams.
Saves in this process wake it at once (the store's `saved_listeners`), on PostgreSQL every save
of any process does (the library NOTIFYs the events table's channel on each insert), and a
poll every `stream_poll_s` finds the rest. A stream behind the window (it resumed from an older
position, or its client reads slowly) reads the store itself, a batch at a time, until it is
back inside the window.

Positions: like the relay, a stream keeps "the last position seen", never "the next position
expected". PostgreSQL leaves permanent gaps (a failed insert burns sequence ids), which are
therefore simply passed over; and because the library takes `LOCK TABLE … IN EXCLUSIVE MODE`
in every write transaction, positions become visible in the order they were given, so a
position can never appear below one already read (LIBRARY-FACTS.md; the relay relies on the
same). Never enable `POSTGRES_ENABLE_DB_FUNCTIONS`: that write path has no such lock.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import resolve_topic
from starlette.concurrency import run_in_threadpool

from services.common.cloudevents import message_of, published_document
from services.common.event_store import ChronicleStore
from services.common.events.envelope import CrmEvent
from services.common.settings import Settings

log = logging.getLogger("chronicle.stream")

STORE_BATCH = 500
"""Notifications read from the store at a time (by the follower, and by a stream catching up)."""
WINDOW_EVENTS = 4096
"""Latest events kept in memory for every stream to read: about 4 MB at ~1 KB an event, and
20 s of history at 200 events/s; a stream further behind reads the store."""
RETRY_MS = 3000
"""The `retry:` an EventSource waits before it reconnects."""
BOOK_PAUSES_S = (0.005, 0.05)
"""How often a scoped stream looks whether the book's read model has caught up: after 5 ms at
first, doubling up to 50 ms (as a `min_position` wait does)."""


@dataclass(frozen=True)
class StreamEvent:
    """A published event, ready to send: its position, what the filters look at, and its
    CloudEvents document (compact JSON, the bytes the relay publishes)."""

    position: int
    type: str
    tenant_id: str
    customer_id: str
    document: bytes

    def frame(self) -> bytes:
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (self.position, self.type.encode(),
                                                    self.document)


@lru_cache(maxsize=1024)
def _event_class(topic: str) -> type[CrmEvent]:
    cls: type[CrmEvent] = resolve_topic(topic)
    return cls


def read_published(store: ChronicleStore, after: int, limit: int = STORE_BATCH
                   ) -> tuple[list[StreamEvent], int, int]:
    """The published events stored after position `after`, reading at most `limit`
    notifications: (events, the last position read or `after`, notifications read)."""
    notifications = store.recorder.select_notifications(after, limit, inclusive_of_start=False)
    events = []
    for notification in notifications:
        cls = _event_class(notification.topic)
        if cls.internal:  # not published, so not streamed; the position moves past it
            continue
        document = published_document(cls, notification, store.mapper, store.vault)
        _, value = message_of(document)
        events.append(StreamEvent(notification.id, cls.event_type, document["tenantid"],
                                  document["customerid"], value))
    last = notifications[-1].id if notifications else after
    return events, last, len(notifications)


@dataclass(frozen=True)
class StreamFilter:
    """Which events a stream wants: its tenant's, of these types (exact, or a prefix ending in
    `.`), of these customers; empty means any."""

    tenant_id: str
    types: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    customers: frozenset[str] = frozenset()

    def matches(self, event: StreamEvent) -> bool:
        if event.tenant_id != self.tenant_id:
            return False
        if self.customers and event.customer_id not in self.customers:
            return False
        if self.types or self.prefixes:
            return event.type in self.types or event.type.startswith(self.prefixes)
        return True


@dataclass
class Subscription:
    """One open stream: where it starts, what it wants, and how its caller is checked."""

    start: int
    """The position it starts after: it sends the events stored after it."""
    filter: StreamFilter
    book_applied: Callable[[int], bool] | None = None
    """For a caller with an `own` or `team` scope: whether the read model that knows the
    books has applied a position (never blocks). None: the whole tenant."""
    in_book: Callable[[Collection[str]], set[str]] | None = None
    """Which of these customers are in the caller's book (blocks: run in a thread)."""
    still_valid: Callable[[], bool] | None = None
    """Whether the caller's credentials still hold (blocks); asked every heartbeat interval."""


@dataclass(eq=False)
class _Waiter:
    """A stream waiting for events it wants. The follower wakes it when a batch holds one;
    otherwise it moves `covered` on, so an idle stream with narrow filters never falls behind
    the window."""

    wanted: StreamFilter
    covered: int
    woken: asyncio.Event = field(default_factory=asyncio.Event)


class StreamRefused(Exception):
    """No stream for this caller now: `reason` is `principal` (its own bound), `process`
    (this process's bound) or `closing` (the server is stopping)."""

    def __init__(self, reason: str, limit: int) -> None:
        super().__init__(reason)
        self.reason, self.limit = reason, limit


class StreamSlot:
    """A caller's place among the open streams; given back exactly once."""

    def __init__(self, owner: LiveEvents, key: tuple[str, str]) -> None:
        self._owner, self._key, self._released = owner, key, False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._owner._release(self._key)


class LiveEvents:
    """Every open event stream of this process and the one follower of the log they share.

    The follower runs on the server's event loop while streams are open (its store reads on
    worker threads); `close()` ends every stream, from any thread.
    """

    def __init__(self, store: ChronicleStore, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._mutex = threading.Lock()
        self._open: Counter[tuple[str, str]] = Counter()
        self._total = 0
        self._closing = False
        # The follower's state: touched on the event loop only.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._starting: asyncio.Lock | None = None
        self._head = 0
        """The last position the follower read."""
        self._floor = 0
        """Every published event after this position, up to `_head`, is in `_window`."""
        self._window: deque[StreamEvent] = deque()
        self._waiters: set[_Waiter] = set()
        self._wake: asyncio.Event | None = None
        """Set when a save may have stored something: the follower reads at once."""
        self._listen_stop: threading.Event | None = None
        self._listeners: list[Any] | None = getattr(store, "saved_listeners", None)
        if self._listeners is not None:
            self._listeners.append(self._on_saved)

    # -- open streams -------------------------------------------------------------------------

    def open(self, tenant_id: str, subject: str) -> StreamSlot:
        """A slot for one more stream of this caller, or StreamRefused."""
        key = (tenant_id, subject)
        with self._mutex:
            if self._closing:
                raise StreamRefused("closing", 0)
            if self._open[key] >= self._settings.stream_max_per_principal:
                raise StreamRefused("principal", self._settings.stream_max_per_principal)
            if self._total >= self._settings.stream_max_open:
                raise StreamRefused("process", self._settings.stream_max_open)
            self._open[key] += 1
            self._total += 1
        return StreamSlot(self, key)

    def _release(self, key: tuple[str, str]) -> None:
        with self._mutex:
            self._open[key] -= 1
            if self._open[key] <= 0:
                del self._open[key]
            self._total -= 1

    def head(self) -> int:
        """The last position in the event store (blocks)."""
        return self._store.recorder.max_notification_id() or 0

    def close(self) -> None:
        """End every stream (each sends what it has and finishes its response) and refuse new
        ones. Safe from any thread, and more than once."""
        with self._mutex:
            self._closing = True
        if self._listeners is not None and self._on_saved in self._listeners:
            self._listeners.remove(self._on_saved)
        if self._listen_stop is not None:
            self._listen_stop.set()
        self._call_on_loop(self._end_waits)

    # -- one stream ---------------------------------------------------------------------------

    async def events(self, sub: Subscription) -> AsyncIterator[bytes]:
        """The stream's bytes: a preamble (`retry:`, and `id:` of the start position, so a
        client that reconnects before any event resumes from there), then every matching
        event, and a heartbeat comment whenever it was quiet for `stream_heartbeat_s`."""
        loop = asyncio.get_running_loop()
        heartbeat_s = self._settings.stream_heartbeat_s
        ends_at = loop.time() + self._settings.stream_max_age_s
        yield b": chronicle event stream\nretry: %d\nid: %d\n\n" % (RETRY_MS, sub.start)
        await self._ensure_follower()
        # `after`: every event up to it was sent or left out; `sent`: the last `id:` sent.
        after = sent = sub.start
        next_beat = next_check = loop.time() + heartbeat_s
        pending: list[StreamEvent] = []
        pending_covers = after
        pause = BOOK_PAUSES_S[0]
        while not self._closing and loop.time() < ends_at:
            if sub.still_valid is not None and loop.time() >= next_check:
                if not await run_in_threadpool(sub.still_valid):
                    return  # the credentials it was opened with were revoked or expired
                next_check = loop.time() + heartbeat_s
            quiet_for = next_beat - loop.time()
            if quiet_for <= 0:
                # An `id:` without `data:` is no event: it moves where a reconnect resumes
                # from past the events the filters left out.
                yield b": heartbeat\n\n" if after == sent else b": heartbeat\nid: %d\n\n" % after
                sent = after
                next_beat = loop.time() + heartbeat_s
                continue
            if not pending:
                batch, covers = await self._next(after, min(quiet_for, ends_at - loop.time()),
                                                 sub.filter)
                pending = [event for event in batch if sub.filter.matches(event)]
                if not pending:
                    after = max(after, covers)
                    continue
                pending_covers = covers
            if sub.book_applied is not None and sub.in_book is not None:
                # The book is read from customer-360 once it has applied these events.
                if not sub.book_applied(pending[-1].position):
                    await asyncio.sleep(min(pause, quiet_for))
                    pause = min(pause * 2, BOOK_PAUSES_S[1])
                    continue
                pause = BOOK_PAUSES_S[0]
                visible = await run_in_threadpool(sub.in_book,
                                                  {event.customer_id for event in pending})
                pending = [event for event in pending if event.customer_id in visible]
            after = pending_covers
            if pending:
                yield b"".join(event.frame() for event in pending)
                sent = pending[-1].position
                next_beat = loop.time() + heartbeat_s
            pending = []

    async def _next(self, after: int, wait_s: float, wanted: StreamFilter
                    ) -> tuple[list[StreamEvent], int]:
        """Events after `after` and the position they cover: from the window, or from the
        store when `after` is older than the window; else wait up to `wait_s` for an event
        `wanted` and answer ([], how far the events that came meanwhile were unwanted)."""
        if after < self._floor:
            events, last, _ = await run_in_threadpool(read_published, self._store, after)
            return events, last
        if self._head > after:
            newer: list[StreamEvent] = []
            for event in reversed(self._window):
                if event.position <= after:
                    break
                newer.append(event)
            newer.reverse()
            return newer, self._head
        if self._closing or wait_s <= 0:
            return [], after
        waiter = _Waiter(wanted, after)
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter.woken.wait(), wait_s)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)
        return [], waiter.covered

    # -- the follower -------------------------------------------------------------------------

    async def _ensure_follower(self) -> None:
        if self._task is not None and not self._task.done():
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._task is not None and not self._task.done():
                return
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            head = await run_in_threadpool(self.head)
            self._head = self._floor = head
            self._window.clear()
            self._task = asyncio.create_task(self._follow(), name="event-stream-follower")
            self._start_listening()

    async def _follow(self) -> None:
        """Read the log after `_head` into the window while streams are open."""
        backoff = 0.1
        poll_s = self._settings.stream_poll_s
        while True:
            if self._closing or self._total == 0:
                self._task = None  # on the loop, with no await since the check: no race
                self._stop_listening()
                return
            assert self._wake is not None
            self._wake.clear()
            try:
                events, last, read = await run_in_threadpool(read_published, self._store,
                                                              self._head)
            except Exception as exc:  # the database is unreachable: the streams wait
                log.warning("event streams cannot read the event store (%s); retrying in "
                            "%.1fs", type(exc).__name__, backoff)
                await self._rest(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            if last > self._head:
                self._window.extend(events)
                while len(self._window) > WINDOW_EVENTS:
                    self._floor = self._window.popleft().position
                self._head = last
                self._wake_waiters(events)
            if read < STORE_BATCH:
                await self._rest(poll_s)

    async def _rest(self, seconds: float) -> None:
        """Wait until a save wakes the follower, or `seconds`."""
        assert self._wake is not None
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    def _wake_waiters(self, events: list[StreamEvent]) -> None:
        """Wake the waiting streams that want one of the new `events`; tell the others that
        everything up to the head is covered (on the loop)."""
        for waiter in self._waiters:
            if waiter.woken.is_set():
                continue  # woken by an earlier batch: it reads the window from its position
            if any(waiter.wanted.matches(event) for event in events):
                waiter.woken.set()
            else:  # (a stream that read the store itself may be ahead of the follower)
                waiter.covered = max(waiter.covered, self._head)

    def _end_waits(self) -> None:
        """Wake every waiting stream and the follower: the streams end (on the loop)."""
        for waiter in self._waiters:
            waiter.woken.set()
        if self._wake is not None:
            self._wake.set()

    def _on_saved(self, position: int) -> None:
        """A save in this process (or, on PostgreSQL, anywhere): read now. Any thread."""
        self._call_on_loop(self._wake_follower)

    def _wake_follower(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _call_on_loop(self, callback: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            if _running_loop() is loop:
                callback()
            else:
                loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop closed meanwhile: nothing left to wake
            pass

    # -- PostgreSQL: every process's saves wake the follower ----------------------------------

    def _start_listening(self) -> None:
        recorder = self._store.recorder
        if not isinstance(recorder, PostgresApplicationRecorder) or self._listen_stop is not None:
            return
        stop = self._listen_stop = threading.Event()
        threading.Thread(target=self._listen, args=(recorder, stop), daemon=True,
                         name="event-stream-listen").start()

    def _stop_listening(self) -> None:
        stop, self._listen_stop = self._listen_stop, None
        if stop is not None:
            stop.set()

    def _listen(self, recorder: PostgresApplicationRecorder, stop: threading.Event) -> None:
        """LISTEN on the events table's channel (the library NOTIFYs it on every insert) and
        wake the follower; polling covers whatever this misses."""
        from psycopg.sql import SQL, Identifier

        channel = Identifier(recorder.channel_name)
        try:
            with recorder.datastore.get_connection() as conn:
                conn.execute(SQL("LISTEN {0}").format(channel))
                try:
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=0.25, stop_after=1):
                            self._on_saved(0)
                finally:
                    conn.execute(SQL("UNLISTEN {0}").format(channel))
        except Exception as exc:  # polling goes on: slower, never wrong
            log.warning("event streams cannot LISTEN for new events (%s); polling every %gs",
                        type(exc).__name__, self._settings.stream_poll_s)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def parse_types(values: Sequence[str], known: Collection[str]) -> tuple[frozenset[str],
                                                                       tuple[str, ...]]:
    """(exact types, prefixes) of `type` filter values; ValueError naming a value that is
    no published type and no prefix (ending in `.`) of one."""
    exact, prefixes = set(), []
    for value in values:
        if value.endswith("."):
            if not any(name.startswith(value) for name in known):
                raise ValueError(f"no published event type starts with {value!r}")
            prefixes.append(value)
        elif value in known:
            exact.add(value)
        else:
            raise ValueError(f"{value!r} is not a published event type (a prefix ends in '.')")
    return frozenset(exact), tuple(dict.fromkeys(prefixes))
