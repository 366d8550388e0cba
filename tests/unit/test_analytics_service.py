"""Service levels, checked against a recount of the raw events in plain Python.

A seeded generator opens ~100 tickets for ~50 customers through the command service over two
years of business time: customer comments, agent replies (public and internal), pending,
resolved, closed and reopened tickets, reassignments, and SLA breaches recorded on the ticket
the way the SLA rule will. First responses are recounted from the comments and status moves,
not from TicketFirstResponded.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from services.command.domain.aggregate import CommandContext
from services.command.domain.ticket import Ticket
from services.command.service import CommandService, NewCustomer
from services.common.event_store import ChronicleStore
from services.common.events.customer import CustomerPersonal
from services.common.events.ticket import (
    TicketAssigned,
    TicketCommentAdded,
    TicketOpened,
    TicketPriorityChanged,
    TicketSlaBreached,
    TicketStatusChanged,
)
from services.common.settings import Settings
from services.projections.service.projection import ServiceProjection
from services.projections.service.reads import DEFAULT_SLA_TARGETS, SlaTarget, read_service
from services.projections.stores.duck import DuckReadStore
from tests.unit.analytics_world import (
    CatchUp,
    World,
    all_events,
    analytics_runner,
    assert_close,
    assert_rebuild_equals_live,
    built_world,
    quantile_cont,
)

PRIORITIES = ("urgent", "high", "normal", "low")
CHANNELS = ("email", "phone", "chat")
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


# -- the data set -----------------------------------------------------------------------------

def record_breach(store: ChronicleStore, ticket_id: UUID, ctx: CommandContext, sla: str) -> None:
    """What the SLA rule will record: a TicketSlaBreached on the ticket."""
    ticket = store.repository.get(ticket_id, projector_func=Ticket.project)
    assert ctx.occurred_at is not None
    ticket._record(TicketSlaBreached, ctx, sla=sla, priority=ticket.priority,
                   target_seconds=3600, deadline=ctx.occurred_at)
    store.save(*ticket.collect_events())


def _ticket(svc: CommandService, rng: random.Random, customer_id: UUID, tenant: str,
            clock: datetime) -> None:
    def ctx(actor: str = "agent-1", hours: float = 0.0) -> CommandContext:
        nonlocal clock
        clock += timedelta(seconds=rng.uniform(60, hours * 3600 + 60))
        return CommandContext(actor=actor, tenant_id=tenant, occurred_at=clock)

    opened_with = rng.choice(PRIORITIES)
    result = svc.open_ticket(ctx("customer"), customer_id, subject="Help",
                             priority=opened_with, channel=rng.choice(CHANNELS),
                             assignee=rng.choice(("agent-1", "agent-2", None)))
    ticket_id = UUID(result.ids["ticket_id"])
    if rng.random() < 0.2:  # re-prioritised: the figures keep the priority at opening
        svc.change_ticket_priority(ctx(hours=1), ticket_id,
                                   rng.choice([p for p in PRIORITIES if p != opened_with]))
    if rng.random() < 0.3:
        svc.comment_on_ticket(ctx("customer", 5), ticket_id, "Any news?", author_type="customer")
    if rng.random() < 0.3:
        svc.comment_on_ticket(ctx("agent-2", 5), ticket_id, "internal", public=False)
    if rng.random() < 0.15:
        record_breach(svc.store, ticket_id, ctx(hours=2), "first_response")
    if rng.random() < 0.1:
        return  # never answered
    if rng.random() < 0.2:
        svc.assign_ticket(ctx(hours=1), ticket_id, rng.choice(("agent-3", "agent-4")))
    first = rng.random()
    if first < 0.5:
        svc.comment_on_ticket(ctx(hours=rng.choice((0.5, 6, 48, 120))), ticket_id, "On it")
    elif first < 0.75:
        svc.change_ticket_status(ctx(hours=rng.choice((0.5, 6, 48))), ticket_id, "pending")
    if rng.random() < 0.15:
        return  # answered, never resolved
    svc.change_ticket_status(ctx(hours=rng.choice((2, 20, 60, 200))), ticket_id, "resolved")
    if rng.random() < 0.3:
        svc.change_ticket_status(ctx(hours=24), ticket_id, "reopened")
        svc.change_ticket_status(ctx(hours=24), ticket_id, "resolved")
    if rng.random() < 0.1:
        record_breach(svc.store, ticket_id, ctx(), "resolution")
    if rng.random() < 0.6:
        svc.change_ticket_status(ctx(hours=48), ticket_id, "closed")


def write_data_set(svc: CommandService, catch_up: CatchUp) -> None:
    rng = random.Random(31337)
    for number in range(55):
        tenant = "acme" if number % 11 == 10 else "default"
        clock = EPOCH + timedelta(seconds=rng.uniform(0, 650 * 86400))
        customer = svc.register_customer(
            CommandContext(actor="rep-1", tenant_id=tenant, occurred_at=clock),
            NewCustomer(personal=CustomerPersonal(name=f"Customer {number}")))
        for _ in range(rng.randint(0, 4)):
            clock += timedelta(days=rng.uniform(1, 60))
            _ticket(svc, rng, UUID(customer.ids["customer_id"]), tenant, clock)
        if number % 10 == 9:
            catch_up()
    catch_up()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with built_world(tmp_path_factory.mktemp("service"), ServiceProjection, 29,
                     write_data_set) as built:
        yield built


# -- the recount ------------------------------------------------------------------------------

@dataclass
class TicketStory:
    tenant: str
    priority: str
    channel: str | None
    assignee: str | None
    opened_at: datetime
    first_response_s: float | None = None
    resolution_s: float | None = None
    breach_recorded: bool = False


def stories(store: ChronicleStore) -> list[TicketStory]:
    tickets: dict[UUID, TicketStory] = {}
    for event in all_events(store):
        if isinstance(event, TicketOpened):
            tickets[event.aggregate_id] = TicketStory(event.tenant_id, event.priority,
                                                      event.channel, event.assignee,
                                                      event.occurred_at)
            continue
        ticket = tickets.get(event.aggregate_id)
        if ticket is None:
            continue
        since = (event.occurred_at - ticket.opened_at).total_seconds()
        responds = (isinstance(event, TicketCommentAdded) and event.author_type == "agent"
                    and event.public) or \
            (isinstance(event, TicketStatusChanged) and event.to_status in ("pending", "resolved"))
        if responds and ticket.first_response_s is None:
            ticket.first_response_s = max(0.0, since)
        if isinstance(event, TicketStatusChanged) and event.to_status == "resolved" \
                and ticket.resolution_s is None:
            ticket.resolution_s = since
        if isinstance(event, TicketAssigned):
            ticket.assignee = event.to_assignee
        if isinstance(event, TicketSlaBreached):
            ticket.breach_recorded = True
    return list(tickets.values())


def figures(tickets: list[TicketStory], targets: dict[str, SlaTarget]) -> dict[str, Any]:
    def breached(t: TicketStory) -> bool:
        target = targets.get(t.priority)
        late_reply = target is not None and t.first_response_s is not None and \
            t.first_response_s > target.first_response_s
        late_fix = target is not None and t.resolution_s is not None and \
            t.resolution_s > target.resolution_s
        return t.breach_recorded or late_reply or late_fix

    responses = [t.first_response_s for t in tickets if t.first_response_s is not None]
    resolutions = [t.resolution_s for t in tickets if t.resolution_s is not None]
    return {
        "tickets": len(tickets), "responded": len(responses), "resolved": len(resolutions),
        "first_response_s": {f"p{int(q * 100)}": quantile_cont(responses, q)
                             for q in (0.5, 0.9, 0.99)},
        "resolution_s": {f"p{int(q * 100)}": quantile_cont(resolutions, q)
                         for q in (0.5, 0.9, 0.99)},
        "sla_breach_rate": sum(map(breached, tickets)) / len(tickets) if tickets else None,
    }


def recount(tickets: list[TicketStory], targets: dict[str, SlaTarget] | None = None
            ) -> dict[str, Any]:
    targets = dict(DEFAULT_SLA_TARGETS) if targets is None else targets
    return {
        "by_priority": [{"priority": p, **figures([t for t in tickets if t.priority == p],
                                                   targets)} for p in PRIORITIES],
        "overall": figures(tickets, targets),
    }


# -- tests ------------------------------------------------------------------------------------

def test_percentiles_and_breach_rates_match_a_recount_of_the_raw_events(world: World) -> None:
    tickets = [t for t in stories(world.store) if t.tenant == "default"]
    result = read_service(world.live, tenant_id="default")
    assert_close(result, recount(tickets))
    overall = result["overall"]
    assert overall["tickets"] > 80
    assert overall["responded"] < overall["tickets"] and overall["resolved"] < overall["responded"]
    assert 0 < overall["sla_breach_rate"] < 1


def test_a_recorded_breach_counts_even_when_every_target_is_met(world: World) -> None:
    tickets = list(stories(world.store))
    generous = {p: SlaTarget(1e9, 1e9) for p in PRIORITIES}
    result = read_service(world.live, sla_targets=generous)
    assert_close(result, recount(tickets, generous))
    recorded = sum(t.breach_recorded for t in tickets)
    assert recorded > 0
    assert result["overall"]["sla_breach_rate"] == pytest.approx(recorded / len(tickets))


def test_tight_targets_turn_slow_tickets_into_breaches(world: World) -> None:
    tickets = list(stories(world.store))
    tight = {"urgent": SlaTarget(600, 3600), "normal": SlaTarget(3600, 86400)}
    result = read_service(world.live, sla_targets=tight)
    assert_close(result, recount(tickets, tight))
    loose = read_service(world.live)
    assert result["by_priority"][0]["sla_breach_rate"] >= loose["by_priority"][0]["sla_breach_rate"]


def test_filters_select_tickets_by_opening_time_channel_assignee_and_tenant(
        world: World) -> None:
    tickets = list(stories(world.store))
    start, end = datetime(2024, 5, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    cases: list[tuple[dict[str, Any], list[TicketStory]]] = [
        ({}, tickets),
        ({"tenant_id": "acme"}, [t for t in tickets if t.tenant == "acme"]),
        ({"start": start, "end": end}, [t for t in tickets if start <= t.opened_at < end]),
        ({"channel": "chat"}, [t for t in tickets if t.channel == "chat"]),
        ({"assignee": "agent-3"}, [t for t in tickets if t.assignee == "agent-3"]),
    ]
    for filters, expected in cases:
        assert expected, filters
        assert_close(read_service(world.live, **filters), recount(expected), str(filters))


def test_the_data_set_has_re_prioritised_tickets_in_their_opening_group(world: World) -> None:
    changed = [e for e in all_events(world.store) if isinstance(e, TicketPriorityChanged)]
    assert len(changed) > 5  # and the recounts above group them by TicketOpened's priority
    rows = {r["id"]: r["priority"] for r in world.live.query(
        "SELECT id, priority FROM service_tickets")}
    opened = {str(e.aggregate_id): e.priority for e in all_events(world.store)
              if isinstance(e, TicketOpened)}
    assert rows == opened
    assert any(rows[str(e.aggregate_id)] != e.to_priority for e in changed)


def test_an_escalated_ticket_is_judged_by_the_priority_it_was_opened_with(
        tmp_path: Path, open_commands: Callable[[Settings], CommandService],
        closing: ExitStack) -> None:
    svc = open_commands(Settings(data_dir=tmp_path))
    store = svc.store

    def ctx(hours: float, actor: str = "agent-1") -> CommandContext:
        return CommandContext(actor=actor, tenant_id="default",
                              occurred_at=EPOCH + timedelta(hours=hours))

    customer = UUID(svc.register_customer(ctx(0), NewCustomer(
        personal=CustomerPersonal(name="Ada"))).ids["customer_id"])
    ticket = UUID(svc.open_ticket(ctx(1), customer, subject="Slow", priority="low")
                  .ids["ticket_id"])
    svc.change_ticket_priority(ctx(2), ticket, "urgent", reason="VIP")
    svc.comment_on_ticket(ctx(6), ticket, "Looking")  # 5 h: late for urgent, fine for low
    read = DuckReadStore(tmp_path / "s.duckdb")
    closing.callback(read.close)
    analytics_runner(ServiceProjection, read, store).catch_up(max_idle_polls=1, timeout_s=0)
    result = read_service(read)
    groups = {g["priority"]: g for g in result["by_priority"]}
    assert (groups["low"]["tickets"], groups["urgent"]["tickets"]) == (1, 0)
    assert groups["low"]["first_response_s"]["p50"] == 5 * 3600
    assert result["overall"]["sla_breach_rate"] == 0
    # the SLA rule's breach counts even so (recorded at the priority then in force)
    svc.record_sla_breach(ctx(30, "rule:sla"), ticket, sla="resolution",
                          target_seconds=8 * 3600, deadline=EPOCH + timedelta(hours=9),
                          raise_priority=False, reassign_to=None, alert=None)
    analytics_runner(ServiceProjection, read, store).catch_up(max_idle_polls=1, timeout_s=0)
    result = read_service(read)
    assert result["overall"]["sla_breach_rate"] == 1
    assert {g["priority"]: g["tickets"] for g in result["by_priority"]}["low"] == 1


def test_service_levels_keep_the_priority_a_ticket_was_opened_with() -> None:
    assert TicketPriorityChanged in ServiceProjection.ignored


def test_a_rebuild_into_a_fresh_duckdb_file_equals_the_live_read_model(world: World) -> None:
    assert [t.name for t in ServiceProjection.tables] == ["service_tickets"]
    assert_rebuild_equals_live(world, ServiceProjection, read_service)
