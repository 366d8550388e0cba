"""The query side's view of the read models: the stores, the projectors that feed them, and
how far those have got — so a reader can wait for its own write (read-your-writes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.common.event_store import ChronicleStore
from services.common.privacy.vault import PersonalDataVault
from services.common.settings import Settings
from services.projections.host import ProjectorHost
from services.projections.runner import ProjectionRunner
from services.projections.stores.duck import DuckReadStore
from services.projections.stores.sql import SqlReadStore
from services.query.access_log import AccessLog
from services.query.stream import LiveEvents

PublishedThrough = Callable[[], tuple[int, dict[int, int]] | None]


@dataclass
class ReadModels:
    settings: Settings
    host: ProjectorHost
    event_store: ChronicleStore | None
    published_through: PublishedThrough = field(default=lambda: None)
    """The relay's (position, offsets) when projectors read the topic; None: the event store."""
    _access_log: AccessLog | None = field(default=None, init=False, repr=False)
    _live_events: LiveEvents | None = field(default=None, init=False, repr=False)
    _access_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _closed: bool = field(default=False, init=False, repr=False)

    @property
    def access_log(self) -> AccessLog:
        """Who read which customer's personal data (services/query/access_log.py): started
        on first use, in the SQL read store; `close()` flushes and stops it."""
        with self._access_lock:
            if self._access_log is None:
                if self._closed:
                    raise RuntimeError("the read models are closed")
                self._access_log = AccessLog(self.sql)
            return self._access_log

    @property
    def live_events(self) -> LiveEvents:
        """The open event streams and their follower of the log (services/query/stream.py):
        made on first use; `end_streams()` or `close()` ends them."""
        with self._access_lock:
            if self._live_events is None:
                if self._closed or self.event_store is None:
                    raise RuntimeError("no event store to stream from")
                self._live_events = LiveEvents(self.event_store, self.settings)
            return self._live_events

    def end_streams(self) -> None:
        """End every open event stream and refuse new ones: the first step of a shutdown,
        since a server waits for its open responses to finish before it stops."""
        with self._access_lock:
            if self._live_events is None and self.event_store is not None:
                self._live_events = LiveEvents(self.event_store, self.settings)
            live_events = self._live_events
        if live_events is not None:
            live_events.close()

    def close(self) -> None:
        """Flush and stop what the query side started (before the stores close)."""
        self.end_streams()
        with self._access_lock:
            self._closed = True
            access_log, self._access_log = self._access_log, None
        if access_log is not None:
            access_log.close()

    @property
    def vault(self) -> PersonalDataVault | None:
        """Opens the personal values the read models keep sealed."""
        if self.event_store is not None:
            return self.event_store.vault
        return getattr(self.host, "vault", None)

    @property
    def sql(self) -> SqlReadStore:
        assert self.host.sql_store is not None
        return self.host.sql_store

    @property
    def analytics(self) -> DuckReadStore:
        assert self.host.analytics_store is not None
        return self.host.analytics_store

    def runners(self, names: Sequence[str]) -> list[ProjectionRunner]:
        return [self.host.runners[name] for name in names if name in self.host.runners]

    def position(self, names: Sequence[str]) -> int:
        """Every event up to this position is applied in all the named read models."""
        published = self.published_through()
        return min((r.reached_position(published) for r in self.runners(names)), default=0)

    def wait_for(self, names: Sequence[str], position: int, timeout_s: float) -> bool:
        """Block until every named read model has applied `position`, or the timeout."""
        deadline = time.monotonic() + timeout_s
        for runner in self.runners(names):
            remaining = deadline - time.monotonic()
            if not runner.wait_until(position, max(0.0, remaining), self.published_through):
                return False
        return True

    def has_applied(self, names: Sequence[str], position: int) -> bool:
        """Whether every named read model has applied `position`, now (never blocks: the
        HTTP edge asks it from the event loop while it waits for `min_position`)."""
        published = self.published_through()
        return all(r.has_reached(position, published) for r in self.runners(names))

    def last_position(self) -> int | None:
        """The last position in the event store (None when this process has no store)."""
        if self.event_store is None:
            return None
        return self.event_store.recorder.max_notification_id() or 0

    def statuses(self) -> list[dict[str, Any]]:
        return self.host.statuses()
