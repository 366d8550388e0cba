"""The lifecycle read model: each customer's stage over business time (DESIGN.md §5).

prospect → engaged → customer → loyal → dormant → back to customer (or loyal).

Business time drives everything and events may arrive back-dated, so the projection never
moves a stage forward event by event. It keeps, per customer, the few facts the stages depend
on (when they registered, when they first engaged, when they bought, when they were in touch)
and recomputes the customer's whole transition list from those facts with the pure function
`transitions()` on every relevant event. A replay, a rebuild and an in-memory fold therefore
reach the same list whatever order the facts came in.

Time-based transitions (dormant) are stored when they are due *after* the last activity, even if
that moment lies in the future of every event seen: it simply has not happened yet for an
`as_of` earlier than it, and the next activity before it removes it again.

`CustomerBecameDormant` (recorded by the lifecycle rule when it notices a quiet customer) is
ignored on purpose: dormancy is derived here from the activity facts, at the exact moment it
became due, so the answer for any `as_of` does not depend on when, or whether, the rule ran
(it runs on its own clock and its tenant's dormancy period, and back-dated activity can make
its event stale). Taking the event as a stage transition would make a replay's answer depend
on the rule's schedule instead of on the facts.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from services.common.settings import Settings
from services.projections.model import ConsumedEvent, Projection, Row, Rows, Table
from services.projections.stores.base import ReadStore, iso
from services.projections.stores.sql import SqlReadStore

STAGES: tuple[str, ...] = ("prospect", "engaged", "customer", "loyal", "dormant")
_ACTIVE = ("customer", "loyal")
"""Stages that can go dormant: only someone who bought can lapse."""

CUSTOMERS = "lifecycle_customers"
TRANSITIONS = "lifecycle_transitions"

Transition = tuple[str, str]
"""(stage, at) with `at` an ISO 8601 UTC string as `iso()` writes it."""


@dataclass(frozen=True)
class LifecycleConfig:
    """Thresholds of the lifecycle stages (settings `CRM_LIFECYCLE_*`)."""

    dormant_days: int = 90
    loyal_count: int = 3
    loyal_window_days: int = 365
    engaging_stages: frozenset[str] = field(
        default=frozenset({"qualified", "proposal", "negotiation", "won"}))
    """Lead stages that show a prospect is engaged (a qualified-or-later lead)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> LifecycleConfig:
        return cls(dormant_days=settings.lifecycle_dormant_days,
                   loyal_count=settings.lifecycle_loyal_count,
                   loyal_window_days=settings.lifecycle_loyal_window_days)


# -- the pure part ------------------------------------------------------------------------------


def empty_facts() -> dict[str, Any]:
    """The facts the stages depend on, all business times as ISO strings.

    `buys` (purchases and won leads) is a sorted multiset, because the loyalty rule counts them;
    `touches` (interactions other than internal notes) is a sorted set, because only the dates
    matter for dormancy. `engaged_at` is the earliest engagement: later ones change nothing.
    """
    return {"registered_at": None, "engaged_at": None, "buys": [], "touches": [],
            "latest_at": None}


_ENGAGE, _TOUCH, _BUY = 0, 1, 2  # tie order at one instant: engage, then touch, then buy


def transitions(facts: dict[str, Any], config: LifecycleConfig) -> list[Transition]:
    """Every stage change of one customer implied by its facts, in business-time order.

    A pure function: the projection, the rebuild and point-in-time views all call it, so they
    cannot disagree. Buys are purchases and won leads; activity is buys and touches.
    """
    points: list[tuple[str, int]] = [(at, _BUY) for at in facts["buys"]]
    points += [(at, _TOUCH) for at in facts["touches"]]
    if facts["engaged_at"] is not None:
        points.append((facts["engaged_at"], _ENGAGE))
    points.sort()
    starts = [facts["registered_at"]] if facts["registered_at"] is not None else []
    if points:
        starts.append(points[0][0])
    if not starts:
        return []
    dormant_after = timedelta(days=config.dormant_days)
    window = timedelta(days=config.loyal_window_days)
    out: list[Transition] = [("prospect", min(starts))]
    stage = "prospect"
    last_active: datetime | None = None
    buys: list[datetime] = []

    def buying_stage(at: datetime) -> str:
        in_window = len(buys) - bisect_left(buys, at - window)
        return "loyal" if in_window >= config.loyal_count else "customer"

    for at_text, kind in points:
        at = datetime.fromisoformat(at_text)
        if stage in _ACTIVE and last_active is not None and at > last_active + dormant_after:
            stage = "dormant"
            out.append((stage, iso(last_active + dormant_after)))
        new_stage = stage
        if kind == _ENGAGE:
            if stage == "prospect":
                new_stage = "engaged"
        elif kind == _TOUCH:
            last_active = at
            if stage == "dormant":
                new_stage = buying_stage(at)
        else:
            buys.append(at)  # points are sorted, so `buys` stays sorted
            last_active = at
            evaluated = buying_stage(at)
            # A purchase never demotes an active loyal customer.
            new_stage = "loyal" if stage == "loyal" else evaluated
        if new_stage != stage:
            stage = new_stage
            out.append((stage, at_text))
    if stage in _ACTIVE and last_active is not None:
        out.append(("dormant", iso(last_active + dormant_after)))
    return out


def stage_as_of(transitions: Sequence[Sequence[str]], at: datetime | str) -> str | None:
    """The stage in force at `at`: that of the last transition at or before it.

    None before the customer's first known fact.
    """
    moment = _iso_text(at)
    stage: str | None = None
    for transition_stage, transition_at in transitions:
        if transition_at > moment:
            break
        stage = transition_stage
    return stage


def _iso_text(value: datetime | str) -> str:
    """Normalise to the one text form, so that text comparison is time comparison."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError("lifecycle times must be timezone-aware")
    return iso(value)


# -- the projection -----------------------------------------------------------------------------


class LifecycleProjection(Projection):
    """Per customer: its facts and transition list, and one row per transition for counting.

    `lifecycle_transitions` rows are addressed `f"{customer_id}:{seq}"`; the customer row keeps
    the transition list, so a change rewrites only the rows that differ and deletes the surplus
    without reading them.
    """

    name: ClassVar[str] = "lifecycle"
    tables: ClassVar[tuple[Table, ...]] = (
        Table(CUSTOMERS, {
            "id": "text", "tenant_id": "text", "stage": "text", "stage_at": "ts",
            "since": "ts", "facts": "json", "transitions": "json", "transition_count": "int",
            "last_position": "int",
        }, indexes=(("tenant_id", "stage"),)),
        Table(TRANSITIONS, {
            "id": "text", "customer_id": "text", "tenant_id": "text", "seq": "int",
            "from_stage": "text", "stage": "text", "at": "ts",
        }, indexes=(("customer_id", "seq"), ("at",), ("tenant_id", "at"))),
    )

    _HANDLED: ClassVar[tuple[type[CrmEvent], ...]] = (
        CustomerRegistered, LeadStageChanged, LeadWon, PurchaseRecorded, InteractionLogged)
    IGNORED: ClassVar[frozenset[type[CrmEvent]]] = frozenset({
        # derived here from activity, never taken from the rule's event (module docstring)
        CustomerBecameDormant,
        # no fact a stage depends on: engagement is a qualified lead or an inbound interaction,
        # buying is a won lead or a purchase, activity is buying or a contact
        CustomerProfileChanged, CustomerTagged, CustomerUntagged, CustomerOwnerChanged,
        CustomerConsentChanged, CustomersMerged, CustomerErased, CustomerRecordLinked,
        CustomerAlertLinked, LeadCreated, LeadAssigned, LeadAmountChanged, DiscountRequested,
        DiscountApprovalRequested, DiscountApproved, DiscountRejected, LeadLost, PaymentReceived,
        FollowUpOverdue, TicketOpened, TicketAssigned, TicketStatusChanged, TicketCommentAdded,
        TicketFirstResponded, TicketSlaBreached, TicketPriorityChanged, AlertRaised,
        AlertAcknowledged, AlertResolved,
    })
    """Published event types ignored on purpose. (Internal ones never reach a projection.)"""

    def __init__(self, config: LifecycleConfig | None = None) -> None:
        self.config = config or LifecycleConfig()

    @classmethod
    def from_settings(cls, settings: Settings) -> LifecycleProjection:
        return cls(LifecycleConfig.from_settings(settings))

    def keys(self, event: CrmEvent) -> Iterable[tuple[str, str]]:
        if isinstance(event, self._HANDLED):
            return ((CUSTOMERS, str(event.customer_id)),)
        return ()

    # One handler per event type: each only adds its fact; `_record` recomputes.

    def on_CustomerRegistered(self, rows: Rows, consumed: ConsumedEvent) -> None:
        def add(facts: dict[str, Any], at: str) -> None:
            facts["registered_at"] = at

        self._record(rows, consumed, add)

    def on_LeadStageChanged(self, rows: Rows, consumed: ConsumedEvent) -> None:
        event = consumed.event
        assert isinstance(event, LeadStageChanged)
        if event.to_stage in self.config.engaging_stages:
            self._record(rows, consumed, _engage)

    def on_LeadWon(self, rows: Rows, consumed: ConsumedEvent) -> None:
        self._record(rows, consumed, _buy)

    def on_PurchaseRecorded(self, rows: Rows, consumed: ConsumedEvent) -> None:
        self._record(rows, consumed, _buy)

    def on_InteractionLogged(self, rows: Rows, consumed: ConsumedEvent) -> None:
        event = consumed.event
        assert isinstance(event, InteractionLogged)
        if event.direction == "inbound":
            self._record(rows, consumed, _engage_and_touch)
        elif event.direction == "outbound":
            self._record(rows, consumed, _touch)
        # An internal note is no contact with the customer: no fact.

    # -- shared -------------------------------------------------------------------------------

    def _record(self, rows: Rows, consumed: ConsumedEvent,
                add: Callable[[dict[str, Any], str], None]) -> None:
        event = consumed.event
        customer_id = str(event.customer_id)
        row = rows.get(CUSTOMERS, customer_id)
        old_transitions: list[list[str]] = row["transitions"] if row else []
        facts = dict(row["facts"]) if row else empty_facts()
        at = iso(event.occurred_at)
        add(facts, at)
        if facts["latest_at"] is None or at > facts["latest_at"]:
            facts["latest_at"] = at
        new_transitions = [list(t) for t in transitions(facts, self.config)]
        self._write_transitions(rows, customer_id, event.tenant_id, old_transitions,
                                new_transitions)
        stage_at = facts["latest_at"]
        current = stage_as_of(new_transitions, stage_at)
        since = next((t[1] for t in reversed(new_transitions) if t[1] <= stage_at), None)
        rows.put(CUSTOMERS, {
            "id": customer_id, "tenant_id": event.tenant_id, "stage": current,
            "stage_at": stage_at, "since": since, "facts": facts,
            "transitions": new_transitions, "transition_count": len(new_transitions),
            "last_position": consumed.position,
        })

    @staticmethod
    def _write_transitions(rows: Rows, customer_id: str, tenant_id: str,
                           old: list[list[str]], new: list[list[str]]) -> None:
        """Rewrite only the transition rows that differ; delete the ones past the new end."""
        for seq, (stage, at) in enumerate(new):
            from_stage = new[seq - 1][0] if seq else None
            old_from = old[seq - 1][0] if 0 < seq <= len(old) else None
            if seq < len(old) and old[seq] == [stage, at] and old_from == from_stage:
                continue
            rows.put(TRANSITIONS, {
                "id": f"{customer_id}:{seq}", "customer_id": customer_id,
                "tenant_id": tenant_id, "seq": seq, "from_stage": from_stage,
                "stage": stage, "at": at,
            })
        for seq in range(len(new), len(old)):
            rows.delete(TRANSITIONS, f"{customer_id}:{seq}")


def _engage(facts: dict[str, Any], at: str) -> None:
    if facts["engaged_at"] is None or at < facts["engaged_at"]:
        facts["engaged_at"] = at


def _touch(facts: dict[str, Any], at: str) -> None:
    touches: list[str] = facts["touches"]
    index = bisect_left(touches, at)
    if index == len(touches) or touches[index] != at:
        facts["touches"] = touches[:index] + [at] + touches[index:]


def _engage_and_touch(facts: dict[str, Any], at: str) -> None:
    _engage(facts, at)
    _touch(facts, at)


def _buy(facts: dict[str, Any], at: str) -> None:
    buys = list(facts["buys"])  # never mutate the loaded row's list in place
    insort(buys, at)
    facts["buys"] = buys


# -- point-in-time and reads --------------------------------------------------------------------


def customer_transitions_of(rows: Rows, customer_id: str) -> list[Transition]:
    """A customer's transitions from a working set (e.g. a `fold()` result)."""
    row = rows.get(CUSTOMERS, customer_id)
    return [(t[0], t[1]) for t in row["transitions"]] if row else []


def read_customer_transitions(store: SqlReadStore, customer_id: str) -> list[Transition]:
    """Every stage change of one customer, oldest first (including a future dormant one)."""
    found = store.query(f'SELECT stage, "at" FROM {TRANSITIONS} WHERE customer_id = ? '
                        "ORDER BY seq", (customer_id,))
    return [(r["stage"], _ts(store, r["at"])) for r in found]


def read_customer_stage(store: SqlReadStore, customer_id: str,
                        as_of: datetime | str | None = None) -> str | None:
    """The customer's stage at `as_of` (default: now, the query side's clock); None if unknown.

    Reads only the customer's transition rows, so a dormant stage that has come due since the
    last event is reported without any event having arrived.
    """
    moment = _iso_text(as_of if as_of is not None else datetime.now(UTC))
    return stage_as_of(read_customer_transitions(store, customer_id), moment)


def read_lifecycle_counts(store: ReadStore, as_of: datetime | str, *,
                          tenant_id: str | None = None) -> dict[str, Any]:
    """How many customers were in each stage at `as_of`: every customer's last transition at or
    before it, counted in one query. Plain SQL, so it also reads a standalone DuckDB replay
    (`at` is quoted: a keyword there)."""
    moment = _iso_text(as_of)
    tenant_clause = " AND tenant_id = ?" if tenant_id is not None else ""
    params: list[Any] = [moment] + ([tenant_id] if tenant_id is not None else [])
    found = store.query(
        f"SELECT t.stage AS stage, COUNT(*) AS n FROM {TRANSITIONS} t JOIN ("
        f" SELECT customer_id, MAX(seq) AS seq FROM {TRANSITIONS}"
        f' WHERE "at" <= ?{tenant_clause} GROUP BY customer_id'
        ") latest ON t.customer_id = latest.customer_id AND t.seq = latest.seq GROUP BY t.stage",
        params)
    counts = dict.fromkeys(STAGES, 0)
    for r in found:
        counts[r["stage"]] = int(r["n"])
    return {"as_of": moment, "counts": counts}


def read_lifecycle_transitions(store: ReadStore, start: datetime | str, end: datetime | str, *,
                               tenant_id: str | None = None) -> dict[str, Any]:
    """How many customers moved from one stage to another in [start, end).

    A customer's first appearance counts as `from: None` → `prospect`.
    """
    low, high = _iso_text(start), _iso_text(end)
    tenant_clause = " AND tenant_id = ?" if tenant_id is not None else ""
    params: list[Any] = [low, high] + ([tenant_id] if tenant_id is not None else [])
    found = store.query(
        f"SELECT from_stage, stage, COUNT(*) AS n FROM {TRANSITIONS}"
        f' WHERE "at" >= ? AND "at" < ?{tenant_clause} GROUP BY from_stage, stage', params)
    items = sorted(({"from": r["from_stage"], "to": r["stage"], "count": int(r["n"])}
                    for r in found), key=lambda item: (item["from"] or "", item["to"]))
    return {"start": low, "end": high, "transitions": items}


def _ts(store: SqlReadStore, value: Any) -> str:
    """A `ts` column as the ISO text `iso()` writes, on either dialect."""
    return str(store.from_db("ts", value))


def lifecycle_row(rows: Rows, customer_id: str) -> Row | None:
    """The customer's lifecycle row in a working set (point-in-time views use `fold()`)."""
    return rows.get(CUSTOMERS, customer_id)
