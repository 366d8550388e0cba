"""The customer-360 read model: one document per customer, with columns to filter on.

Every fact about a customer carries its `customer_id` in the envelope, so each event reads and
writes exactly one row. State that spans several events of one record (a lead's stage and
amount, a ticket's status and resolution) lives inside the customer's document, which is small:
it keeps summaries of interactions and purchases, not their history (the timeline has that).

Handlers copy the document shallowly and replace only the part they change; money is summed
with `Decimal` and stored as strings. The same code folds a customer's events in memory for the
point-in-time view, so that view equals the live document at the same position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from services.common.events.alert import AlertAcknowledged, AlertRaised, AlertResolved
from services.common.events.customer import (
    CustomerAlertLinked,
    CustomerBecameDormant,
    CustomerConsentChanged,
    CustomerErased,
    CustomerOwnerChanged,
    CustomerProfileChanged,
    CustomerRecordLinked,
    CustomerRegistered,
    CustomersMerged,
    CustomerTagged,
    CustomerUntagged,
)
from services.common.events.envelope import CrmEvent
from services.common.events.interaction import InteractionLogged
from services.common.events.lead import (
    DiscountApprovalRequested,
    DiscountApproved,
    DiscountRejected,
    DiscountRequested,
    FollowUpOverdue,
    LeadAmountChanged,
    LeadAssigned,
    LeadCreated,
    LeadLost,
    LeadStageChanged,
    LeadWon,
    PaymentReceived,
)
from services.common.events.purchase import PurchaseRecorded
from services.common.events.ticket import (
    TicketAssigned,
    TicketCommentAdded,
    TicketFirstResponded,
    TicketOpened,
    TicketPriorityChanged,
    TicketSlaBreached,
    TicketStatusChanged,
)
from services.projections.lifecycle import (
    LifecycleConfig,
    LifecycleProjection,
    customer_transitions_of,
    read_customer_stage,
    stage_as_of,
)
from services.projections.model import ConsumedEvent, Projection, Row, Rows, Table, fold
from services.projections.stores.base import iso
from services.projections.stores.sql import SqlReadStore

TABLE = "customer_360"
OPEN_TICKET_STATUSES = frozenset({"open", "pending", "reopened"})

Doc = dict[str, Any]


def new_document(customer_id: str) -> Doc:
    """The document of a customer no event has described yet."""
    return {
        "customer_id": customer_id, "personal": {}, "company": None, "region": None,
        "industry": None, "source": None, "first_lead_source": None, "owner": None, "tags": [],
        "consents": {}, "erased": False, "external_ref": None, "registered_at": None,
        "merged_customer_ids": [],
        "leads": [], "lead_counts": {"open": 0, "won": 0, "lost": 0},
        "purchases": {"count": 0, "total": None, "average": None, "currency": None,
                      "by_currency": {}, "first_at": None, "last_at": None},
        "interactions": {"count": 0, "by_channel": {}, "by_direction": {}, "first_at": None,
                         "last_at": None, "last_inbound_at": None},
        "tickets": {"open": 0, "total": 0, "avg_resolution_hours": None,
                    "resolution_seconds_sum": 0.0, "resolved_count": 0, "items": []},
    }


class Customer360Projection(Projection):
    """One row per customer: filter columns plus the `doc` the query API serves."""

    name: ClassVar[str] = "customer_360"
    tables: ClassVar[tuple[Table, ...]] = (
        Table(TABLE, {
            "id": "text", "tenant_id": "text", "owner": "text", "region": "text",
            "source": "text", "company": "text", "name": "text", "email": "text",
            "created_at": "ts", "erased": "bool", "doc": "json", "version": "int",
            "last_position": "int", "updated_at": "ts",
        }, indexes=(("tenant_id", "created_at"), ("tenant_id", "owner"), ("tenant_id", "region"),
                    ("tenant_id", "source"), ("tenant_id", "company"), ("tenant_id", "name"),
                    ("tenant_id", "email"), ("tenant_id", "owner", "region", "created_at"))),
    )

    def keys(self, event: CrmEvent) -> Iterable[tuple[str, str]]:
        if type(event) in _HANDLED:
            return ((TABLE, str(event.customer_id)),)
        return ()  # bookkeeping (record links) and events this model ignores

    def apply(self, rows: Rows, consumed: ConsumedEvent) -> None:
        handler = _HANDLED.get(type(consumed.event))
        if handler is None:
            return
        customer_id = str(consumed.event.customer_id)
        row = rows.get(TABLE, customer_id)
        doc = dict(row["doc"]) if row else new_document(customer_id)
        handler(doc, consumed.event)
        rows.put(TABLE, _row(doc, consumed, row))


def _row(doc: Doc, consumed: ConsumedEvent, previous: Row | None) -> Row:
    event = consumed.event
    personal = doc["personal"]
    return {
        "id": doc["customer_id"], "tenant_id": event.tenant_id, "owner": doc["owner"],
        "region": doc["region"], "source": doc["source"] or doc["first_lead_source"],
        "company": doc["company"], "name": _lower(personal.get("name")),
        "email": _lower(personal.get("email")), "created_at": doc["registered_at"],
        "erased": doc["erased"], "doc": doc,
        "version": (previous["version"] if previous else 0) + 1,
        "last_position": consumed.position, "updated_at": iso(event.recorded_at),
    }


def _lower(value: str | None) -> str | None:
    return value.lower() if value is not None else None


# -- profile ------------------------------------------------------------------------------------


def _registered(doc: Doc, event: CustomerRegistered) -> None:
    doc["personal"] = event.personal.model_dump(exclude_none=True)
    doc.update(company=event.company, region=event.region, industry=event.industry,
               source=event.source, owner=event.owner, tags=list(dict.fromkeys(event.tags)),
               external_ref=event.external_ref, registered_at=iso(event.occurred_at))


def _profile_changed(doc: Doc, event: CustomerProfileChanged) -> None:
    if event.personal is not None and not doc["erased"]:
        doc["personal"] = {**doc["personal"], **event.personal.model_dump(exclude_none=True)}
    for key in ("company", "region", "industry"):
        value = getattr(event, key)
        if value is not None:
            doc[key] = value


def _tagged(doc: Doc, event: CustomerTagged) -> None:
    if event.tag not in doc["tags"]:
        doc["tags"] = [*doc["tags"], event.tag]


def _untagged(doc: Doc, event: CustomerUntagged) -> None:
    doc["tags"] = [tag for tag in doc["tags"] if tag != event.tag]


def _owner_changed(doc: Doc, event: CustomerOwnerChanged) -> None:
    doc["owner"] = event.to_owner


def _consent_changed(doc: Doc, event: CustomerConsentChanged) -> None:
    doc["consents"] = {**doc["consents"], event.channel: event.granted}


def _erased(doc: Doc, event: CustomerErased) -> None:
    """The key is destroyed: drop every personal value we hold (and the name/email columns)."""
    doc["personal"] = {}
    doc["erased"] = True


def _merged(doc: Doc, event: CustomersMerged) -> None:
    """Recorded on the survivor. The merged customer keeps its own document; the query side
    can combine them through this list."""
    merged = str(event.merged_customer_id)
    if merged not in doc["merged_customer_ids"]:
        doc["merged_customer_ids"] = [*doc["merged_customer_ids"], merged]


# -- leads --------------------------------------------------------------------------------------


def _lead_created(doc: Doc, event: LeadCreated) -> None:
    lead = {
        "lead_id": str(event.aggregate_id), "title": event.title, "stage": event.stage,
        "amount": event.amount, "currency": event.currency, "owner": event.owner,
        "source": event.source, "region": event.region, "status": "open",
        "created_at": iso(event.occurred_at), "closed_at": None, "lost_reason": None,
        "paid": None, "discount": None, "follow_up_overdue": False,
    }
    doc["leads"] = [*doc["leads"], lead]
    if doc["first_lead_source"] is None:
        doc["first_lead_source"] = event.source
    _count_leads(doc)


def _update_lead(doc: Doc, event: CrmEvent, **changes: Any) -> dict[str, Any] | None:
    """Replace the lead's entry by a changed copy; returns the new entry (None if unknown)."""
    lead_id = str(event.aggregate_id)
    leads: list[dict[str, Any]] = doc["leads"]
    for index, lead in enumerate(leads):
        if lead["lead_id"] == lead_id:
            updated = {**lead, **changes}
            doc["leads"] = [*leads[:index], updated, *leads[index + 1:]]
            return updated
    return None


def _count_leads(doc: Doc) -> None:
    counts = {"open": 0, "won": 0, "lost": 0}
    for lead in doc["leads"]:
        counts[lead["status"]] = counts.get(lead["status"], 0) + 1
    doc["lead_counts"] = counts


def _lead_assigned(doc: Doc, event: LeadAssigned) -> None:
    _update_lead(doc, event, owner=event.to_owner)


def _lead_stage_changed(doc: Doc, event: LeadStageChanged) -> None:
    _update_lead(doc, event, stage=event.to_stage, follow_up_overdue=False)


def _lead_amount_changed(doc: Doc, event: LeadAmountChanged) -> None:
    _update_lead(doc, event, amount=event.amount, currency=event.currency)


def _discount_requested(doc: Doc, event: DiscountRequested) -> None:
    _update_lead(doc, event, discount={
        "discount_id": str(event.discount_id), "percent": event.percent,
        "status": "pending" if event.requires_approval else "applied", "approver": None})


def _discount_approval_requested(doc: Doc, event: DiscountApprovalRequested) -> None:
    """The pending discount now waits for this approver (shown until it is decided)."""
    lead = next((x for x in doc["leads"] if x["lead_id"] == str(event.aggregate_id)), None)
    discount = lead["discount"] if lead else None
    if discount is not None and discount["discount_id"] == str(event.discount_id):
        _update_lead(doc, event, discount={**discount, "approver": event.approver})


def _discount_decided(status: str) -> Callable[[Doc, DiscountApproved | DiscountRejected], None]:
    def handle(doc: Doc, event: DiscountApproved | DiscountRejected) -> None:
        lead = next((x for x in doc["leads"] if x["lead_id"] == str(event.aggregate_id)), None)
        discount = lead["discount"] if lead else None
        if discount is not None and discount["discount_id"] == str(event.discount_id):
            _update_lead(doc, event, discount={**discount, "status": status})

    return handle


def _lead_won(doc: Doc, event: LeadWon) -> None:
    changes: dict[str, Any] = {"status": "won", "stage": "won",
                               "closed_at": iso(event.occurred_at)}
    if event.amount is not None:
        changes.update(amount=event.amount, currency=event.currency)
    _update_lead(doc, event, **changes)
    _count_leads(doc)


def _lead_lost(doc: Doc, event: LeadLost) -> None:
    _update_lead(doc, event, status="lost", stage="lost", closed_at=iso(event.occurred_at),
                 lost_reason=event.reason)
    _count_leads(doc)


def _payment_received(doc: Doc, event: PaymentReceived) -> None:
    lead = next((x for x in doc["leads"] if x["lead_id"] == str(event.aggregate_id)), None)
    if lead is not None:
        paid = Decimal(lead["paid"]) if lead["paid"] is not None else Decimal(0)
        _update_lead(doc, event, paid=str(paid + Decimal(event.amount)))


def _follow_up_overdue(doc: Doc, event: FollowUpOverdue) -> None:
    _update_lead(doc, event, follow_up_overdue=True)


# -- purchases and interactions -----------------------------------------------------------------


def _purchase_recorded(doc: Doc, event: PurchaseRecorded) -> None:
    """Totals per currency always; a single `total`/`average` only while there is one currency
    (adding euros to dollars would be meaningless)."""
    old = doc["purchases"]
    by_currency = dict(old["by_currency"])
    entry = by_currency.get(event.currency, {"count": 0, "total": "0"})
    by_currency[event.currency] = {"count": entry["count"] + 1,
                                   "total": str(Decimal(entry["total"]) + Decimal(event.amount))}
    at = iso(event.occurred_at)
    purchases = {**old, "count": old["count"] + 1, "by_currency": by_currency,
                 "first_at": min(old["first_at"] or at, at),
                 "last_at": max(old["last_at"] or at, at)}
    if len(by_currency) == 1:
        ((currency, only),) = by_currency.items()
        purchases.update(currency=currency, total=only["total"],
                         average=_average(Decimal(only["total"]), only["count"]))
    else:
        purchases.update(currency=None, total=None, average=None)
    doc["purchases"] = purchases


def _average(total: Decimal, count: int) -> str:
    """The mean, to the precision of the amounts (at least cents), rounded half-even."""
    exponent = total.as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return str((total / count).quantize(Decimal(1).scaleb(-places)))


def _interaction_logged(doc: Doc, event: InteractionLogged) -> None:
    old = doc["interactions"]
    at = iso(event.occurred_at)
    by_channel = dict(old["by_channel"])
    by_channel[event.channel] = by_channel.get(event.channel, 0) + 1
    by_direction = dict(old["by_direction"])
    by_direction[event.direction] = by_direction.get(event.direction, 0) + 1
    last_inbound = old["last_inbound_at"]
    if event.direction == "inbound":
        last_inbound = max(last_inbound or at, at)
    doc["interactions"] = {
        "count": old["count"] + 1, "by_channel": by_channel, "by_direction": by_direction,
        "first_at": min(old["first_at"] or at, at), "last_at": max(old["last_at"] or at, at),
        "last_inbound_at": last_inbound,
    }


# -- tickets ------------------------------------------------------------------------------------


def _ticket_opened(doc: Doc, event: TicketOpened) -> None:
    item: dict[str, Any] = {"ticket_id": str(event.aggregate_id), "subject": event.subject,
            "priority": event.priority, "status": "open", "opened_at": iso(event.occurred_at),
            "resolved_at": None, "resolution_seconds": None, "first_response_seconds": None,
            "sla_breached": []}
    _set_tickets(doc, [*doc["tickets"]["items"], item])


def _update_ticket(doc: Doc, event: CrmEvent,
                   change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    ticket_id = str(event.aggregate_id)
    items: list[dict[str, Any]] = doc["tickets"]["items"]
    for index, item in enumerate(items):
        if item["ticket_id"] == ticket_id:
            _set_tickets(doc, [*items[:index], {**item, **change(item)}, *items[index + 1:]])
            return


def _set_tickets(doc: Doc, items: list[dict[str, Any]]) -> None:
    """Recompute the summary from the items: a customer has few tickets, and recomputing
    keeps a reopened-then-resolved ticket from being counted twice."""
    resolved = [i["resolution_seconds"] for i in items if i["resolution_seconds"] is not None]
    seconds = float(sum(resolved))
    doc["tickets"] = {
        "open": sum(1 for i in items if i["status"] in OPEN_TICKET_STATUSES),
        "total": len(items),
        "avg_resolution_hours": round(seconds / len(resolved) / 3600, 2) if resolved else None,
        "resolution_seconds_sum": seconds, "resolved_count": len(resolved), "items": items,
    }


def _ticket_status_changed(doc: Doc, event: TicketStatusChanged) -> None:
    at = event.occurred_at

    def change(item: dict[str, Any]) -> dict[str, Any]:
        if event.to_status == "resolved":
            opened = datetime.fromisoformat(item["opened_at"])
            return {"status": "resolved", "resolved_at": iso(at),
                    "resolution_seconds": max(0.0, (at - opened).total_seconds())}
        if event.to_status == "reopened":
            return {"status": "reopened", "resolved_at": None, "resolution_seconds": None}
        return {"status": event.to_status}

    _update_ticket(doc, event, change)


def _ticket_first_responded(doc: Doc, event: TicketFirstResponded) -> None:
    _update_ticket(doc, event, lambda item: {"first_response_seconds": event.response_seconds})


def _ticket_priority_changed(doc: Doc, event: TicketPriorityChanged) -> None:
    """The ticket shows its current priority (service analytics keep the opening one)."""
    _update_ticket(doc, event, lambda item: {"priority": event.to_priority})


def _ticket_sla_breached(doc: Doc, event: TicketSlaBreached) -> None:
    def change(item: dict[str, Any]) -> dict[str, Any]:
        breached = item["sla_breached"]
        return {"sla_breached": breached if event.sla in breached else [*breached, event.sla]}

    _update_ticket(doc, event, change)


_HANDLED: dict[type[CrmEvent], Callable[[Doc, Any], None]] = {
    CustomerRegistered: _registered,
    CustomerProfileChanged: _profile_changed,
    CustomerTagged: _tagged,
    CustomerUntagged: _untagged,
    CustomerOwnerChanged: _owner_changed,
    CustomerConsentChanged: _consent_changed,
    CustomerErased: _erased,
    CustomersMerged: _merged,
    LeadCreated: _lead_created,
    LeadAssigned: _lead_assigned,
    LeadStageChanged: _lead_stage_changed,
    LeadAmountChanged: _lead_amount_changed,
    DiscountRequested: _discount_requested,
    DiscountApprovalRequested: _discount_approval_requested,
    DiscountApproved: _discount_decided("approved"),
    DiscountRejected: _discount_decided("rejected"),
    LeadWon: _lead_won,
    LeadLost: _lead_lost,
    PaymentReceived: _payment_received,
    FollowUpOverdue: _follow_up_overdue,
    PurchaseRecorded: _purchase_recorded,
    InteractionLogged: _interaction_logged,
    TicketOpened: _ticket_opened,
    TicketStatusChanged: _ticket_status_changed,
    TicketFirstResponded: _ticket_first_responded,
    TicketSlaBreached: _ticket_sla_breached,
    TicketPriorityChanged: _ticket_priority_changed,
}
"""One handler per event type this model uses; every other published type is in IGNORED."""

IGNORED: frozenset[type[CrmEvent]] = frozenset({
    # bookkeeping: links saved with a new record or alert
    CustomerRecordLinked, CustomerAlertLinked,
    # the timeline shows them
    TicketAssigned, TicketCommentAdded,
    # The document holds no lifecycle field: the stage is read from the lifecycle model at the
    # reader's `as_of`, which derives dormancy from activity itself (see lifecycle.py).
    CustomerBecameDormant,
    # alerts have their own read model; the lead's `follow_up_overdue`, the ticket's
    # `sla_breached` and the discount's `approver` already show what they are about
    AlertRaised, AlertAcknowledged, AlertResolved,
})
"""Published event types this model ignores on purpose. (Internal events such as
TenantRulesChanged never reach a projection.)"""


# -- reads --------------------------------------------------------------------------------------


def document(row: Row, lifecycle_stage: str | None) -> Doc:
    """The served shape: the stored document plus its stage, version and (empty) timeline,
    which the query layer fills from the timeline model."""
    return {**row["doc"], "lifecycle_stage": lifecycle_stage, "timeline": [],
            "version": row["version"], "last_position": row["last_position"],
            "updated_at": row["updated_at"]}


def read_customer_360(store: SqlReadStore, customer_id: str, *, lifecycle_stage: str | None = None,
                      as_of: datetime | str | None = None,
                      with_lifecycle: bool = True) -> Doc | None:
    """The customer's document, or None if the model has not seen the customer.

    The stage is `lifecycle_stage` if given; otherwise it is read from the lifecycle model in
    the same store at `as_of` (default now), when `with_lifecycle` and that model exists there.
    """
    table = Customer360Projection.tables[0]
    found = store.query(f"SELECT * FROM {TABLE} WHERE id = ?", (customer_id,))
    if not found:
        return None
    from_db = store.from_db
    row = {name: from_db(kind, found[0][name]) for name, kind in table.columns.items()}
    if lifecycle_stage is None and with_lifecycle and \
            store.generations(LifecycleProjection.name)[0] is not None:
        lifecycle_stage = read_customer_stage(store, customer_id, as_of)
    return document(row, lifecycle_stage)


def customer_360_as_of(events: Iterable[ConsumedEvent], customer_id: str | None = None, *,
                       as_of: datetime | str | None = None,
                       lifecycle_config: LifecycleConfig | None = None) -> Doc | None:
    """The customer's document folded in memory from its events (e.g. those up to a position,
    or up to a business time), with the lifecycle stage at `as_of` (default: the latest
    business time among the events).

    The same handlers as the live model, so it equals the live document at that position.
    """
    events = list(events)
    if not events:
        return None
    wanted = customer_id or str(events[0].event.customer_id)
    mine = [c for c in events if str(c.event.customer_id) == wanted]
    row = fold(Customer360Projection(), mine).get(TABLE, wanted)
    if row is None:
        return None
    moment = as_of if as_of is not None else max(iso(c.event.occurred_at) for c in mine)
    lifecycle_rows = fold(LifecycleProjection(lifecycle_config), mine)
    stage = stage_as_of(customer_transitions_of(lifecycle_rows, wanted), moment)
    return document(row, stage)
