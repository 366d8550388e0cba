"""Display names of the people who act, kept beside the event store.

An event's `actor` is the principal's subject: for an OIDC user often an opaque id (`00u1a2b3`,
a GUID). The name the identity provider gives for it (`name`, else `preferred_username`), or an
API key's display name, is noted here when the principal makes a request, so the audit history
can show it beside the id. The table (`crm_people`, in the event store's own database) holds one
row per tenant and subject; it is not an event stream: a name is a label, and the latest wins.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime

from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from services.common.event_store import ChronicleStore

TABLE = "crm_people"


class PeopleDirectory:
    def __init__(self, store: ChronicleStore) -> None:
        recorder = store.recorder
        self._datastore = getattr(recorder, "datastore", None)
        if isinstance(recorder, PostgresApplicationRecorder):
            self._table, self._mark = f'"{recorder.datastore.schema}".{TABLE}', "%s"
        elif isinstance(recorder, SQLiteApplicationRecorder):
            self._table, self._mark = TABLE, "?"
        else:  # the in-memory store: names live as long as its events
            self._datastore = None
        self._memory: dict[tuple[str, str], str] = {}
        self._noted: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        if self._datastore is not None:
            with self._datastore.transaction(commit=True) as cursor:
                cursor.execute(f"CREATE TABLE IF NOT EXISTS {self._table} (tenant_id TEXT NOT "
                               "NULL, subject TEXT NOT NULL, display_name TEXT NOT NULL, "
                               "updated_at TEXT NOT NULL, PRIMARY KEY (tenant_id, subject))")

    def knows(self, tenant_id: str, subject: str, name: str) -> bool:
        """Whether this process already noted this name (so nothing needs writing)."""
        return self._noted.get((tenant_id, subject)) == name

    def note(self, tenant_id: str, subject: str, name: str) -> None:
        if self.knows(tenant_id, subject, name):
            return
        if self._datastore is None:
            self._memory[(tenant_id, subject)] = name
        else:
            m = self._mark
            with self._datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    f"INSERT INTO {self._table} (tenant_id, subject, display_name, updated_at) "
                    f"VALUES ({m}, {m}, {m}, {m}) ON CONFLICT (tenant_id, subject) DO UPDATE "
                    "SET display_name = excluded.display_name, updated_at = excluded.updated_at",
                    (tenant_id, subject, name, datetime.now(UTC).isoformat()))
        with self._lock:
            self._noted[(tenant_id, subject)] = name

    def names(self, tenant_id: str, subjects: Iterable[str]) -> dict[str, str]:
        """The display names known for these subjects of a tenant."""
        wanted = sorted(set(subjects))
        if not wanted:
            return {}
        if self._datastore is None:
            return {s: self._memory[(tenant_id, s)] for s in wanted
                    if (tenant_id, s) in self._memory}
        m = self._mark
        marks = ", ".join(m for _ in wanted)
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT subject, display_name FROM {self._table} WHERE tenant_id = "
                           f"{m} AND subject IN ({marks})", (tenant_id, *wanted))
            rows = cursor.fetchall()
        return {str(row[0] if not isinstance(row, dict) else row["subject"]):
                str(row[1] if not isinstance(row, dict) else row["display_name"]) for row in rows}
