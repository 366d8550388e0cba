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

from services.common.event_store import ChronicleStore, side_table


class PeopleDirectory:
    def __init__(self, store: ChronicleStore) -> None:
        self._table = side_table(store, "crm_people")
        self._table.create("tenant_id TEXT NOT NULL, subject TEXT NOT NULL, display_name TEXT "
                           "NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (tenant_id, subject)")
        self._memory: dict[tuple[str, str], str] = {}  # the in-memory store's names
        self._noted: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def knows(self, tenant_id: str, subject: str, name: str) -> bool:
        """Whether this process already noted this name (so nothing needs writing)."""
        return self._noted.get((tenant_id, subject)) == name

    def note(self, tenant_id: str, subject: str, name: str) -> None:
        if self.knows(tenant_id, subject, name):
            return
        if self._table.datastore is None:
            self._memory[(tenant_id, subject)] = name
        else:
            self._table.execute(
                "INSERT INTO {t} (tenant_id, subject, display_name, updated_at) VALUES "
                "(?, ?, ?, ?) ON CONFLICT (tenant_id, subject) DO UPDATE SET display_name = "
                "excluded.display_name, updated_at = excluded.updated_at",
                (tenant_id, subject, name, datetime.now(UTC).isoformat()))
        with self._lock:
            self._noted[(tenant_id, subject)] = name

    def names(self, tenant_id: str, subjects: Iterable[str]) -> dict[str, str]:
        """The display names known for these subjects of a tenant."""
        wanted = sorted(set(subjects))
        if not wanted:
            return {}
        if self._table.datastore is None:
            return {s: self._memory[(tenant_id, s)] for s in wanted
                    if (tenant_id, s) in self._memory}
        marks = ", ".join("?" for _ in wanted)
        rows = self._table.rows("SELECT subject, display_name FROM {t} WHERE tenant_id = ? "
                                f"AND subject IN ({marks})", (tenant_id, *wanted))
        return {str(subject): str(name) for subject, name in rows}
