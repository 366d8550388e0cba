"""The event store: the `eventsourcing` library's application, recorders and notification log,
storing catalog events (pydantic models) as JSON.

Everything that reads or writes events goes through `open_event_store(settings)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import InfrastructureFactory, Mapper, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import Environment, get_topic, resolve_topic

from services.common.audit_chain.recorders import chained_recorder_topic
from services.common.events.envelope import CrmEvent
from services.common.events.filing import CustomerRecordFiled, file_id
from services.common.privacy.master_key import (
    DEFAULT_FILE_NAME,
    KeyEncryptionKey,
    LocalKeyEncryptionKey,
    MasterKeyError,
    embedded_key_file,
)
from services.common.privacy.sealing import open_state, seal_state
from services.common.privacy.vault import DESTRUCTION_TABLE, KEY_TABLE, PersonalDataVault
from services.common.settings import Settings


class CatalogEventMapper(Mapper[UUID]):
    """Maps catalog events to stored events as UTF-8 JSON, upcasting old versions on the way in.

    The stored state is the event's full JSON document, with its `personal` object sealed
    under the customer's data key (services/common/privacy/) by `vault`; `schema_version` is
    added when above 1. Reading opens `personal` again — or gives null once the customer's key
    was destroyed (erasure).
    """

    vault: PersonalDataVault | None = None
    """Set by ChronicleStore; without one, personal objects cannot be written or read."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        event: CrmEvent = domain_event
        cls = type(event)
        version = cls.schema_version
        if version > 1 or "personal" in cls.model_fields:
            state = event.model_dump(mode="json")
            if "personal" in state:
                if self.vault is None:
                    raise RuntimeError("no personal-data vault: open the store with open_event_store")
                seal_state(state, self.vault)
            if version > 1:
                state["schema_version"] = version
            payload = json.dumps(state, separators=(",", ":")).encode()
        else:
            payload = event.model_dump_json().encode()
        if self.compressor:
            payload = self.compressor.compress(payload)
        if self.cipher:
            payload = self.cipher.encrypt(payload)
        return StoredEvent(
            originator_id=event.aggregate_id,
            originator_version=event.aggregate_version,
            topic=get_topic(cls),
            state=payload,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls: type[CrmEvent] = resolve_topic(stored_event.topic)
        payload = stored_event.state
        if self.cipher:
            payload = self.cipher.decrypt(payload)
        if self.compressor:
            payload = self.compressor.decompress(payload)
        if cls.schema_version == 1 and b'"schema_version"' not in payload \
                and "personal" not in cls.model_fields:
            # The common case, parsed and validated in one pass by pydantic. A JSON string token
            # "schema_version" can only be that key (or a value spelled so: then the slow path
            # below, which gives the same result): a current v1 event needs no upcasting.
            return cls.model_validate_json(payload)
        state: dict[str, Any] = json.loads(payload)
        from_version = state.pop("schema_version", 1)
        open_state(state, self.vault)
        while from_version < cls.schema_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        return cls.model_validate(state)


class ChronicleStore(Application[UUID]):
    """The one event-sourced application holding every Chronicle aggregate."""

    name = "chronicle"
    env: ClassVar[dict[str, str]] = {"MAPPER_TOPIC": get_topic(CatalogEventMapper)}

    def construct_factory(self, env: Environment) -> InfrastructureFactory:
        """The library's factory, set to build recorders that hash-chain every event they write
        (services/common/audit_chain/), unless the env names another application recorder."""
        factory = super().construct_factory(env)
        if not factory.env.get("APPLICATION_RECORDER_TOPIC"):
            chained = chained_recorder_topic(factory)
            if chained is not None:
                factory.env["APPLICATION_RECORDER_TOPIC"] = chained
        return factory

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env=env)
        self.saved_listeners: list[Callable[[int], None]] = []
        """Called with the last position after every save (wakes in-process followers)."""
        self.vault = PersonalDataVault(self._key_encryption_key(), side_table(self, KEY_TABLE),
                                       side_table(self, DESTRUCTION_TABLE))
        """Every customer's data key: seals `personal` on the way in, opens it on the way out."""
        cast(CatalogEventMapper, self.mapper).vault = self.vault

    def _key_encryption_key(self) -> KeyEncryptionKey:
        """From `MASTER_KEY` (base64) or `MASTER_KEY_FILE` in the env (Settings puts them
        there); an SQLite store without either keeps its key file beside the database, and the
        in-memory store a key of its own."""
        text = self.env.get("MASTER_KEY")
        if text:
            return LocalKeyEncryptionKey.from_text(text, "CRM_MASTER_KEY")
        path = self.env.get("MASTER_KEY_FILE")
        if path:
            return embedded_key_file(Path(path))
        if isinstance(self.recorder, SQLiteApplicationRecorder):
            dbname = self.env.get("SQLITE_DBNAME") or ""
            if dbname and ":memory:" not in dbname and "mode=memory" not in dbname:
                return embedded_key_file(Path(dbname).parent / DEFAULT_FILE_NAME)
            return LocalKeyEncryptionKey.generate()
        if isinstance(self.recorder, POPOApplicationRecorder):
            return LocalKeyEncryptionKey.generate()
        raise MasterKeyError("no master key: set CRM_MASTER_KEY_FILE (or CRM_MASTER_KEY) to the "
                             "key that wraps the customers' data keys (docs/privacy.md)")

    def _notify(self, recordings: list[Any]) -> None:
        if recordings and self.saved_listeners:
            position = recordings[-1].notification.id
            for listener in list(self.saved_listeners):
                listener(position)


def open_event_store(settings: Settings) -> ChronicleStore:
    """Open (and create on first use) the event store the settings point at."""
    return ChronicleStore(env=settings.event_store_env())


@dataclass(frozen=True)
class PositionedEvent:
    """A stored event with its global position in the notification log."""

    position: int
    event: CrmEvent


class EventLog:
    """Reads events together with their global positions (the library's notification ids).

    The library's aggregate reads do not return positions; the audit history and idempotent
    replays need them, so this reads the recorder's table directly.
    """

    def __init__(self, store: ChronicleStore) -> None:
        self._store = store
        self._recorder = store.recorder

    def events_of(self, aggregate_ids: Sequence[UUID]) -> list[PositionedEvent]:
        """Every event of the given aggregates, in store (position) order."""
        if not aggregate_ids:
            return []
        rows = self._select(aggregate_ids)
        mapper = self._store.mapper
        return [
            PositionedEvent(position, cast(CrmEvent, mapper.to_domain_event(stored)))
            for position, stored in sorted(rows, key=lambda row: row[0])
        ]

    def customer_history(self, customer_id: UUID, tenant_id: str) -> list[PositionedEvent] | None:
        """Every event of the customer and of every record linked to it or filed in its file
        (tasks, notes: services/common/events/filing.py), in store order; None if there is no
        such customer in this tenant. The audit log, straight from the store. The file's own
        bookkeeping events are left out."""
        own = self.events_of([customer_id])
        if not own or own[0].event.event_type != "crm.customer.registered" \
                or own[0].event.tenant_id != tenant_id:
            return None
        linked = [e.event.record_id for e in own if hasattr(e.event, "record_id")]
        linked += [e.event.record_id for e in self.events_of([file_id(customer_id)])
                   if isinstance(e.event, CustomerRecordFiled)]
        merged = own + self.events_of(linked)
        merged.sort(key=lambda e: e.position)
        return merged

    def position_of(self, aggregate_id: UUID, version: int) -> int | None:
        for position, stored in self._select([aggregate_id]):
            if stored.originator_version == version:
                return position
        return None

    def max_position(self) -> int:
        return self._recorder.max_notification_id() or 0

    def stream_versions(self, aggregate_ids: Iterable[UUID]) -> dict[UUID, int]:
        """The current version of each given aggregate that exists (absent ids are left out).

        One query per 500 ids, reading no event state: how a bulk writer learns which of many
        aggregates are already stored, and at which version, before it decides.
        """
        ids = list(dict.fromkeys(aggregate_ids))
        if not ids:
            return {}
        recorder = self._recorder
        if isinstance(recorder, POPOApplicationRecorder):
            return {aggregate_id: version for aggregate_id in ids
                    if (version := self._memory_version(recorder, aggregate_id))}
        versions: dict[UUID, int] = {}
        for start in range(0, len(ids), 500):  # SQLite caps bound parameters
            chunk = ids[start : start + 500]
            if isinstance(recorder, PostgresApplicationRecorder):
                from psycopg import sql

                query = sql.SQL(
                    "SELECT originator_id, MAX(originator_version) AS version FROM {}.{} "
                    "WHERE originator_id = ANY(%s) GROUP BY originator_id"
                ).format(sql.Identifier(recorder.datastore.schema),
                         sql.Identifier(recorder.events_table_name))
                with recorder.datastore.transaction(commit=False) as curs:
                    curs.execute(query, (chunk,))
                    versions.update((row["originator_id"], row["version"])
                                    for row in curs.fetchall())
            elif isinstance(recorder, SQLiteApplicationRecorder):
                text = (
                    "SELECT originator_id, MAX(originator_version) AS version "
                    f"FROM {recorder.events_table_name} "
                    f"WHERE originator_id IN ({','.join('?' * len(chunk))}) GROUP BY originator_id"
                )
                with recorder.datastore.transaction(commit=False) as curs:
                    curs.execute(text, [i.hex for i in chunk])
                    versions.update((UUID(row["originator_id"]), row["version"])
                                    for row in curs.fetchall())
            else:
                raise TypeError(f"unsupported recorder {type(recorder).__name__}")
        return versions

    @staticmethod
    def _memory_version(recorder: POPOApplicationRecorder, aggregate_id: UUID) -> int:
        latest = recorder.select_events(aggregate_id, desc=True, limit=1)
        return latest[0].originator_version if latest else 0

    def _select(self, aggregate_ids: Sequence[UUID]) -> list[tuple[int, StoredEvent]]:
        recorder = self._recorder
        if isinstance(recorder, PostgresApplicationRecorder):
            return self._select_postgres(recorder, aggregate_ids)
        if isinstance(recorder, SQLiteApplicationRecorder):
            return self._select_sqlite(recorder, aggregate_ids)
        if isinstance(recorder, POPOApplicationRecorder):
            return self._select_memory(recorder, aggregate_ids)
        raise TypeError(f"unsupported recorder {type(recorder).__name__}")

    @staticmethod
    def _select_postgres(
        recorder: PostgresApplicationRecorder, aggregate_ids: Sequence[UUID]
    ) -> list[tuple[int, StoredEvent]]:
        from psycopg import sql

        statement = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {}.{} WHERE originator_id = ANY(%s) ORDER BY notification_id"
        ).format(sql.Identifier(recorder.datastore.schema), sql.Identifier(recorder.events_table_name))
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (list(aggregate_ids),))
            return [
                (
                    row["notification_id"],
                    StoredEvent(
                        originator_id=row["originator_id"],
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=bytes(row["state"]),
                    ),
                )
                for row in curs.fetchall()
            ]

    @staticmethod
    def _select_sqlite(
        recorder: SQLiteApplicationRecorder, aggregate_ids: Sequence[UUID]
    ) -> list[tuple[int, StoredEvent]]:
        results: list[tuple[int, StoredEvent]] = []
        ids = [i.hex for i in aggregate_ids]  # the library stores UUIDs as hex text
        for start in range(0, len(ids), 500):  # SQLite caps bound parameters
            chunk = ids[start : start + 500]
            statement = (
                "SELECT rowid, originator_id, originator_version, topic, state "
                f"FROM {recorder.events_table_name} "
                f"WHERE originator_id IN ({','.join('?' * len(chunk))})"
            )
            with recorder.datastore.transaction(commit=False) as curs:
                curs.execute(statement, chunk)
                results.extend(
                    (
                        row["rowid"],
                        StoredEvent(
                            originator_id=UUID(row["originator_id"]),
                            originator_version=row["originator_version"],
                            topic=row["topic"],
                            state=row["state"],
                        ),
                    )
                    for row in curs.fetchall()
                )
        return results

    @staticmethod
    def _select_memory(
        recorder: POPOApplicationRecorder, aggregate_ids: Iterable[UUID]
    ) -> list[tuple[int, StoredEvent]]:
        wanted = set(aggregate_ids)
        last = recorder.max_notification_id() or 0
        notifications = recorder.select_notifications(start=1, limit=last + 1)
        return [(n.id, n) for n in notifications if n.originator_id in wanted]


class EventBatch:
    """Many customers' pending events, handed to `store.save` as one object.

    `Application.save(*events)` checks every argument against a runtime-checkable Protocol,
    which costs about 40 µs per event on Python 3.11 — as much as writing the event. An object
    with `collect_events()` is checked once; the library then records exactly these events, in
    this order, in one transaction.
    """

    def __init__(self, events: list[CrmEvent]) -> None:
        self.id = events[0].aggregate_id  # the library files collected objects by id
        self.version = len(events)  # part of the aggregate protocol; used for snapshots only
        self._events = events

    def collect_events(self) -> list[CrmEvent]:
        events, self._events = self._events, []
        return events


@dataclass(frozen=True)
class SideTable:
    """A small table of our own in the event store's database (the SQLite file, or the
    PostgreSQL schema), for what is not an event: written through the store's own datastore.
    `datastore` is None for the in-memory store (callers keep such state in memory)."""

    datastore: Any | None
    name: str
    """The table's name as SQL takes it (schema-qualified on PostgreSQL)."""
    mark: str
    """The parameter placeholder of the database's driver."""

    def create(self, columns: str) -> None:
        if self.datastore is not None:
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(f"CREATE TABLE IF NOT EXISTS {self.name} ({columns})")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """`sql` with `{t}` for the table and `?` for parameters, in one committed transaction."""
        assert self.datastore is not None
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(sql.format(t=self.name).replace("?", self.mark), tuple(params))

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of a query (`{t}`, `?` as in `execute`), as tuples."""
        assert self.datastore is not None
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(sql.format(t=self.name).replace("?", self.mark), tuple(params))
            found = cursor.fetchall()
        return [tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in found]


def side_table(store: ChronicleStore, name: str) -> SideTable:
    """A table of our own beside the store's events (see SideTable)."""
    from eventsourcing.sqlite import SQLiteApplicationRecorder

    recorder = store.recorder
    if isinstance(recorder, PostgresApplicationRecorder):
        return SideTable(recorder.datastore, f'"{recorder.datastore.schema}".{name}', "%s")
    if isinstance(recorder, SQLiteApplicationRecorder):
        return SideTable(recorder.datastore, name, "?")
    return SideTable(None, name, "?")
