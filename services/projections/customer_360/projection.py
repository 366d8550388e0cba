"""The customer-360 read model: one document per customer, with columns to filter on.

Every fact about a customer carries its `customer_id` in the envelope, so each event reads and
writes exactly one row. State that spans several events of one record (a lead's stage and
amount, a ticket's status and resolution) lives inside the customer's document, which is small:
it keeps summaries of interactions and purchases, not their history (the timeline has that).

Handlers change the document inside `_document(...)`, which loads it and writes the row back;
they copy shallowly and replace only the part they change. Money is summed with `Decimal` and
stored as strings. The same handlers fold a customer's events in memory for the point-in-time
view (reads.py), so that view equals the live document at the same position.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from services.common.auth.book import UNASSIGNED
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
from services.common.events.note import NOTE_EVENTS
from services.common.events.purchase import PurchaseRecorded
from services.common.events.task import TASK_EVENTS
from services.common.events.ticket import (
    OPEN_TICKET_STATUSES,
    TicketAssigned,
    TicketCommentAdded,
    TicketFirstResponded,
    TicketOpened,
    TicketPriorityChanged,
    TicketSlaBreached,
    TicketStatusChanged,
)
from services.common.times import iso
from services.projections.model import Projection, Rows, Table, handler
from services.projections.personal import open_values, seal_values, search_column

CUSTOMERS = Table("customer_360", {
    "id": "text", "tenant_id": "text", "owner": "text", "region": "text",
    "source": "text", "company": "text", "search": "text",
    "created_at": "ts", "erased": "bool", "doc": "json", "version": "int",
    "last_position": "int", "updated_at": "ts",
}, indexes=(("tenant_id", "created_at"), ("tenant_id", "owner"), ("tenant_id", "region"),
            ("tenant_id", "source"), ("tenant_id", "company"),
            ("tenant_id", "owner", "region", "created_at")))
"""`search` holds blind tokens of the personal values (services/projections/personal.py); the
document's personal values (`personal`, a lost lead's `lost_reason`, a ticket's `subject`)
are sealed under the customer's key, and opened by `reads.open_document`."""
PROFILE = "customer_360"
"""The context id the profile's personal values are sealed under (a lead's or ticket's own
values are sealed under its id)."""
CUSTOMER = CUSTOMERS.row("customer_id")
"""Every handler reads and writes the document of the event's customer."""

Doc = dict[str, Any]


def new_document(customer_id: str) -> Doc:
    """The document of a customer no event has described yet."""
    return {
        "customer_id": customer_id, "personal": {}, "company": None, "region": None,
        "industry": None, "source": None, "first_lead_source": None, "owner": None, "tags": [],
        "consents": {}, "erased": False, "external_ref": None, "registered_at": None,
        "registered_by": None, "book": [],
        "merged_customer_ids": [],
        "leads": [], "lead_counts": {"open": 0, "won": 0, "lost": 0},
        "purchases": {"count": 0, "total": None, "average": None, "currency": None,
                      "by_currency": {}, "first_at": None, "last_at": None, "zero_value": 0},
        "interactions": {"count": 0, "by_channel": {}, "by_direction": {}, "first_at": None,
                         "last_at": None, "last_inbound_at": None},
        "tickets": {"open": 0, "total": 0, "avg_resolution_hours": None,
                    "resolution_seconds_sum": 0.0, "resolved_count": 0, "items": []},
    }


class _document:  # noqa: N801 - used as a `with` block, like a function
    """The customer's document to change (`with _document(rows, event, position) as doc:`);
    written back with its filter columns afterwards, not when the handler raises. A class, not
    a generator: it runs for every event this model applies."""

    __slots__ = ("rows", "event", "position", "customer_id", "previous", "doc", "search")

    def __init__(self, rows: Rows, event: CrmEvent, position: int) -> None:
        self.rows, self.event, self.position = rows, event, position
        self.customer_id = str(event.customer_id)
        self.previous = rows.get(CUSTOMERS, self.customer_id)
        self.search: str | None = self.previous["search"] if self.previous else None

    def __enter__(self) -> Doc:
        previous = self.previous
        self.doc = dict(previous["doc"]) if previous else new_document(self.customer_id)
        return self.doc

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            return
        if "_search" in self.doc:
            self.search = self.doc.pop("_search")
        doc, previous = self.doc, self.previous
        doc["book"] = _book(doc)
        self.rows.put(CUSTOMERS, {
            "id": self.customer_id, "tenant_id": self.event.tenant_id, "owner": doc["owner"],
            "region": doc["region"], "source": doc["source"] or doc["first_lead_source"],
            "company": doc["company"], "search": self.search,
            "created_at": doc["registered_at"],
            "erased": doc["erased"], "doc": doc,
            "version": (previous["version"] if previous else 0) + 1,
            "last_position": self.position, "updated_at": iso(self.event.recorded_at),
        })


def _book(doc: Doc) -> list[str]:
    """Whose book the customer is in (services/common/auth/book.py): its owner, who
    registered it, its leads' owners and creators, and nobody's yet while a lead of it waits
    for assignment."""
    people = {doc["owner"], doc.get("registered_by")}
    for lead in doc["leads"]:
        people.update((lead["owner"], lead.get("created_by")))
        if lead["status"] == "open" and not lead["owner"]:
            people.add(UNASSIGNED)
    return sorted(person for person in people if person)


class Customer360Projection(Projection):
    """One row per customer: filter columns plus the `doc` the query API serves."""

    name: ClassVar[str] = "customer_360"
    tables: ClassVar[tuple[Table, ...]] = (CUSTOMERS,)
    holds_personal: ClassVar[bool] = True
    ignored = frozenset({
        # bookkeeping: links saved with a new record or alert
        CustomerRecordLinked, CustomerAlertLinked,
        # the timeline shows them
        TicketAssigned, TicketCommentAdded,
        # The document holds no lifecycle field: the stage is read from the lifecycle model at
        # the reader's `as_of`, which derives dormancy from activity itself.
        CustomerBecameDormant,
        # alerts have their own read model; the lead's `follow_up_overdue`, the ticket's
        # `sla_breached` and the discount's `approver` already show what they are about
        AlertRaised, AlertAcknowledged, AlertResolved,
        # tasks and notes have read models of their own (`tasks`, `notes`); the query side
        # puts the customer's open tasks and notes into the document it serves
        *TASK_EVENTS, *NOTE_EVENTS,
    })

    # -- profile ------------------------------------------------------------------------------

    @handler(reads=[CUSTOMER])
    def registered(self, rows: Rows, event: CustomerRegistered, position: int) -> None:
        personal = event.personal.model_dump(exclude_none=True) if event.personal else {}
        with _document(rows, event, position) as doc:
            self._keep_personal(doc, event, personal)
            doc.update(company=event.company, region=event.region, industry=event.industry,
                       source=event.source, owner=event.owner,
                       tags=list(dict.fromkeys(event.tags)), external_ref=event.external_ref,
                       registered_at=iso(event.occurred_at), registered_by=event.actor)

    @handler(reads=[CUSTOMER])
    def profile_changed(self, rows: Rows, event: CustomerProfileChanged, position: int) -> None:
        with _document(rows, event, position) as doc:
            if event.personal is not None and not doc["erased"]:
                kept = open_values(self.vault, doc["customer_id"], PROFILE, doc["personal"] or None)
                if kept is not None:
                    self._keep_personal(doc, event, {
                        **kept, **event.personal.model_dump(exclude_none=True)})
            for key in ("company", "region", "industry"):
                value = getattr(event, key)
                if value is not None:
                    doc[key] = value

    @handler(reads=[CUSTOMER])
    def tagged(self, rows: Rows, event: CustomerTagged, position: int) -> None:
        with _document(rows, event, position) as doc:
            if event.tag not in doc["tags"]:
                doc["tags"] = [*doc["tags"], event.tag]

    @handler(reads=[CUSTOMER])
    def untagged(self, rows: Rows, event: CustomerUntagged, position: int) -> None:
        with _document(rows, event, position) as doc:
            doc["tags"] = [tag for tag in doc["tags"] if tag != event.tag]

    @handler(reads=[CUSTOMER])
    def owner_changed(self, rows: Rows, event: CustomerOwnerChanged, position: int) -> None:
        with _document(rows, event, position) as doc:
            doc["owner"] = event.to_owner

    @handler(reads=[CUSTOMER])
    def consent_changed(self, rows: Rows, event: CustomerConsentChanged, position: int) -> None:
        with _document(rows, event, position) as doc:
            doc["consents"] = {**doc["consents"], event.channel: event.granted}

    @handler(reads=[CUSTOMER])
    def erased(self, rows: Rows, event: CustomerErased, position: int) -> None:
        """The key is destroyed: drop every personal value we hold (and the name/email columns)."""
        with _document(rows, event, position) as doc:
            doc["personal"] = {}
            doc["erased"] = True
            doc["_search"] = None
            doc["leads"] = [{**lead, "lost_reason": None} for lead in doc["leads"]]
            _set_tickets(doc, [{**item, "subject": None} for item in doc["tickets"]["items"]])

    @handler(reads=[CUSTOMER])
    def merged(self, rows: Rows, event: CustomersMerged, position: int) -> None:
        """Recorded on the survivor. The merged customer keeps its own document; the query
        side can combine them through this list."""
        with _document(rows, event, position) as doc:
            merged = str(event.merged_customer_id)
            if merged not in doc["merged_customer_ids"]:
                doc["merged_customer_ids"] = [*doc["merged_customer_ids"], merged]

    def _keep_personal(self, doc: Doc, event: CrmEvent, personal: dict[str, Any]) -> None:
        doc["personal"] = seal_values(self.vault, doc["customer_id"], PROFILE, personal) or {}
        doc["_search"] = search_column(self.vault, event.tenant_id, personal)

    # -- leads --------------------------------------------------------------------------------

    @handler(reads=[CUSTOMER])
    def lead_created(self, rows: Rows, event: LeadCreated, position: int) -> None:
        with _document(rows, event, position) as doc:
            doc["leads"] = [*doc["leads"], {
                "lead_id": str(event.aggregate_id), "title": event.title, "stage": event.stage,
                "amount": event.amount, "currency": event.currency, "owner": event.owner,
                "source": event.source, "region": event.region, "status": "open",
                "created_at": iso(event.occurred_at), "closed_at": None, "lost_reason": None,
                "paid": None, "discount": None, "follow_up_overdue": False,
                "created_by": event.actor,
            }]
            if doc["first_lead_source"] is None:
                doc["first_lead_source"] = event.source
            _count_leads(doc)

    @handler(reads=[CUSTOMER])
    def lead_assigned(self, rows: Rows, event: LeadAssigned, position: int) -> None:
        with _document(rows, event, position) as doc:
            _update_lead(doc, event, owner=event.to_owner)

    @handler(reads=[CUSTOMER])
    def lead_stage_changed(self, rows: Rows, event: LeadStageChanged, position: int) -> None:
        with _document(rows, event, position) as doc:
            _update_lead(doc, event, stage=event.to_stage, follow_up_overdue=False)

    @handler(reads=[CUSTOMER])
    def lead_amount_changed(self, rows: Rows, event: LeadAmountChanged, position: int) -> None:
        with _document(rows, event, position) as doc:
            _update_lead(doc, event, amount=event.amount, currency=event.currency)

    @handler(reads=[CUSTOMER])
    def discount_requested(self, rows: Rows, event: DiscountRequested, position: int) -> None:
        with _document(rows, event, position) as doc:
            _update_lead(doc, event, discount={
                "discount_id": str(event.discount_id), "percent": event.percent,
                "status": "pending" if event.requires_approval else "applied",
                "approver": None})

    @handler(reads=[CUSTOMER])
    def discount_approval_requested(self, rows: Rows, event: DiscountApprovalRequested,
                                    position: int) -> None:
        """The pending discount now waits for this approver (shown until it is decided)."""
        with _document(rows, event, position) as doc:
            _change_discount(doc, event, approver=event.approver)

    @handler(reads=[CUSTOMER])
    def discount_decided(self, rows: Rows, event: DiscountApproved | DiscountRejected,
                         position: int) -> None:
        status = "approved" if isinstance(event, DiscountApproved) else "rejected"
        with _document(rows, event, position) as doc:
            _change_discount(doc, event, status=status)

    @handler(reads=[CUSTOMER])
    def lead_won(self, rows: Rows, event: LeadWon, position: int) -> None:
        changes: dict[str, Any] = {"status": "won", "stage": "won",
                                   "closed_at": iso(event.occurred_at)}
        if event.amount is not None:
            changes.update(amount=event.amount, currency=event.currency)
        with _document(rows, event, position) as doc:
            _update_lead(doc, event, **changes)
            _count_leads(doc)

    @handler(reads=[CUSTOMER])
    def lead_lost(self, rows: Rows, event: LeadLost, position: int) -> None:
        with _document(rows, event, position) as doc:
            _update_lead(doc, event, status="lost", stage="lost",
                         closed_at=iso(event.occurred_at), lost_reason=seal_values(
                             self.vault, doc["customer_id"], str(event.aggregate_id),
                             {"reason": event.reason}))
            _count_leads(doc)

    @handler(reads=[CUSTOMER])
    def payment_received(self, rows: Rows, event: PaymentReceived, position: int) -> None:
        with _document(rows, event, position) as doc:
            lead = _lead(doc, event)
            if lead is not None:
                paid = Decimal(lead["paid"]) if lead["paid"] is not None else Decimal(0)
                _update_lead(doc, event, paid=str(paid + Decimal(event.amount)))

    @handler(reads=[CUSTOMER])
    def follow_up_overdue(self, rows: Rows, event: FollowUpOverdue, position: int) -> None:
        with _document(rows, event, position) as doc:
            _update_lead(doc, event, follow_up_overdue=True)

    # -- purchases and interactions -----------------------------------------------------------

    @handler(reads=[CUSTOMER])
    def purchase_recorded(self, rows: Rows, event: PurchaseRecorded, position: int) -> None:
        """Totals per currency always; a single `total`/`average` only while there is one
        currency (adding euros to dollars would be meaningless). A zero-value purchase only
        counts in `zero_value` (PurchaseRecorded.is_buying)."""
        with _document(rows, event, position) as doc:
            old = doc["purchases"]
            if not event.is_buying:  # kept as a fact, left out of the figures of buying
                doc["purchases"] = {**old, "zero_value": old.get("zero_value", 0) + 1}
                return
            by_currency = dict(old["by_currency"])
            entry = by_currency.get(event.currency, {"count": 0, "total": "0"})
            by_currency[event.currency] = {
                "count": entry["count"] + 1,
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

    @handler(reads=[CUSTOMER])
    def interaction_logged(self, rows: Rows, event: InteractionLogged, position: int) -> None:
        with _document(rows, event, position) as doc:
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
                "count": old["count"] + 1, "by_channel": by_channel,
                "by_direction": by_direction, "first_at": min(old["first_at"] or at, at),
                "last_at": max(old["last_at"] or at, at), "last_inbound_at": last_inbound,
            }

    # -- tickets ------------------------------------------------------------------------------

    @handler(reads=[CUSTOMER])
    def ticket_opened(self, rows: Rows, event: TicketOpened, position: int) -> None:
        item: dict[str, Any] = {
            "ticket_id": str(event.aggregate_id),
            "subject": seal_values(self.vault, str(event.customer_id), str(event.aggregate_id),
                                   {"subject": event.subject}),
            "priority": event.priority, "status": "open", "opened_at": iso(event.occurred_at),
            "resolved_at": None, "resolution_seconds": None, "first_response_seconds": None,
            "reopened": 0, "sla_breached": []}
        with _document(rows, event, position) as doc:
            _set_tickets(doc, [*doc["tickets"]["items"], item])

    @handler(reads=[CUSTOMER])
    def ticket_status_changed(self, rows: Rows, event: TicketStatusChanged,
                              position: int) -> None:
        at = event.occurred_at

        def change(item: dict[str, Any]) -> dict[str, Any]:
            # A ticket's resolution is its first one: reopening makes it open again but does
            # not undo that it was resolved then (service analytics count it the same way).
            if event.to_status == "resolved" and item["resolved_at"] is None:
                opened = datetime.fromisoformat(item["opened_at"])
                return {"status": "resolved", "resolved_at": iso(at),
                        "resolution_seconds": max(0.0, (at - opened).total_seconds())}
            if event.to_status == "reopened":
                return {"status": "reopened", "reopened": item.get("reopened", 0) + 1}
            return {"status": event.to_status}

        with _document(rows, event, position) as doc:
            _update_ticket(doc, event, change)

    @handler(reads=[CUSTOMER])
    def ticket_first_responded(self, rows: Rows, event: TicketFirstResponded,
                               position: int) -> None:
        with _document(rows, event, position) as doc:
            _update_ticket(doc, event,
                           lambda item: {"first_response_seconds": event.response_seconds})

    @handler(reads=[CUSTOMER])
    def ticket_priority_changed(self, rows: Rows, event: TicketPriorityChanged,
                                position: int) -> None:
        """The ticket shows its current priority (service analytics keep the opening one)."""
        with _document(rows, event, position) as doc:
            _update_ticket(doc, event, lambda item: {"priority": event.to_priority})

    @handler(reads=[CUSTOMER])
    def ticket_sla_breached(self, rows: Rows, event: TicketSlaBreached, position: int) -> None:
        def change(item: dict[str, Any]) -> dict[str, Any]:
            breached = item["sla_breached"]
            return {"sla_breached": breached if event.sla in breached else [*breached, event.sla]}

        with _document(rows, event, position) as doc:
            _update_ticket(doc, event, change)


# -- the document's parts -----------------------------------------------------------------------


def _lead(doc: Doc, event: CrmEvent) -> dict[str, Any] | None:
    lead_id = str(event.aggregate_id)
    return next((lead for lead in doc["leads"] if lead["lead_id"] == lead_id), None)


def _update_lead(doc: Doc, event: CrmEvent, **changes: Any) -> None:
    """Replace the lead's entry by a changed copy (nothing if the lead is unknown)."""
    lead_id = str(event.aggregate_id)
    leads: list[dict[str, Any]] = doc["leads"]
    for index, lead in enumerate(leads):
        if lead["lead_id"] == lead_id:
            doc["leads"] = [*leads[:index], {**lead, **changes}, *leads[index + 1:]]
            return


def _change_discount(doc: Doc, event: DiscountApprovalRequested | DiscountApproved
                     | DiscountRejected, **changes: Any) -> None:
    """Change the lead's discount, if it is the one the event names."""
    lead = _lead(doc, event)
    discount = lead["discount"] if lead else None
    if discount is not None and discount["discount_id"] == str(event.discount_id):
        _update_lead(doc, event, discount={**discount, **changes})


def _count_leads(doc: Doc) -> None:
    counts = {"open": 0, "won": 0, "lost": 0}
    for lead in doc["leads"]:
        counts[lead["status"]] = counts.get(lead["status"], 0) + 1
    doc["lead_counts"] = counts


def _average(total: Decimal, count: int) -> str:
    """The mean, to the precision of the amounts (at least cents), rounded half-even."""
    exponent = total.as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return str((total / count).quantize(Decimal(1).scaleb(-places)))


def _update_ticket(doc: Doc, event: CrmEvent,
                   change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    ticket_id = str(event.aggregate_id)
    items: list[dict[str, Any]] = doc["tickets"]["items"]
    for index, item in enumerate(items):
        if item["ticket_id"] == ticket_id:
            _set_tickets(doc, [*items[:index], {**item, **change(item)}, *items[index + 1:]])
            return


def _set_tickets(doc: Doc, items: list[dict[str, Any]]) -> None:
    """Recompute the summary from the items (a customer has few tickets). `resolved_count` and
    `avg_resolution_hours` are over the tickets' first resolutions, so a reopened ticket still
    counts as resolved once; `open` counts it open again."""
    resolved = [i["resolution_seconds"] for i in items if i["resolution_seconds"] is not None]
    seconds = float(sum(resolved))
    doc["tickets"] = {
        "open": sum(1 for i in items if i["status"] in OPEN_TICKET_STATUSES),
        "total": len(items),
        "avg_resolution_hours": round(seconds / len(resolved) / 3600, 2) if resolved else None,
        "resolution_seconds_sum": seconds, "resolved_count": len(resolved), "items": items,
    }

