"""Subject access and portability (GDPR articles 15 and 20): everything about one person as a
single JSON document, read from the event store — the record of truth — not from read models.

The same document answers `GET /v1/customers/{id}/export` and `crm subject-export`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from services.common.event_store import ChronicleStore, EventLog, PositionedEvent
from services.common.events.customer import CustomersMerged
from services.common.events.interaction import InteractionLogged
from services.common.events.purchase import PurchaseRecorded
from services.common.events.ticket import TicketCommentAdded, TicketOpened
from services.projections.customer_360.reads import customer_360_as_of
from services.projections.model import ConsumedEvent
from services.projections.notes.reads import customer_notes_all
from services.projections.tasks.reads import customer_tasks_all

FORMAT = "chronicle-crm.subject-export/1"
PROFILE_FIELDS = ("company", "region", "industry", "source", "owner", "tags", "external_ref",
                  "registered_at", "registered_by")


def subject_export(store: ChronicleStore, customer_id: UUID, tenant_id: str,
                   names: Callable[[set[str]], Mapping[str, str]] = lambda _: {},
                   ) -> dict[str, Any] | None:
    """The export of a customer of this tenant, or None if there is no such customer. A
    customer merged into it is exported with it (under `merged`)."""
    log = EventLog(store)
    history = log.customer_history(customer_id, tenant_id)
    if history is None:
        return None
    merged = []
    for entry in history:
        if isinstance(entry.event, CustomersMerged):
            found = log.customer_history(entry.event.merged_customer_id, tenant_id)
            if found is not None:
                merged.append(_person(entry.event.merged_customer_id, found, names))
    return {
        "format": FORMAT,
        "generated_at": datetime.now(UTC).isoformat(),
        "tenant_id": tenant_id,
        **_person(customer_id, history, names),
        "merged": merged,
    }


def _person(customer_id: UUID, history: list[PositionedEvent],
            names: Callable[[set[str]], Mapping[str, str]]) -> dict[str, Any]:
    facts = [entry for entry in history if not type(entry.event).internal]
    consumed = [ConsumedEvent(0, e.position, e.position, e.event) for e in facts]
    doc = customer_360_as_of(consumed, str(customer_id)) or {}
    known = names({entry.event.actor for entry in facts})
    comments: dict[str, list[dict[str, Any]]] = {}
    for entry in facts:
        if isinstance(entry.event, TicketCommentAdded):
            comments.setdefault(str(entry.event.aggregate_id), []).append({
                "at": entry.event.occurred_at.isoformat(), "author": entry.event.author,
                "author_type": entry.event.author_type, "public": entry.event.public,
                "body": entry.event.personal.body if entry.event.personal else None})
    return {
        "customer_id": str(customer_id),
        "erased": bool(doc.get("erased")),
        "profile": {"personal": doc.get("personal") or {},
                    **{name: doc.get(name) for name in PROFILE_FIELDS}},
        "consents": doc.get("consents", {}),
        "leads": doc.get("leads", []),
        "purchases": [{
            "purchase_id": str(e.event.aggregate_id), "at": e.event.occurred_at.isoformat(),
            **e.event.data()} for e in facts if isinstance(e.event, PurchaseRecorded)],
        "interactions": [{
            "interaction_id": str(e.event.aggregate_id), "at": e.event.occurred_at.isoformat(),
            "by": e.event.actor, **e.event.data()}
            for e in facts if isinstance(e.event, InteractionLogged)],
        "tickets": [{
            **item, "opened_by": next((e.event.actor for e in facts
                                       if isinstance(e.event, TicketOpened)
                                       and str(e.event.aggregate_id) == item["ticket_id"]), None),
            "comments": comments.get(item["ticket_id"], [])}
            for item in doc.get("tickets", {}).get("items", [])],
        "tasks": customer_tasks_all(consumed),
        "notes": customer_notes_all(consumed),
        "history": [{
            "position": e.position, "type": e.event.event_type,
            "version": e.event.schema_version, "event_id": str(e.event.event_id),
            "aggregate_id": str(e.event.aggregate_id), "actor": e.event.actor,
            "actor_name": known.get(e.event.actor),
            "occurred_at": e.event.occurred_at.isoformat(),
            "recorded_at": e.event.recorded_at.isoformat(), "data": e.event.data()}
            for e in facts],
    }
