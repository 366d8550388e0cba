"""The leads read model: one row per lead with what its list filters and sorts on, and its
page (stage history, discounts, payments) in `doc`; one row per customer with what a lead
shows of it (name, company, reference) and when it was last contacted.

A customer's facts live on the customer's row, never copied into its leads: a profile change
or an interaction writes one row, and the query joins them. Moments that lists sort or compare
on are also kept as epoch microseconds (`*_us`), which both SQL dialects order and compare
alike.

Last contact is what the follow-up policy counts (services/command/policies/follow_up.py, over
the policy state): the latest of the lead's creation, its stage changes and the interactions
logged for it (`touched_at`), and any interaction with its customer (`contacted_at`). Neither
moves back for a back-dated event.

Personal values are sealed under the customer's key (services/projections/personal.py): the
customer's name, e-mail and phone on the customer's row (their blind tokens in `search`), and
the free text of a lead (stage and lost reasons, discount reasons, approval notes) under the
lead's id inside its `doc`. `CustomerErased` clears the customer's row; the lead's sealed
texts open to nothing from then on (reads.py shows them as "[erased]"). A lead's title is not
personal (docs/privacy.md: only `personal` objects are).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

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
from services.common.times import iso
from services.projections.model import Projection, Row, Rows, Table, events_outside, handler
from services.projections.personal import open_values, seal_values, search_column

LEADS = Table("leads", {
    "id": "text", "tenant_id": "text", "customer_id": "text", "title": "text",
    "external_ref": "text", "owner": "text", "created_by": "text", "stage": "text",
    "status": "text", "source": "text", "channel": "text", "region": "text",
    "industry": "text", "amount": "text", "currency": "text", "amount_e4": "int",
    "created_at": "ts", "created_us": "int", "stage_entered_at": "ts",
    "stage_entered_us": "int", "closed_at": "ts", "touched_at": "ts", "touched_us": "int",
    "overdue_at": "ts", "reached": "text", "doc": "json", "version": "int",
    "last_position": "int", "updated_at": "ts",
}, indexes=(("tenant_id", "created_us"), ("tenant_id", "owner", "created_us"),
            ("tenant_id", "status", "created_us"), ("tenant_id", "customer_id"),
            ("tenant_id", "stage", "stage_entered_us"), ("tenant_id", "amount_e4")))
"""`status`: open, won or lost. `amount_e4`: the amount in ten-thousandths (exact: amounts
have at most 4 decimals). `reached`: every stage the lead was ever in, space-separated and
space-framed (` new contacted `), as the funnel counts reach. `overdue_at`: the latest
`FollowUpOverdue`."""
CUSTOMERS = Table("lead_customers", {
    "id": "text", "tenant_id": "text", "personal": "json", "company": "text",
    "external_ref": "text", "search": "text", "erased": "bool", "contacted_at": "ts",
    "contacted_us": "int",
}, indexes=(("tenant_id",),))
"""`personal`: the customer's name, e-mail and phone, sealed; `search` their blind tokens."""

LEAD = LEADS.row("aggregate_id")
CUSTOMER = CUSTOMERS.row("customer_id")
PERSONAL_CONTEXT = "leads.customer"
"""The context the customer's values are sealed under here (a lead's texts: the lead's id)."""
KEPT_ITEMS = 100
"""History entries, discounts and payments a lead's page keeps (the latest); the totals
(`time_in_stage`, payment counts and sums) cover every one."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WON, LOST = "won", "lost"


def micros(moment: datetime) -> int:
    """Epoch microseconds of an aware moment, exactly."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def amount_e4(amount: str | None) -> int | None:
    return None if amount is None else int(Decimal(amount).scaleb(4))


def status_of(stage: str) -> str:
    return stage if stage in (WON, LOST) else "open"


def new_document() -> dict[str, Any]:
    return {"history": [], "stays": 0, "time_in_stage": {}, "discounts": [],
            "payments": {"count": 0, "by_currency": {}, "items": []}, "lost_reason": None,
            "won": None, "follow_ups_overdue": 0}


class LeadsProjection(Projection):
    """Leads for the lead list and the lead page."""

    name: ClassVar[str] = "leads"
    tables: ClassVar[tuple[Table, ...]] = (LEADS, CUSTOMERS)
    holds_personal: ClassVar[bool] = True
    ignored = events_outside("crm.lead.", "crm.customer.", "crm.interaction.") | frozenset({
        # nothing a lead shows of its customer; the caller's book is the lead's own
        CustomerTagged, CustomerUntagged, CustomerOwnerChanged, CustomerConsentChanged,
        CustomerBecameDormant,
        # a merged customer keeps its leads (no command merges customers yet)
        CustomersMerged,
        # bookkeeping links saved with a new record or alert, whose own events are handled
        CustomerRecordLinked, CustomerAlertLinked,
    })
    """Tickets, purchases, alerts, tasks and notes: a lead's alerts are read from the alerts
    model at query time."""

    # -- the customer -------------------------------------------------------------------------

    def _personal(self, event: CrmEvent, values: dict[str, Any]) -> dict[str, Any]:
        return {"personal": seal_values(self.vault, str(event.customer_id), PERSONAL_CONTEXT,
                                        values),
                "search": search_column(self.vault, event.tenant_id, values)}

    @handler(reads=[CUSTOMER])
    def customer_registered(self, rows: Rows, event: CustomerRegistered, position: int) -> None:
        values = event.personal.model_dump(exclude_none=True) if event.personal else {}
        rows.put(CUSTOMERS, {**_customer(rows, event), "company": event.company,
                             "external_ref": event.external_ref,
                             **self._personal(event, values)})

    @handler(reads=[CUSTOMER])
    def customer_profile_changed(self, rows: Rows, event: CustomerProfileChanged,
                                 position: int) -> None:
        row = _customer(rows, event)
        changes: dict[str, Any] = {}
        if event.company is not None:
            changes["company"] = event.company
        if event.personal is not None and not row["erased"]:
            kept = open_values(self.vault, str(event.customer_id), PERSONAL_CONTEXT,
                               row["personal"])
            if kept is not None:  # None: the key is gone (an erasure is on its way)
                changes |= self._personal(
                    event, {**kept, **event.personal.model_dump(exclude_none=True)})
        if changes:
            rows.put(CUSTOMERS, {**row, **changes})

    @handler(reads=[CUSTOMER])
    def customer_erased(self, rows: Rows, event: CustomerErased, position: int) -> None:
        """The key is destroyed: drop the sealed values and every blind token."""
        rows.put(CUSTOMERS, {**_customer(rows, event), "personal": None, "search": None,
                             "erased": True})

    @handler(reads=[CUSTOMER, LEADS.row("lead_id")])
    def interaction_logged(self, rows: Rows, event: InteractionLogged, position: int) -> None:
        """A contact with the customer, and a touch of the lead it names."""
        row = _customer(rows, event)
        if _later(event.occurred_at, row["contacted_at"]):
            rows.put(CUSTOMERS, {**row, "contacted_at": iso(event.occurred_at),
                                 "contacted_us": micros(event.occurred_at)})
        if event.lead_id is not None:
            lead = rows.get(LEADS, str(event.lead_id))
            if lead is not None:
                rows.put(LEADS, _touched(lead, event.occurred_at))

    # -- the lead -----------------------------------------------------------------------------

    @handler
    def lead_created(self, rows: Rows, event: LeadCreated, position: int) -> None:
        at, us = iso(event.occurred_at), micros(event.occurred_at)
        doc = new_document()
        doc["history"] = [_stay(event.stage, at, event.actor, None)]
        doc["stays"] = 1
        rows.put(LEADS, {
            "id": str(event.aggregate_id), "tenant_id": event.tenant_id,
            "customer_id": str(event.customer_id), "title": event.title,
            "external_ref": event.external_ref, "owner": event.owner,
            "created_by": event.actor, "stage": event.stage, "status": status_of(event.stage),
            "source": event.source, "channel": event.channel, "region": event.region,
            "industry": event.industry, "amount": event.amount, "currency": event.currency,
            "amount_e4": amount_e4(event.amount), "created_at": at, "created_us": us,
            "stage_entered_at": at, "stage_entered_us": us,
            "closed_at": at if status_of(event.stage) != "open" else None,
            "touched_at": at, "touched_us": us, "overdue_at": None,
            "reached": f" {event.stage} ", "doc": doc, "version": 1, "last_position": position,
            "updated_at": iso(event.recorded_at),
        })

    @handler(reads=[LEAD])
    def lead_assigned(self, rows: Rows, event: LeadAssigned, position: int) -> None:
        self._put(rows, event, position, _lead(rows, event), owner=event.to_owner)

    @handler(reads=[LEAD])
    def lead_stage_changed(self, rows: Rows, event: LeadStageChanged, position: int) -> None:
        lead = _touched(_lead(rows, event), event.occurred_at)
        self._put(rows, event, position, lead, **self._entered(lead, event, event.to_stage,
                                                               event.reason))

    @handler(reads=[LEAD])
    def lead_amount_changed(self, rows: Rows, event: LeadAmountChanged, position: int) -> None:
        self._put(rows, event, position, _lead(rows, event), amount=event.amount,
                  currency=event.currency, amount_e4=amount_e4(event.amount))

    @handler(reads=[LEAD])
    def lead_won(self, rows: Rows, event: LeadWon, position: int) -> None:
        # The domain records LeadStageChanged(to=won) first; this enters `won` only for a
        # history without that stage change.
        lead = _lead(rows, event)
        changes: dict[str, Any] = {}
        if lead["stage"] != WON:
            changes = self._entered(lead, event, WON, None)
        doc: dict[str, Any] = {**(changes["doc"] if "doc" in changes else lead["doc"]),
                               "won": {"amount": event.amount, "currency": event.currency,
                                       "discount_percent": event.discount_percent}}
        if event.amount is not None:
            changes |= {"amount": event.amount, "currency": event.currency,
                        "amount_e4": amount_e4(event.amount)}
        self._put(rows, event, position, lead, **{**changes, "doc": doc})

    @handler(reads=[LEAD])
    def lead_lost(self, rows: Rows, event: LeadLost, position: int) -> None:
        lead = _lead(rows, event)
        changes: dict[str, Any] = {}
        if lead["stage"] != LOST:
            changes = self._entered(lead, event, LOST, event.reason)
        doc: dict[str, Any] = {**(changes["doc"] if "doc" in changes else lead["doc"]),
                               "lost_reason": self._text(event, event.reason)}
        self._put(rows, event, position, lead, **{**changes, "doc": doc})

    @handler(reads=[LEAD])
    def follow_up_overdue(self, rows: Rows, event: FollowUpOverdue, position: int) -> None:
        lead = _lead(rows, event)
        doc = {**lead["doc"], "follow_ups_overdue": lead["doc"]["follow_ups_overdue"] + 1}
        self._put(rows, event, position, lead, overdue_at=iso(event.occurred_at), doc=doc)

    @handler(reads=[LEAD])
    def payment_received(self, rows: Rows, event: PaymentReceived, position: int) -> None:
        lead = _lead(rows, event)
        old = lead["doc"]["payments"]
        by_currency = dict(old["by_currency"])
        by_currency[event.currency] = str(Decimal(by_currency.get(event.currency, "0"))
                                          + Decimal(event.amount))
        item = {"payment_id": str(event.payment_id), "amount": event.amount,
                "currency": event.currency, "reference": event.reference,
                "received_at": iso(event.occurred_at), "recorded_by": event.actor}
        payments = {"count": old["count"] + 1, "by_currency": by_currency,
                    "items": [*old["items"], item][-KEPT_ITEMS:]}
        self._put(rows, event, position, lead, doc={**lead["doc"], "payments": payments})

    # -- discounts ----------------------------------------------------------------------------

    @handler(reads=[LEAD])
    def discount_requested(self, rows: Rows, event: DiscountRequested, position: int) -> None:
        lead = _lead(rows, event)
        discount = {
            "discount_id": str(event.discount_id), "percent": event.percent,
            "status": "pending" if event.requires_approval else "applied",
            "requires_approval": event.requires_approval,
            "threshold_percent": event.threshold_percent, "requested_by": event.actor,
            "requested_at": iso(event.occurred_at), "reason": self._text(event, event.reason),
            "approver": None, "approval_requested_at": None, "decided_by": None,
            "decided_at": None, "note": None, "rejection_reason": None}
        discounts = [*lead["doc"]["discounts"], discount][-KEPT_ITEMS:]
        self._put(rows, event, position, lead, doc={**lead["doc"], "discounts": discounts})

    @handler(reads=[LEAD])
    def discount_approval_requested(self, rows: Rows, event: DiscountApprovalRequested,
                                    position: int) -> None:
        self._discount(rows, event, position, approver=event.approver,
                       approval_requested_at=iso(event.occurred_at))

    @handler(reads=[LEAD])
    def discount_approved(self, rows: Rows, event: DiscountApproved, position: int) -> None:
        self._discount(rows, event, position, status="approved", decided_by=event.approver,
                       decided_at=iso(event.occurred_at), note=self._text(event, event.note))

    @handler(reads=[LEAD])
    def discount_rejected(self, rows: Rows, event: DiscountRejected, position: int) -> None:
        self._discount(rows, event, position, status="rejected", decided_by=event.approver,
                       decided_at=iso(event.occurred_at),
                       rejection_reason=self._text(event, event.reason))

    # -- the parts ----------------------------------------------------------------------------

    def _text(self, event: CrmEvent, text: str | None) -> Any:
        """A lead's free text, sealed under the customer's key (context: the lead's id)."""
        return seal_values(self.vault, str(event.customer_id), str(event.aggregate_id),
                           {"text": text})

    def _entered(self, lead: Row, event: CrmEvent, stage: str, reason: str | None
                 ) -> dict[str, Any]:
        """The changes of the lead entering `stage`: its current stay ends, a new one starts."""
        at = event.occurred_at
        doc = dict(lead["doc"])
        history = list(doc["history"])
        time_in_stage = dict(doc["time_in_stage"])
        if history:
            current = history[-1]
            seconds = max(0.0, (at - datetime.fromisoformat(current["entered_at"]))
                          .total_seconds())
            history[-1] = {**current, "left_at": iso(at), "seconds": seconds}
            time_in_stage[current["stage"]] = time_in_stage.get(current["stage"], 0.0) + seconds
        history.append(_stay(stage, iso(at), event.actor, self._text(event, reason)))
        doc.update(history=history[-KEPT_ITEMS:], stays=doc["stays"] + 1,
                   time_in_stage=time_in_stage)
        status = status_of(stage)
        reached = lead["reached"] if f" {stage} " in lead["reached"] \
            else f"{lead['reached']}{stage} "
        return {"stage": stage, "status": status, "stage_entered_at": iso(at),
                "stage_entered_us": micros(at),
                "closed_at": iso(at) if status != "open" else None, "reached": reached,
                "doc": doc}

    def _discount(self, rows: Rows, event: DiscountApprovalRequested | DiscountApproved
                  | DiscountRejected, position: int, **changes: Any) -> None:
        lead = _lead(rows, event)
        wanted = str(event.discount_id)
        discounts = [{**d, **changes} if d["discount_id"] == wanted else d
                     for d in lead["doc"]["discounts"]]
        self._put(rows, event, position, lead, doc={**lead["doc"], "discounts": discounts})

    @staticmethod
    def _put(rows: Rows, event: CrmEvent, position: int, lead: Row, **changes: Any) -> None:
        rows.put(LEADS, {**lead, **changes, "version": lead["version"] + 1,
                         "last_position": position, "updated_at": iso(event.recorded_at)})


def _stay(stage: str, entered_at: str, by: str, reason: Any) -> dict[str, Any]:
    return {"stage": stage, "entered_at": entered_at, "left_at": None, "seconds": None,
            "by": by, "reason": reason}


def _customer(rows: Rows, event: CrmEvent) -> Row:
    """The customer's row, or a new one."""
    return rows.get(CUSTOMERS, str(event.customer_id)) or {
        "id": str(event.customer_id), "tenant_id": event.tenant_id, "personal": None,
        "company": None, "external_ref": None, "search": None, "erased": False,
        "contacted_at": None, "contacted_us": None}


def _lead(rows: Rows, event: CrmEvent) -> Row:
    lead = rows.get(LEADS, str(event.aggregate_id))
    if lead is None:
        # A lead's events share its stream, so its creation always comes first: a missing row
        # means the read model lost events, and the runner's error policy should hear of it.
        raise LookupError(f"{type(event).__name__} for lead {event.aggregate_id}, which has "
                          "no LeadCreated before it")
    return lead


def _later(moment: datetime, current: str | None) -> bool:
    return current is None or iso(moment) > current


def _touched(lead: Row, moment: datetime) -> Row:
    """The lead touched at `moment` (a back-dated event does not move its last touch back)."""
    if not _later(moment, lead["touched_at"]):
        return lead
    return {**lead, "touched_at": iso(moment), "touched_us": micros(moment)}
