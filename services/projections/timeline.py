"""The timeline read model: every customer-facing fact as one row, in business-time order.

Rows never hold personal data (names, e-mail, phone, free-text bodies): summaries name records
by their title or subject and say *which* personal fields changed, not their values. So erasing
a customer needs nothing here, and the timeline can be shown to anyone who may see the customer.

To say "Lead 'Difference engine upgrade' moved contacted → qualified" for an event that only
carries the lead's id, the model keeps a small helper table `timeline_records` (lead and ticket
titles, keyed by the record's id) that lead and ticket events name in `keys()`. Alerts are
kept there too (their kind and what they are about), so that "acknowledged" and "resolved" can
say which alert they close.

Facts a rule recorded (actor `rule:<id>`) name the rule in their summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
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
from services.projections.model import ConsumedEvent, Projection, Row, Rows, Table
from services.projections.stores.base import iso
from services.projections.stores.sql import SqlReadStore

TABLE = "timeline"
RECORDS = "timeline_records"

Cursor = tuple[str, int]
"""(occurred_at, position) of the last item of a page; the next page starts after it."""

Describe = Callable[[Any, str], str]
"""(event, record title) → summary."""


class TimelineProjection(Projection):
    """One row per customer-facing event (id = event_id)."""

    name: ClassVar[str] = "timeline"
    tables: ClassVar[tuple[Table, ...]] = (
        Table(TABLE, {
            "id": "text", "customer_id": "text", "tenant_id": "text", "position": "int",
            "occurred_at": "ts", "recorded_at": "ts", "kind": "text", "type": "text",
            "actor": "text", "aggregate_id": "text", "summary": "text", "data": "json",
        }, indexes=(("customer_id", "occurred_at", "position"),
                    ("customer_id", "kind", "occurred_at", "position"))),
        Table(RECORDS, {"id": "text", "customer_id": "text", "kind": "text", "title": "text"}),
    )

    def keys(self, event: CrmEvent) -> Iterable[tuple[str, str]]:
        if type(event) in _TITLED:
            return ((RECORDS, str(event.aggregate_id)),)
        if isinstance(event, AlertRaised) and event.subject_kind != "customer":
            return ((RECORDS, str(event.subject_id)),)
        return ()

    def apply(self, rows: Rows, consumed: ConsumedEvent) -> None:
        event = consumed.event
        entry = _ENTRIES.get(type(event))
        if entry is None:
            return  # IGNORED: bookkeeping, not a fact about the customer
        kind, describe = entry
        title = ""
        if isinstance(event, LeadCreated | TicketOpened):
            title = event.title if isinstance(event, LeadCreated) else event.subject
            rows.put(RECORDS, {"id": str(event.aggregate_id), "customer_id": str(event.customer_id),
                               "kind": kind, "title": title})
        elif isinstance(event, AlertRaised):
            subject = rows.get(RECORDS, str(event.subject_id)) \
                if event.subject_kind != "customer" else None
            # The alert's record holds what it is about, for its acknowledgement and resolution.
            title = _alert_about(event, subject["title"] if subject else "")
            rows.put(RECORDS, {"id": str(event.aggregate_id), "customer_id": str(event.customer_id),
                               "kind": kind, "title": title})
        elif type(event) in _TITLED:
            record = rows.get(RECORDS, str(event.aggregate_id))
            title = record["title"] if record else ""
        summary = describe(event, title)
        if type(event) not in _NAMES_ITS_RULE:
            summary += _rule(event, " by")
        rows.put(TABLE, {
            "id": str(event.event_id), "customer_id": str(event.customer_id),
            "tenant_id": event.tenant_id, "position": consumed.position,
            "occurred_at": iso(event.occurred_at), "recorded_at": iso(event.recorded_at),
            "kind": kind, "type": event.event_type, "actor": event.actor,
            "aggregate_id": str(event.aggregate_id), "summary": summary,
            "data": _public_data(event),
        })


def _public_data(event: CrmEvent) -> dict[str, Any]:
    """The event's own fields without personal data (and without empty ones)."""
    data = {k: v for k, v in event.data().items() if v is not None and k != "personal"}
    personal = getattr(event, "personal", None)
    if isinstance(event, CustomerProfileChanged) and personal is not None:
        data["personal_fields"] = sorted(personal.model_dump(exclude_none=True))
    return data


# -- summaries: one per event type, never with personal values ----------------------------------


def _rule_id(actor: str) -> str | None:
    return actor.removeprefix("rule:") if actor.startswith("rule:") else None


def _rule(event: CrmEvent, lead_in: str) -> str:
    """E.g. " by rule 'sla'" when a rule (actor `rule:<id>`) recorded the fact, else ""."""
    rule_id = _rule_id(event.actor)
    return f"{lead_in} rule '{rule_id}'" if rule_id is not None else ""


def _who(actor: str) -> str:
    rule_id = _rule_id(actor)
    return f"rule '{rule_id}'" if rule_id is not None else actor


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{int(seconds)} s"


def _money(amount: str | None, currency: str | None) -> str:
    return f"{amount} {currency}" if amount is not None else "no amount"


def _lead(title: str, word: str = "Lead") -> str:
    return f"{word} '{title}'" if title else word


def _ticket(title: str, word: str = "Ticket") -> str:
    return f"{word} '{title}'" if title else word


def _registered(e: CustomerRegistered, _: str) -> str:
    return "Customer registered" + (f" ({e.company})" if e.company else "")


def _profile_changed(e: CustomerProfileChanged, _: str) -> str:
    fields = [k for k in ("company", "region", "industry") if getattr(e, k) is not None]
    if e.personal is not None:
        fields += sorted(e.personal.model_dump(exclude_none=True))
    return "Profile changed: " + ", ".join(fields) if fields else "Profile changed"


def _owner_changed(e: CustomerOwnerChanged, _: str) -> str:
    return f"Owner changed {e.from_owner or 'nobody'} → {e.to_owner or 'nobody'}"


def _consent_changed(e: CustomerConsentChanged, _: str) -> str:
    return f"Consent for {e.channel} {'granted' if e.granted else 'withdrawn'}"


def _lead_created(e: LeadCreated, title: str) -> str:
    return f"{_lead(title)} created ({_money(e.amount, e.currency)})"


def _lead_stage_changed(e: LeadStageChanged, title: str) -> str:
    return f"{_lead(title)} moved {e.from_stage} → {e.to_stage}"


def _lead_amount_changed(e: LeadAmountChanged, title: str) -> str:
    before = _money(e.previous_amount, e.previous_currency)
    return f"{_lead(title)} amount {before} → {_money(e.amount, e.currency)}"


def _discount_requested(e: DiscountRequested, title: str) -> str:
    needs = " (needs approval)" if e.requires_approval else ""
    return f"Discount of {e.percent}% requested on {_lead(title, 'lead')}{needs}"


def _lead_won(e: LeadWon, title: str) -> str:
    return f"{_lead(title)} won" + (f" ({_money(e.amount, e.currency)})" if e.amount else "")


def _payment_received(e: PaymentReceived, title: str) -> str:
    return f"Payment of {_money(e.amount, e.currency)} received for {_lead(title, 'lead')}"


def _approval_requested(e: DiscountApprovalRequested, title: str) -> str:
    return f"Discount {e.percent}% on {_lead(title, 'lead')} sent to {e.approver} for approval"


def _follow_up_overdue(e: FollowUpOverdue, title: str) -> str:
    text = f"{_lead(title)} without contact for {e.days_without_contact} days"
    if e.window == "repeat":
        text = f"{_lead(title)} still without contact after {e.days_without_contact} days"
    return text + _rule(e, ", flagged by")


def _interaction_logged(e: InteractionLogged, _: str) -> str:
    text = f"{e.direction.capitalize()} {e.channel}"
    return f"{text}: {e.subject}" if e.subject else text


def _purchase_recorded(e: PurchaseRecorded, _: str) -> str:
    ref = f" ({e.reference})" if e.reference else ""
    return f"Purchase of {_money(e.amount, e.currency)}{ref}"


def _ticket_comment(e: TicketCommentAdded, title: str) -> str:
    visibility = "" if e.public else "internal "
    return f"{e.author_type.capitalize()} {visibility}comment on {_ticket(title, 'ticket')}"


def _sla_breached(e: TicketSlaBreached, title: str) -> str:
    sla = e.sla.replace("_", "-")
    return (f"{_ticket(title)} breached its {sla} SLA ({e.priority} priority, "
            f"{_duration(e.target_seconds)})" + _rule(e, ", flagged by"))


_PRIORITY_ORDER = ("low", "normal", "high", "urgent")


def _priority_changed(e: TicketPriorityChanged, title: str) -> str:
    raised = _PRIORITY_ORDER.index(e.to_priority) > _PRIORITY_ORDER.index(e.from_priority)
    text = f"{_ticket(title)} priority {'raised' if raised else 'lowered'} " \
           f"{e.from_priority} → {e.to_priority}"
    return text + (f" ({e.reason})" if e.reason else "")


def _became_dormant(e: CustomerBecameDormant, _: str) -> str:
    since = e.last_activity_at.astimezone(UTC).date().isoformat()
    return (f"Customer became dormant: no purchase or interaction since {since} "
            f"({e.dormant_after_days} days)" + _rule(e, ", flagged by"))


_ALERT_KINDS = {"follow_up_overdue": "follow-up overdue", "sla_breached": "SLA breached",
                "discount_approval": "discount approval"}


def _alert_about(e: AlertRaised, subject_title: str) -> str:
    """What the alert is about, e.g. "SLA breached on ticket 'Cannot log in'"."""
    label = _ALERT_KINDS.get(e.kind, e.kind.replace("_", " "))
    if e.subject_kind == "lead":
        return f"{label} on {_lead(subject_title, 'lead')}"
    if e.subject_kind == "ticket":
        return f"{label} on {_ticket(subject_title, 'ticket')}"
    return label


def _alert_raised(e: AlertRaised, about: str) -> str:
    return f"Alert raised{_rule(e, ' by')} for {', '.join(e.assignees)}: {about}"


def _alert_closed(verb: str) -> Describe:
    def describe(e: AlertAcknowledged | AlertResolved, about: str) -> str:
        if not about:  # the alert was raised before this history starts
            return f"Alert on {e.subject_kind} {verb} by {_who(e.by)}"
        return f"Alert {verb} by {_who(e.by)}: {about}"

    return describe


def _first_responded(e: TicketFirstResponded, title: str) -> str:
    return f"First response on {_ticket(title, 'ticket')} after {e.response_seconds / 3600:.1f} h"


_ENTRIES: dict[type[CrmEvent], tuple[str, Describe]] = {
    CustomerRegistered: ("profile", _registered),
    CustomerProfileChanged: ("profile", _profile_changed),
    CustomerErased: ("profile", lambda e, _: "Personal data erased"),
    CustomersMerged: ("profile", lambda e, _: f"Merged customer {e.merged_customer_id}"),
    CustomerTagged: ("tag", lambda e, _: f"Tagged '{e.tag}'"),
    CustomerUntagged: ("tag", lambda e, _: f"Untagged '{e.tag}'"),
    CustomerOwnerChanged: ("owner", _owner_changed),
    CustomerConsentChanged: ("consent", _consent_changed),
    LeadCreated: ("lead", _lead_created),
    LeadAssigned: ("lead", lambda e, t: f"{_lead(t)} assigned to {e.to_owner}"),
    LeadStageChanged: ("lead", _lead_stage_changed),
    LeadAmountChanged: ("lead", _lead_amount_changed),
    DiscountRequested: ("lead", _discount_requested),
    DiscountApproved: ("lead", lambda e, t: f"Discount on {_lead(t, 'lead')} approved by "
                                            f"{e.approver}"),
    DiscountRejected: ("lead", lambda e, t: f"Discount on {_lead(t, 'lead')} rejected by "
                                            f"{e.approver}"),
    LeadWon: ("lead", _lead_won),
    LeadLost: ("lead", lambda e, t: f"{_lead(t)} lost: {e.reason}"),
    PaymentReceived: ("payment", _payment_received),
    DiscountApprovalRequested: ("lead", _approval_requested),
    FollowUpOverdue: ("lead", _follow_up_overdue),
    InteractionLogged: ("interaction", _interaction_logged),
    PurchaseRecorded: ("purchase", _purchase_recorded),
    TicketOpened: ("ticket", lambda e, t: f"{_ticket(t)} opened ({e.priority})"),
    TicketAssigned: ("ticket", lambda e, t: f"{_ticket(t)} assigned to {e.to_assignee}"),
    TicketStatusChanged: ("ticket", lambda e, t: f"{_ticket(t)} {e.from_status} → {e.to_status}"),
    TicketCommentAdded: ("ticket", _ticket_comment),
    TicketFirstResponded: ("ticket", _first_responded),
    TicketSlaBreached: ("ticket", _sla_breached),
    TicketPriorityChanged: ("ticket", _priority_changed),
    CustomerBecameDormant: ("lifecycle", _became_dormant),
    # Alerts are facts about the customer's lead or ticket (someone was asked to act on it),
    # and their summary is composed here: the alert's own free-text `summary` is not used.
    AlertRaised: ("alert", _alert_raised),
    AlertAcknowledged: ("alert", _alert_closed("acknowledged")),
    AlertResolved: ("alert", _alert_closed("resolved")),
}
"""Kind and summary of every customer-facing event type."""

IGNORED: frozenset[type[CrmEvent]] = frozenset({CustomerRecordLinked, CustomerAlertLinked})
"""Published events with no timeline row: bookkeeping links saved with a new record or alert,
whose own events are on the timeline already. (Internal events such as TenantRulesChanged never
reach a projection.)"""

_TITLED: frozenset[type[CrmEvent]] = frozenset(
    cls for cls, (kind, _) in _ENTRIES.items() if kind in ("lead", "payment", "ticket")) | {
    AlertAcknowledged, AlertResolved}
"""Events named after their lead's title or ticket's subject (alert events: after what the
alert is about), read from `timeline_records` by their aggregate id."""

_NAMES_ITS_RULE: frozenset[type[CrmEvent]] = frozenset({
    FollowUpOverdue, TicketSlaBreached, CustomerBecameDormant, AlertRaised, AlertAcknowledged,
    AlertResolved})
"""Summaries that say which rule recorded them in their own words; every other summary gets
" by rule '<id>'" appended when a rule recorded it."""

KINDS: tuple[str, ...] = tuple(sorted({kind for kind, _ in _ENTRIES.values()}))


# -- reads --------------------------------------------------------------------------------------


def read_timeline(store: SqlReadStore, customer_id: str, *, limit: int = 50,
                  before: Cursor | Sequence[Any] | None = None,
                  kinds: Iterable[str] | None = None) -> tuple[list[dict[str, Any]], Cursor | None]:
    """One page of the customer's timeline, newest business time first, and the cursor of the
    next page (None on the last page).

    Keyset pagination on (occurred_at, position): a page costs one index range scan however
    deep it is, and facts recorded meanwhile never shift later pages.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    table = TimelineProjection.tables[0]
    where = ["customer_id = ?"]
    params: list[Any] = [customer_id]
    if before is not None:
        at, position = _iso_text(before[0]), int(before[1])
        where.append("(occurred_at < ? OR (occurred_at = ? AND position < ?))")
        params += [at, at, position]
    kind_list = sorted(set(kinds)) if kinds is not None else None
    if kind_list is not None:
        if not kind_list:
            return [], None
        where.append(f"kind IN ({', '.join('?' * len(kind_list))})")
        params += kind_list
    columns = ", ".join(table.columns)
    found = store.query(
        f"SELECT {columns} FROM {TABLE} WHERE {' AND '.join(where)} "
        "ORDER BY occurred_at DESC, position DESC LIMIT ?", [*params, limit + 1])
    from_db = store.from_db
    items = [_item({name: from_db(kind, raw[name]) for name, kind in table.columns.items()})
             for raw in found[:limit]]
    next_cursor = (items[-1]["occurred_at"], items[-1]["position"]) \
        if len(found) > limit else None
    return items, next_cursor


def _item(row: Row) -> dict[str, Any]:
    item = dict(row)
    item["event_id"] = item.pop("id")
    return item


def _iso_text(value: datetime | str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return iso(value)
