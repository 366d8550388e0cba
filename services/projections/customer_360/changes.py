"""Field-level changes for the audit history: what each of a customer's events changed, before
and after.

The customer's events are folded in store order through the customer-360 and lifecycle
projections (the same handlers as the live models), in memory; the document after each event is
compared with the one before it on the fields a person edits or a process moves. Personal
values come out in clear, as the events themselves do in the history; once the customer is
erased the events no longer open, so there are none to show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypedDict

from services.common.events.ticket import TicketAssigned, TicketOpened
from services.common.times import iso
from services.projections.customer_360.projection import CUSTOMERS, Customer360Projection, Doc
from services.projections.lifecycle.projection import CUSTOMERS as LIFECYCLE_CUSTOMERS
from services.projections.lifecycle.projection import LifecycleProjection
from services.projections.lifecycle.stages import LifecycleConfig, stage_as_of
from services.projections.model import ConsumedEvent, MemoryRows


class Change(TypedDict):
    field: str
    before: Any
    after: Any


PROFILE_FIELDS = ("company", "region", "industry", "source", "external_ref", "owner")
PERSONAL_FIELDS = ("name", "email", "phone")
LEAD_FIELDS = ("title", "stage", "status", "amount", "currency", "owner")
TICKET_FIELDS = ("status", "priority", "assignee")


def field_changes(events: Iterable[ConsumedEvent], customer_id: str,
                  lifecycle_config: LifecycleConfig | None = None) -> dict[int, list[Change]]:
    """{position: the changes its event made}, for every event of the customer (store order;
    internal events and those of other customers change nothing here).

    Fields: the profile's (`company`, `region`, `industry`, `source`, `external_ref`,
    `owner`), its personal values (`name`, `email`, `phone`), `tags`, `consent.<channel>`,
    `lifecycle_stage` (the stage at the event's business time), `erased`, the event's lead
    (`lead.title`, `lead.stage`, `lead.status`, `lead.amount`, `lead.currency`, `lead.owner`)
    and its ticket (`ticket.status`, `ticket.priority`, `ticket.assignee`). A record's fields
    are those of the record the event is about (its `aggregate_id`)."""
    customer = Customer360Projection()
    lifecycle = LifecycleProjection(lifecycle_config)
    rows, lifecycle_rows = MemoryRows(), MemoryRows()
    before: Doc | None = None
    stage: str | None = None
    assignees: dict[str, str | None] = {}
    found: dict[int, list[Change]] = {}
    for consumed in events:
        event = consumed.event
        if type(event).internal or str(event.customer_id) != customer_id:
            found[consumed.position] = []
            continue
        rows.begin_event()
        customer.apply(rows, consumed)
        lifecycle_rows.begin_event()
        lifecycle.apply(lifecycle_rows, consumed)
        row = rows.get(CUSTOMERS, customer_id)
        after: Doc | None = row["doc"] if row else None
        facts = lifecycle_rows.get(LIFECYCLE_CUSTOMERS, customer_id)
        new_stage = stage_as_of([(t[0], t[1]) for t in facts["transitions"]],
                                iso(event.occurred_at)) if facts else None
        changes = _document_changes(before, after, str(event.aggregate_id))
        if new_stage != stage:
            changes.append(Change(field="lifecycle_stage", before=stage, after=new_stage))
        record = str(event.aggregate_id)
        if isinstance(event, TicketOpened | TicketAssigned):
            to = event.assignee if isinstance(event, TicketOpened) else event.to_assignee
            if assignees.get(record) != to:
                changes.append(Change(field="ticket.assignee", before=assignees.get(record),
                                      after=to))
            assignees[record] = to
        found[consumed.position] = changes
        before, stage = after, new_stage
    return found


def _document_changes(before: Doc | None, after: Doc | None, record: str) -> list[Change]:
    if after is None or after is before:
        return []
    old: Mapping[str, Any] = before or {}
    changes: list[Change] = []

    def compare(field: str, was: Any, now: Any) -> None:
        if was != now:
            changes.append(Change(field=field, before=was, after=now))

    old_personal = _personal(old.get("personal"))
    new_personal = _personal(after.get("personal"))
    for name in PERSONAL_FIELDS:
        compare(name, old_personal.get(name), new_personal.get(name))
    for name in PROFILE_FIELDS:
        compare(name, old.get(name), after.get(name))
    if list(old.get("tags") or []) != list(after.get("tags") or []):
        changes.append(Change(field="tags", before=list(old.get("tags") or []),
                              after=list(after.get("tags") or [])))
    old_consents, new_consents = old.get("consents") or {}, after.get("consents") or {}
    for channel in sorted(set(old_consents) | set(new_consents)):
        compare(f"consent.{channel}", old_consents.get(channel), new_consents.get(channel))
    compare("erased", bool(old.get("erased", False)), bool(after.get("erased", False)))
    old_lead, new_lead = _item(old.get("leads"), "lead_id", record), \
        _item(after.get("leads"), "lead_id", record)
    if new_lead is not None:
        for name in LEAD_FIELDS:
            compare(f"lead.{name}", (old_lead or {}).get(name), new_lead.get(name))
    old_ticket = _item((old.get("tickets") or {}).get("items"), "ticket_id", record)
    new_ticket = _item((after.get("tickets") or {}).get("items"), "ticket_id", record)
    if new_ticket is not None:
        for name in TICKET_FIELDS:
            if name in new_ticket:
                compare(f"ticket.{name}", (old_ticket or {}).get(name), new_ticket.get(name))
    return changes


def _personal(stored: Any) -> dict[str, Any]:
    """The document's personal values, folded in memory without a vault: kept in clear."""
    return dict(stored) if isinstance(stored, dict) else {}


def _item(items: Sequence[dict[str, Any]] | None, key: str, record: str) -> dict[str, Any] | None:
    return next((item for item in items or () if item.get(key) == record), None)
