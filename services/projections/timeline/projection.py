"""The timeline read model: every customer-facing fact as one row, in business-time order.

Rows never hold personal data (names, e-mail, phone, free-text bodies): summaries name records
by their title or subject and say *which* personal fields changed, not their values. So erasing
a customer needs nothing here, and the timeline can be shown to anyone who may see the customer.

To say "Lead 'Difference engine upgrade' moved contacted → qualified" for an event that only
carries the lead's id, the model keeps a small helper table `timeline_records` (lead and ticket
titles, keyed by the record's id) that lead and ticket handlers read. Alerts are kept there too
(their kind and what they are about), so that "acknowledged" and "resolved" can say which alert
they close.

Facts a rule recorded (actor `rule:<id>`) name the rule in their summary.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, get_args

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
from services.common.events.note import NoteAdded, NoteDeleted, NoteEdited
from services.common.events.purchase import PurchaseRecorded
from services.common.events.task import (
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskOverdue,
    TaskReassigned,
    TaskReminded,
    TaskRescheduled,
)
from services.common.events.ticket import (
    PRIORITIES,
    TicketAssigned,
    TicketCommentAdded,
    TicketFirstResponded,
    TicketOpened,
    TicketPriorityChanged,
    TicketSlaBreached,
    TicketStatusChanged,
)
from services.common.times import iso
from services.projections.model import Projection, Row, Rows, Table, handler
from services.projections.personal import seal_values

ENTRIES = Table("timeline", {
    "id": "text", "customer_id": "text", "tenant_id": "text", "position": "int",
    "occurred_at": "ts", "recorded_at": "ts", "kind": "text", "type": "text",
    "actor": "text", "aggregate_id": "text", "summary": "text", "data": "json",
    "sealed": "json",
}, indexes=(("customer_id", "occurred_at", "position"),
            ("customer_id", "kind", "occurred_at", "position")))
RECORDS = Table("timeline_records", {"id": "text", "customer_id": "text", "kind": "text",
                                     "title": "text", "sealed": "json"})
"""Personal words (an interaction's subject, a lost reason, a ticket's subject, a task's title,
a note's text) never stand in a summary: it holds a marker `⟨<context id>.<field>⟩` instead,
and the value is sealed under the customer's key in the entry's (or the ticket, task or note
record's) `sealed` column; reads.py opens and puts it in. Once the customer is erased, the
marker reads "[erased]". A note's record keeps its current text, so each of its entries shows
that; once the note is deleted its record keeps no text, only `title` "[deleted]", which the
markers then read."""
RECORD = RECORDS.row("aggregate_id")
"""The title of the lead or ticket (or what the alert is about) the event belongs to."""

Kind = Literal["alert", "consent", "interaction", "lead", "lifecycle", "note", "owner",
               "payment", "profile", "purchase", "tag", "task", "ticket"]
KINDS: tuple[Kind, ...] = get_args(Kind)


class TimelineProjection(Projection):
    """One row per customer-facing event (id = event_id)."""

    name: ClassVar[str] = "timeline"
    tables: ClassVar[tuple[Table, ...]] = (ENTRIES, RECORDS)
    holds_personal: ClassVar[bool] = True

    def _sealed(self, event: CrmEvent, context_id: str, values: dict[str, Any]) -> Any:
        return seal_values(self.vault, str(event.customer_id), context_id, values)
    ignored = frozenset({
        # bookkeeping links saved with a new record or alert, whose own events are shown
        CustomerRecordLinked, CustomerAlertLinked,
    })

    # -- the customer -------------------------------------------------------------------------

    @handler
    def registered(self, rows: Rows, event: CustomerRegistered, position: int) -> None:
        company = f" ({event.company})" if event.company else ""
        _entry(rows, event, position, "profile", f"Customer registered{company}")

    @handler
    def profile_changed(self, rows: Rows, event: CustomerProfileChanged, position: int) -> None:
        fields = [k for k in ("company", "region", "industry") if getattr(event, k) is not None]
        if event.personal is not None:
            fields += sorted(event.personal.model_dump(exclude_none=True))
        summary = "Profile changed: " + ", ".join(fields) if fields else "Profile changed"
        _entry(rows, event, position, "profile", summary)

    @handler
    def erased(self, rows: Rows, event: CustomerErased, position: int) -> None:
        _entry(rows, event, position, "profile", "Personal data erased")

    @handler
    def merged(self, rows: Rows, event: CustomersMerged, position: int) -> None:
        _entry(rows, event, position, "profile", f"Merged customer {event.merged_customer_id}")

    @handler
    def tagged(self, rows: Rows, event: CustomerTagged, position: int) -> None:
        _entry(rows, event, position, "tag", f"Tagged '{event.tag}'")

    @handler
    def untagged(self, rows: Rows, event: CustomerUntagged, position: int) -> None:
        _entry(rows, event, position, "tag", f"Untagged '{event.tag}'")

    @handler
    def owner_changed(self, rows: Rows, event: CustomerOwnerChanged, position: int) -> None:
        _entry(rows, event, position, "owner", f"Owner changed {event.from_owner or 'nobody'} → "
               f"{event.to_owner or 'nobody'}")

    @handler
    def consent_changed(self, rows: Rows, event: CustomerConsentChanged, position: int) -> None:
        granted = "granted" if event.granted else "withdrawn"
        _entry(rows, event, position, "consent", f"Consent for {event.channel} {granted}")

    @handler
    def became_dormant(self, rows: Rows, event: CustomerBecameDormant, position: int) -> None:
        since = event.last_activity_at.astimezone(UTC).date().isoformat()
        _entry(rows, event, position, "lifecycle",
               f"Customer became dormant: no purchase or interaction since {since} "
               f"({event.dormant_after_days} days)" + _rule(event, ", flagged by"),
               names_its_rule=True)

    # -- leads --------------------------------------------------------------------------------

    @handler
    def lead_created(self, rows: Rows, event: LeadCreated, position: int) -> None:
        _remember(rows, event, "lead", event.title)
        _entry(rows, event, position, "lead",
               f"{_lead(event.title)} created ({_money(event.amount, event.currency)})")

    @handler(reads=[RECORD])
    def lead_assigned(self, rows: Rows, event: LeadAssigned, position: int) -> None:
        _entry(rows, event, position, "lead",
               f"{_lead(_title(rows, event))} assigned to {event.to_owner}")

    @handler(reads=[RECORD])
    def lead_stage_changed(self, rows: Rows, event: LeadStageChanged, position: int) -> None:
        _entry(rows, event, position, "lead",
               f"{_lead(_title(rows, event))} moved {event.from_stage} → {event.to_stage}")

    @handler(reads=[RECORD])
    def lead_amount_changed(self, rows: Rows, event: LeadAmountChanged, position: int) -> None:
        before = _money(event.previous_amount, event.previous_currency)
        _entry(rows, event, position, "lead", f"{_lead(_title(rows, event))} amount {before} → "
               f"{_money(event.amount, event.currency)}")

    @handler(reads=[RECORD])
    def discount_requested(self, rows: Rows, event: DiscountRequested, position: int) -> None:
        needs = " (needs approval)" if event.requires_approval else ""
        _entry(rows, event, position, "lead", f"Discount of {event.percent}% requested on "
               f"{_lead(_title(rows, event), 'lead')}{needs}")

    @handler(reads=[RECORD])
    def discount_approval_requested(self, rows: Rows, event: DiscountApprovalRequested,
                                    position: int) -> None:
        _entry(rows, event, position, "lead", f"Discount {event.percent}% on "
               f"{_lead(_title(rows, event), 'lead')} sent to {event.approver} for approval")

    @handler(reads=[RECORD])
    def discount_decided(self, rows: Rows, event: DiscountApproved | DiscountRejected,
                         position: int) -> None:
        verb = "approved" if isinstance(event, DiscountApproved) else "rejected"
        _entry(rows, event, position, "lead", f"Discount on {_lead(_title(rows, event), 'lead')} "
               f"{verb} by {event.approver}")

    @handler(reads=[RECORD])
    def lead_won(self, rows: Rows, event: LeadWon, position: int) -> None:
        amount = f" ({_money(event.amount, event.currency)})" if event.amount else ""
        _entry(rows, event, position, "lead", f"{_lead(_title(rows, event))} won{amount}")

    @handler(reads=[RECORD])
    def lead_lost(self, rows: Rows, event: LeadLost, position: int) -> None:
        own = str(event.event_id)
        _entry(rows, event, position, "lead",
               f"{_lead(_title(rows, event))} lost: {marker(own, 'reason')}",
               sealed=self._sealed(event, own, {"reason": event.reason}))

    @handler(reads=[RECORD])
    def payment_received(self, rows: Rows, event: PaymentReceived, position: int) -> None:
        _entry(rows, event, position, "payment", f"Payment of "
               f"{_money(event.amount, event.currency)} received for "
               f"{_lead(_title(rows, event), 'lead')}")

    @handler(reads=[RECORD])
    def follow_up_overdue(self, rows: Rows, event: FollowUpOverdue, position: int) -> None:
        lead = _lead(_title(rows, event))
        text = f"{lead} without contact for {event.days_without_contact} days"
        if event.window == "repeat":
            text = f"{lead} still without contact after {event.days_without_contact} days"
        _entry(rows, event, position, "lead", text + _rule(event, ", flagged by"),
               names_its_rule=True)

    # -- interactions and purchases -----------------------------------------------------------

    @handler
    def interaction_logged(self, rows: Rows, event: InteractionLogged, position: int) -> None:
        text = f"{event.direction.capitalize()} {event.channel}"
        own = str(event.event_id)
        _entry(rows, event, position, "interaction",
               f"{text}: {marker(own, 'subject')}" if event.subject else text,
               sealed=self._sealed(event, own, {"subject": event.subject}))

    @handler
    def purchase_recorded(self, rows: Rows, event: PurchaseRecorded, position: int) -> None:
        ref = f" ({event.reference})" if event.reference else ""
        _entry(rows, event, position, "purchase",
               f"Purchase of {_money(event.amount, event.currency)}{ref}")

    # -- tickets ------------------------------------------------------------------------------

    @handler
    def ticket_opened(self, rows: Rows, event: TicketOpened, position: int) -> None:
        ticket = str(event.aggregate_id)
        sealed = self._sealed(event, ticket, {"title": event.subject})
        _remember(rows, event, "ticket", None, sealed)
        _entry(rows, event, position, "ticket",
               f"{_ticket(marker(ticket, 'title') if sealed else None)} opened "
               f"({event.priority})")

    @handler(reads=[RECORD])
    def ticket_assigned(self, rows: Rows, event: TicketAssigned, position: int) -> None:
        _entry(rows, event, position, "ticket",
               f"{_ticket(_title(rows, event))} assigned to {event.to_assignee}")

    @handler(reads=[RECORD])
    def ticket_status_changed(self, rows: Rows, event: TicketStatusChanged,
                              position: int) -> None:
        _entry(rows, event, position, "ticket", f"{_ticket(_title(rows, event))} "
               f"{event.from_status} → {event.to_status}")

    @handler(reads=[RECORD])
    def ticket_comment_added(self, rows: Rows, event: TicketCommentAdded, position: int) -> None:
        visibility = "" if event.public else "internal "
        _entry(rows, event, position, "ticket", f"{event.author_type.capitalize()} "
               f"{visibility}comment on {_ticket(_title(rows, event), 'ticket')}")

    @handler(reads=[RECORD])
    def ticket_first_responded(self, rows: Rows, event: TicketFirstResponded,
                               position: int) -> None:
        _entry(rows, event, position, "ticket", f"First response on "
               f"{_ticket(_title(rows, event), 'ticket')} after "
               f"{event.response_seconds / 3600:.1f} h")

    @handler(reads=[RECORD])
    def ticket_sla_breached(self, rows: Rows, event: TicketSlaBreached, position: int) -> None:
        sla = event.sla.replace("_", "-")
        _entry(rows, event, position, "ticket", f"{_ticket(_title(rows, event))} breached its "
               f"{sla} SLA ({event.priority} priority, {_duration(event.target_seconds)})"
               + _rule(event, ", flagged by"), names_its_rule=True)

    @handler(reads=[RECORD])
    def ticket_priority_changed(self, rows: Rows, event: TicketPriorityChanged,
                                position: int) -> None:
        raised = PRIORITIES.index(event.to_priority) > PRIORITIES.index(event.from_priority)
        text = (f"{_ticket(_title(rows, event))} priority {'raised' if raised else 'lowered'} "
                f"{event.from_priority} → {event.to_priority}")
        own = str(event.event_id)
        _entry(rows, event, position, "ticket",
               text + (f" ({marker(own, 'reason')})" if event.reason else ""),
               sealed=self._sealed(event, own, {"reason": event.reason}))

    # -- tasks --------------------------------------------------------------------------------

    @handler
    def task_created(self, rows: Rows, event: TaskCreated, position: int) -> None:
        task = str(event.aggregate_id)
        sealed = self._sealed(event, task, {"title": event.title})
        _remember(rows, event, "task", None, sealed)
        _entry(rows, event, position, "task",
               f"{_task(marker(task, 'title') if sealed else None)} for {event.assignee}, due "
               f"{_when(event.due_at)}")

    @handler(reads=[RECORD])
    def task_completed(self, rows: Rows, event: TaskCompleted, position: int) -> None:
        _entry(rows, event, position, "task", f"{_task(_title(rows, event))} completed")

    @handler(reads=[RECORD])
    def task_cancelled(self, rows: Rows, event: TaskCancelled, position: int) -> None:
        _entry(rows, event, position, "task", f"{_task(_title(rows, event))} cancelled")

    @handler(reads=[RECORD])
    def task_rescheduled(self, rows: Rows, event: TaskRescheduled, position: int) -> None:
        _entry(rows, event, position, "task",
               f"{_task(_title(rows, event))} moved to {_when(event.due_at)}")

    @handler(reads=[RECORD])
    def task_reassigned(self, rows: Rows, event: TaskReassigned, position: int) -> None:
        _entry(rows, event, position, "task", f"{_task(_title(rows, event))} reassigned "
               f"{event.from_assignee} → {event.to_assignee}")

    @handler(reads=[RECORD])
    def task_reminded(self, rows: Rows, event: TaskReminded, position: int) -> None:
        _entry(rows, event, position, "task", f"Reminder of {_task(_title(rows, event), 'task')}"
               f", due {_when(event.due_at)}" + _rule(event, ", sent by"), names_its_rule=True)

    @handler(reads=[RECORD])
    def task_overdue(self, rows: Rows, event: TaskOverdue, position: int) -> None:
        _entry(rows, event, position, "task", f"{_task(_title(rows, event))} overdue since "
               f"{_when(event.due_at)}" + _rule(event, ", flagged by"), names_its_rule=True)

    # -- notes --------------------------------------------------------------------------------

    @handler(reads=[RECORDS.row("subject_id")])
    def note_added(self, rows: Rows, event: NoteAdded, position: int) -> None:
        note = str(event.aggregate_id)
        sealed = self._sealed(event, note, {"title": _excerpt(event.body)})
        _remember(rows, event, "note", None, sealed)
        on = ""
        if event.subject_kind != "customer":
            subject = _record_title(rows.get(RECORDS, str(event.subject_id)))
            on = " on " + (_lead(subject, "lead") if event.subject_kind == "lead"
                           else _ticket(subject, "ticket"))
        pinned = " (pinned)" if event.pinned else ""
        _entry(rows, event, position, "note",
               f"Note{pinned} by {event.author}{on}: {marker(note, 'title')}")

    @handler(reads=[RECORD])
    def note_edited(self, rows: Rows, event: NoteEdited, position: int) -> None:
        note = str(event.aggregate_id)
        record = rows.get(RECORDS, note)
        if event.body is not None and record is not None and record.get("sealed") is not None:
            sealed = self._sealed(event, note, {"title": _excerpt(event.body)})
            rows.put(RECORDS, {**record, "sealed": sealed})
        changes = (["edited"] if event.personal is not None else []) + \
            ([] if event.pinned is None else ["pinned" if event.pinned else "unpinned"])
        _entry(rows, event, position, "note",
               f"Note {' and '.join(changes) or 'edited'}: {marker(note, 'title')}")

    @handler(reads=[RECORD])
    def note_deleted(self, rows: Rows, event: NoteDeleted, position: int) -> None:
        note = str(event.aggregate_id)
        record = rows.get(RECORDS, note)
        if record is not None:  # its entries no longer show its text
            rows.put(RECORDS, {**record, "sealed": None, "title": DELETED})
        _entry(rows, event, position, "note", "Note deleted")

    # -- alerts: facts about the customer's lead or ticket (someone was asked to act on it) ----

    @handler(reads=[RECORDS.row("subject_id")])
    def alert_raised(self, rows: Rows, event: AlertRaised, position: int) -> None:
        """The summary is composed here: the alert's own free-text `summary` is not used. The
        alert's record keeps what it is about, for its acknowledgement and resolution."""
        subject = rows.get(RECORDS, str(event.subject_id)) \
            if event.subject_kind != "customer" else None
        about = _alert_about(event, _record_title(subject))
        _remember(rows, event, "alert", about)
        _entry(rows, event, position, "alert", f"Alert raised{_rule(event, ' by')} for "
               f"{', '.join(event.assignees)}: {about}", names_its_rule=True)

    @handler(reads=[RECORD])
    def alert_closed(self, rows: Rows, event: AlertAcknowledged | AlertResolved,
                     position: int) -> None:
        verb = "acknowledged" if isinstance(event, AlertAcknowledged) else "resolved"
        about = _title(rows, event)
        summary = f"Alert {verb} by {_who(event.by)}: {about}" if about else \
            f"Alert on {event.subject_kind} {verb} by {_who(event.by)}"  # raised before history
        _entry(rows, event, position, "alert", summary, names_its_rule=True)


# -- rows -----------------------------------------------------------------------------------------


def marker(context_id: str, field: str) -> str:
    """Where a sealed personal value goes in a summary (see RECORDS)."""
    return f"\u27e8{context_id}.{field}\u27e9"


def _entry(rows: Rows, event: CrmEvent, position: int, kind: Kind, summary: str, *,
           names_its_rule: bool = False, sealed: Any = None) -> None:
    """The event's timeline row. A summary that does not name the rule that recorded the fact
    in its own words gets " by rule '<id>'" appended."""
    if not names_its_rule:
        summary += _rule(event, " by")
    rows.put(ENTRIES, {
        "id": str(event.event_id), "customer_id": str(event.customer_id),
        "tenant_id": event.tenant_id, "position": position,
        "occurred_at": iso(event.occurred_at), "recorded_at": iso(event.recorded_at),
        "kind": kind, "type": event.event_type, "actor": event.actor,
        "aggregate_id": str(event.aggregate_id), "summary": summary,
        "data": _public_data(event), "sealed": sealed,
    })


def _remember(rows: Rows, event: CrmEvent, kind: str, title: str | None,
              sealed: Any = None) -> None:
    rows.put(RECORDS, {"id": str(event.aggregate_id), "customer_id": str(event.customer_id),
                       "kind": kind, "title": title, "sealed": sealed})


def _title(rows: Rows, event: CrmEvent) -> str:
    return _record_title(rows.get(RECORDS, str(event.aggregate_id)))


def _record_title(record: Row | None) -> str:
    """A record's title, or the marker of its sealed one (a ticket's subject)."""
    if record is None:
        return ""
    if record.get("sealed") is not None:
        return marker(record["id"], "title")
    return record["title"] or ""


def _public_data(event: CrmEvent) -> dict[str, Any]:
    """The event's own fields without personal data (and without empty ones)."""
    data = {k: v for k, v in event.data().items() if v is not None and k != "personal"}
    personal = getattr(event, "personal", None)
    if isinstance(event, CustomerProfileChanged) and personal is not None:
        data["personal_fields"] = sorted(personal.model_dump(exclude_none=True))
    return data


# -- words: never with personal values ------------------------------------------------------------


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


def _ticket(title: str | None, word: str = "Ticket") -> str:
    return f"{word} '{title}'" if title else word


def _task(title: str | None, word: str = "Task") -> str:
    return f"{word} '{title}'" if title else word


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


EXCERPT = 160
"""Characters of a note a timeline entry shows."""
DELETED = "[deleted]"


def _excerpt(body: str | None) -> str | None:
    """The note's text on one line, cut to `EXCERPT` characters."""
    if body is None:
        return None
    line = " ".join(body.split())
    return line if len(line) <= EXCERPT else line[:EXCERPT - 1] + "…"


_ALERT_KINDS = {"follow_up_overdue": "follow-up overdue", "sla_breached": "SLA breached",
                "discount_approval": "discount approval", "task_reminder": "reminder",
                "task_overdue": "overdue"}


def _alert_about(event: AlertRaised, subject_title: str) -> str:
    """What the alert is about, e.g. "SLA breached on ticket 'Cannot log in'"."""
    label = _ALERT_KINDS.get(event.kind, event.kind.replace("_", " "))
    if event.subject_kind == "lead":
        return f"{label} on {_lead(subject_title, 'lead')}"
    if event.subject_kind == "ticket":
        return f"{label} on {_ticket(subject_title, 'ticket')}"
    if event.subject_kind == "task":
        return f"{label} on {_task(subject_title, 'task')}"
    return label
