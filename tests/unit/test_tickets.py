"""The tickets read model's parts: the rows its handlers write (folded in memory), the clocks
read from a row, the SLA targets taken from the rules, and the duration parameter.

The routes, on SQLite and PostgreSQL, are in tests/contract/tickets_api.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import BaseModel

from services.bootstrap import sla_targets_of
from services.command.domain.rules import DEFAULT_RULES, RuleSet
from services.command.domain.rules.model import Duration as RulesDuration
from services.common.events.alert import AlertRaised
from services.common.events.customer import CustomerPersonal, CustomerRegistered
from services.common.events.envelope import CrmEvent
from services.common.events.ticket import (
    TicketFirstResponded,
    TicketOpened,
    TicketSlaBreached,
    TicketStatusChanged,
)
from services.projections.model import ConsumedEvent, MemoryRows, fold
from services.projections.registry import NAMES
from services.projections.tickets.projection import (
    ALERTS,
    CUSTOMERS,
    SEARCH,
    TICKETS,
    TicketsProjection,
    micros,
)
from services.projections.tickets.reads import NO_TARGETS, SlaTargets, ticket_clocks
from services.query.api.deps import parse_duration

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
TENANT = "t"
CUSTOMER, TICKET = uuid4(), uuid4()
HOUR = 3600
TARGETS = SlaTargets(first_response={"urgent": HOUR, "normal": 24 * HOUR},
                     resolution={"urgent": 8 * HOUR, "normal": 120 * HOUR})


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def event(cls: type[CrmEvent], hours: float, aggregate: UUID = TICKET, **data: Any) -> CrmEvent:
    return cls(event_id=uuid4(), aggregate_id=aggregate, aggregate_version=1,
               customer_id=CUSTOMER, tenant_id=TENANT, actor="agent-1", occurred_at=at(hours),
               recorded_at=at(hours), correlation_id=uuid4(), **data)


def folded(*events: CrmEvent) -> MemoryRows:
    return fold(TicketsProjection(), [ConsumedEvent(0, n, n, e)
                                      for n, e in enumerate(events, start=1)])


def opened(hours: float = 0, priority: str = "urgent") -> CrmEvent:
    return event(TicketOpened, hours, subject="Printer on fire", priority=priority,
                 assignee="agent-1")


def moved(hours: float, source: str, target: str) -> CrmEvent:
    return event(TicketStatusChanged, hours, from_status=source, to_status=target)


def ticket_row(*events: CrmEvent) -> dict[str, Any]:
    row = folded(*events).get(TICKETS, str(TICKET))
    assert row is not None
    return row


# -- the rows -----------------------------------------------------------------------------------


def test_tickets_is_a_registered_read_model() -> None:
    assert "tickets" in NAMES


def test_the_resolution_clock_restarts_on_reopening_and_keeps_the_slowest_run() -> None:
    row = ticket_row(opened(), moved(10, "open", "resolved"), moved(12, "resolved", "reopened"),
                     moved(13, "reopened", "resolved"))
    assert row["resolution_since_us"] == micros(at(12))
    assert row["resolution_us"] == HOUR * 1_000_000
    assert row["slowest_resolution_us"] == 10 * HOUR * 1_000_000
    assert row["first_resolution_us"] == 10 * HOUR * 1_000_000  # its first resolution
    assert (row["reopened"], row["status"], row["version"]) == (1, "resolved", 4)


def test_a_late_event_does_not_move_the_latest_change_back() -> None:
    row = ticket_row(opened(0), moved(5, "open", "pending"),
                     event(TicketFirstResponded, 1, responded_by="agent-1", response_seconds=3600))
    assert row["updated_us"] == micros(at(5))
    assert row["first_response_us"] == HOUR * 1_000_000


def test_breaches_are_counted_and_a_reopening_clears_the_resolution_one() -> None:
    breach = event(TicketSlaBreached, 9, sla="resolution", priority="urgent",
                   target_seconds=8 * HOUR, deadline=at(8))
    row = ticket_row(opened(), breach, moved(10, "open", "resolved"),
                     moved(11, "resolved", "reopened"))
    assert (row["breaches"], row["resolution_breached"]) == (1, False)


def test_only_alerts_about_tickets_are_kept() -> None:
    def alert(kind: str, subject_kind: str) -> CrmEvent:
        return event(AlertRaised, 1, aggregate=uuid4(), kind=kind, subject_kind=subject_kind,
                     subject_id=TICKET, assignees=["agent-1"], summary="Ticket missed its SLA")

    rows = folded(opened(), alert("sla_breached", "ticket"),
                  alert("follow_up_overdue", "lead"))
    [kept] = rows.all(ALERTS)
    assert (kept["ticket_id"], kept["kind"], kept["status"]) == (str(TICKET), "sla_breached",
                                                               "open")


def test_the_customers_row_lists_its_tickets_for_an_erasure() -> None:
    registered = event(CustomerRegistered, 0, aggregate=CUSTOMER,
                       personal=CustomerPersonal(name="Ada Lovelace"), company="Engines")
    rows = folded(registered, opened())
    customer = rows.get(CUSTOMERS, str(CUSTOMER))
    assert customer is not None
    assert (customer["ticket_ids"], customer["company"]) == ([str(TICKET)], "Engines")
    # folded in memory (no vault): values stay as they are and no blind tokens are made
    assert customer["name"] == {"name": "Ada Lovelace"} and rows.all(SEARCH) == []


# -- the clocks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("events", "as_of", "first", "resolution"), [
    ((), 0.5, "running", "running"),
    ((), 2, "overdue", "running"),
    (("pending@0.5",), 20, "met", "waiting_on_customer"),
    (("pending@2",), 3, "missed", "waiting_on_customer"),
    (("pending@0.5", "open@9"), 9.5, "met", "overdue"),
    (("resolved@4",), 100, "missed", "met"),
    (("resolved@0.5", "closed@20"), 100, "met", "met"),
    (("resolved@0.5", "reopened@20"), 29, "met", "overdue"),
])
def test_each_clock_state_at_as_of(events: tuple[str, ...], as_of: float, first: str,
                                   resolution: str) -> None:
    history: list[CrmEvent] = [opened()]
    current = "open"
    for step in events:
        target, hours = step.split("@")
        history.append(moved(float(hours), current, target))
        current = target
        if target in ("pending", "resolved") and not any(
                isinstance(e, TicketFirstResponded) for e in history):
            history.append(event(TicketFirstResponded, float(hours), responded_by="agent-1",
                                 response_seconds=float(hours) * HOUR))
    clocks = ticket_clocks(ticket_row(*history), TARGETS, at(as_of))
    assert (clocks["first_response"]["state"], clocks["resolution"]["state"]) == (
        first, resolution)


def test_a_running_clock_says_how_long_is_left_and_a_stopped_one_how_long_it_took() -> None:
    clocks = ticket_clocks(ticket_row(opened(), moved(3, "open", "pending"),
                                      event(TicketFirstResponded, 3, responded_by="agent-1",
                                            response_seconds=3 * HOUR)), TARGETS, at(5))
    first, resolution = clocks["first_response"], clocks["resolution"]
    assert (first["elapsed_seconds"], first["remaining_seconds"], first["target_seconds"]) == (
        3.0 * HOUR, None, HOUR)
    assert (resolution["elapsed_seconds"], resolution["remaining_seconds"]) == (
        5.0 * HOUR, 3.0 * HOUR)
    assert datetime.fromisoformat(resolution["deadline"]) == at(8)


def test_without_targets_nothing_is_due_or_late() -> None:
    clocks = ticket_clocks(ticket_row(opened()), NO_TARGETS, at(1000))
    assert [(c["state"], c["deadline"], c["target_seconds"]) for c in
            (clocks["first_response"], clocks["resolution"])] == [("running", None, None)] * 2


# -- the targets and durations ------------------------------------------------------------------


def test_the_targets_in_force_are_the_rules_in_seconds() -> None:
    targets = sla_targets_of(DEFAULT_RULES)
    assert targets.first_response == {"urgent": 3600, "high": 14400, "normal": 86400,
                                      "low": 259200}
    assert targets.resolution["urgent"] == 8 * 3600
    custom = RuleSet.model_validate({"sla": {"first_response": {"urgent": "30m"}}})
    assert sla_targets_of(custom).first_response["urgent"] == 1800
    assert sla_targets_of(custom).first_response["low"] == 259200  # the default stays
    assert sla_targets_of(RuleSet.model_validate({"sla": {"enabled": False}})) == NO_TARGETS


class _RulesFile(BaseModel):
    duration: RulesDuration


@pytest.mark.parametrize("text", ["7d", "4h", "1h30m", "45s", "1d12h", " 2h ", "3650d",
                                  "0s", "0h0m", "3651d", "2", "h", "", "2x", "1m2h", "-1h",
                                  "1.5h", "99999d", "2H"])
def test_durations_read_as_the_rules_file_reads_them(text: str) -> None:
    try:
        expected: timedelta | None = _RulesFile.model_validate({"duration": text}).duration
    except ValueError:
        expected = None
    try:
        found: timedelta | None = parse_duration(text)
    except ValueError:
        found = None
    assert found == expected
