"""Funnel read model: one row per lead, one row per completed stay of a lead in a stage.

`funnel_leads` holds the lead's filter attributes (tenant, source, owner, region, industry,
business-time creation), its current stage and when it entered it, a bit mask of every stage
it was ever in, how deep it got through the pipeline in order, and how it closed.
`funnel_stage_stays` gets one insert-only row each time a lead leaves a stage, with the
stay's business-time duration and the lead's unchanging attributes (tenant, source, region,
creation), so time-in-stage quantiles are one scan of that table without a join (only the
owner, which changes hands, needs the join to the lead's current row).

A stage change reads only the lead's row (its current stage and entry time are there), so a
batch loads each lead once and never re-writes an earlier stay. The figures themselves are
defined and computed in reads.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from services.common.events.envelope import CrmEvent
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

DEFAULT_STAGES: tuple[str, ...] = ("new", "contacted", "qualified", "proposal", "negotiation",
                                   "won")
"""The funnel stages in pipeline order (the default pipeline; `lost` is not a funnel stage)."""
WON, LOST = "won", "lost"

STAGE_BIT: dict[str, int] = {stage: 1 << i for i, stage in enumerate((*DEFAULT_STAGES, LOST))}
"""Bit of each known stage in `funnel_leads.reached_mask`; other stage names get no bit."""
_ORDER: dict[str, int] = {stage: i for i, stage in enumerate(DEFAULT_STAGES)}

LEADS = Table("funnel_leads", {
    "id": "text",              # lead id
    "customer_id": "text",
    "tenant_id": "text",
    "source": "text",
    "channel": "text",
    "owner": "text",           # current owner
    "region": "text",
    "industry": "text",
    "created_at": "ts",        # business time of LeadCreated
    "created_day": "text",     # its UTC date, YYYY-MM-DD (period keys without time zone math)
    "amount": "text",          # decimal string, current
    "currency": "text",
    "stage": "text",           # current stage
    "stage_entered_at": "ts",  # business time the current stage was entered
    "stays": "int",            # completed stays so far (= the next stay's seq)
    "reached_mask": "int",     # OR of STAGE_BIT of every stage the lead was ever in
    "in_order_depth": "int",   # index in DEFAULT_STAGES reached in order; -1: not even `new`
    "status": "text",          # open | won | lost
    "closed_at": "ts",
    "lost_reason": "text",
})

STAYS = Table("funnel_stage_stays", {
    "id": "text",              # f"{lead_id}:{seq}"
    "lead_id": "text",
    "tenant_id": "text",
    "source": "text",          # the lead's attributes that never change, copied so that
    "region": "text",          # filtering or grouping time in stage needs no join
    "created_at": "ts",
    "created_day": "text",
    "stage": "text",
    "seq": "int",              # 0 for the stage the lead was created in
    "entered_at": "ts",
    "left_at": "ts",
    "duration_s": "float",     # left_at - entered_at, business time
})
LEAD = LEADS.row("aggregate_id")


def in_order_depth(depth: int, stage: str) -> int:
    """The new depth after entering `stage`: entering the stage right after the deepest one
    reached in order extends it; a skip forward or a move back leaves it unchanged."""
    index = _ORDER.get(stage)
    return index if index is not None and index == depth + 1 else depth


class FunnelProjection(Projection):
    """Leads and their stage stays, in business time."""

    name: ClassVar[str] = "funnel"
    store_kind = "analytics"
    tables: ClassVar[tuple[Table, ...]] = (LEADS, STAYS)
    ignored = events_outside("crm.lead.") | {
        # discounts, payments and follow-ups move no lead through the funnel
        DiscountRequested, DiscountApprovalRequested, DiscountApproved, DiscountRejected,
        PaymentReceived, FollowUpOverdue}
    """Every event but a lead's creation, stage, closing, owner and amount."""

    @handler
    def lead_created(self, rows: Rows, event: LeadCreated, position: int) -> None:
        created = iso(event.occurred_at)
        rows.put(LEADS, {
            "id": str(event.aggregate_id), "customer_id": str(event.customer_id),
            "tenant_id": event.tenant_id, "source": event.source, "channel": event.channel,
            "owner": event.owner, "region": event.region, "industry": event.industry,
            "created_at": created, "created_day": created[:10], "amount": event.amount,
            "currency": event.currency, "stage": event.stage,
            "stage_entered_at": created, "stays": 0,
            "reached_mask": STAGE_BIT.get(event.stage, 0),
            "in_order_depth": in_order_depth(-1, event.stage),
            "status": _status(event.stage), "closed_at": None, "lost_reason": None,
        })

    @handler(reads=[LEAD])
    def lead_stage_changed(self, rows: Rows, event: LeadStageChanged, position: int) -> None:
        _enter(rows, _lead(rows, event), event.to_stage, event.occurred_at)

    @handler(reads=[LEAD])
    def lead_won(self, rows: Rows, event: LeadWon, position: int) -> None:
        # The domain records LeadStageChanged(to=won) first; this only closes a lead whose
        # history lacks that stage change (e.g. an import), so a win is never counted twice.
        lead = _lead(rows, event)
        if lead["stage"] != WON:
            _enter(rows, lead, WON, event.occurred_at)

    @handler(reads=[LEAD])
    def lead_lost(self, rows: Rows, event: LeadLost, position: int) -> None:
        lead = _lead(rows, event)
        if lead["stage"] != LOST:
            _enter(rows, lead, LOST, event.occurred_at)

    @handler(reads=[LEAD])
    def lead_assigned(self, rows: Rows, event: LeadAssigned, position: int) -> None:
        rows.put(LEADS, {**_lead(rows, event), "owner": event.to_owner})

    @handler(reads=[LEAD])
    def lead_amount_changed(self, rows: Rows, event: LeadAmountChanged, position: int) -> None:
        rows.put(LEADS, {**_lead(rows, event), "amount": event.amount,
                         "currency": event.currency})


def _enter(rows: Rows, lead: Row, stage: str, at: datetime) -> None:
    """Close the current stay (one insert) and make `stage` the lead's current stage."""
    lead_id, seq = lead["id"], lead["stays"]
    entered = lead["stage_entered_at"]
    left = iso(at)
    rows.put(STAYS, {
        "id": f"{lead_id}:{seq}", "lead_id": lead_id, "tenant_id": lead["tenant_id"],
        "source": lead["source"], "region": lead["region"], "created_at": lead["created_at"],
        "created_day": lead["created_day"], "stage": lead["stage"], "seq": seq,
        "entered_at": entered, "left_at": left,
        "duration_s": (at - datetime.fromisoformat(entered)).total_seconds(),
    })
    status = _status(stage)
    rows.put(LEADS, {
        **lead, "stage": stage, "stage_entered_at": left, "stays": seq + 1,
        "reached_mask": lead["reached_mask"] | STAGE_BIT.get(stage, 0),
        "in_order_depth": in_order_depth(lead["in_order_depth"], stage),
        "status": status, "closed_at": left if status != "open" else None,
        # A lost reason is free text a person wrote, sealed under the customer's key: the
        # analytics never hold it (docs/privacy.md). The column stays for older files.
        "lost_reason": None,
    })


def _status(stage: str) -> str:
    return stage if stage in (WON, LOST) else "open"


def _lead(rows: Rows, event: CrmEvent) -> Row:
    lead = rows.get(LEADS, str(event.aggregate_id))
    if lead is None:
        raise LookupError(f"{type(event).__name__} for lead {event.aggregate_id}, "
                          "which has no LeadCreated before it")
    return lead
