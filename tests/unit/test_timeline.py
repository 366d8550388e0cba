"""The timeline read model: one row per customer-facing fact, no personal data, keyset pages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from services.command.domain.alert import alert_id_for
from services.command.service import AlertSpec
from services.common.events.alert import AlertAcknowledged
from services.common.times import iso
from services.projections.model import ConsumedEvent, fold
from services.projections.timeline.projection import KINDS, TimelineProjection
from services.projections.timeline.reads import read_timeline
from tests.unit.test_customer_360 import World, day, table_rows


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path)
    yield world
    world.close()


def _story(world: World) -> UUID:
    cid = world.customer(day(0), name="Ada Lovelace", email="ada@example.com",
                         company="Analytical Engines Ltd", tags=["vip"])
    lead = world.lead(cid, day(1), title="Difference engine upgrade", amount="12000.00")
    world.walk(lead, "qualified", day(2))
    world.interaction(cid, day(3), "call", "inbound", subject="Budget call",
                      body="Her private phone number is 555-0100")
    ticket = UUID(world.service.open_ticket(world.ctx(day(4)), cid, subject="Cannot log in",
                                            priority="high").ids["ticket_id"])
    world.service.comment_on_ticket(world.ctx(day(4, 1), "agent-1"), ticket, "Secret reply body")
    world.purchase(cid, day(5), "99.90")
    world.service.tag_customer(world.ctx(day(6)), cid, "newsletter")
    return cid


def test_every_customer_facing_fact_is_one_row_with_a_readable_summary(world: World) -> None:
    store = world.sqlite()
    cid = _story(world)
    world.project(TimelineProjection(), store)
    items, cursor = read_timeline(store, str(cid), vault=world.events.vault, limit=100)
    assert cursor is None
    summaries = [item["summary"] for item in reversed(items)]
    assert summaries == [
        "Customer registered (Analytical Engines Ltd)",
        "Lead 'Difference engine upgrade' created (12000.00 EUR)",
        "Lead 'Difference engine upgrade' moved new → contacted",
        "Lead 'Difference engine upgrade' moved contacted → qualified",
        "Inbound call: Budget call",
        "Ticket 'Cannot log in' opened (high)",
        "First response on ticket 'Cannot log in' after 1.0 h",
        "Agent comment on ticket 'Cannot log in'",
        "Purchase of 99.90 EUR",
        "Tagged 'newsletter'",
    ]
    assert [item["kind"] for item in reversed(items)] == [
        "profile", "lead", "lead", "lead", "interaction", "ticket", "ticket", "ticket",
        "purchase", "tag"]
    newest = items[0]
    assert set(newest) == {"event_id", "customer_id", "tenant_id", "position", "occurred_at",
                           "recorded_at", "kind", "type", "actor", "aggregate_id", "summary",
                           "data"}
    assert (newest["type"], newest["actor"], newest["data"]) == \
        ("crm.customer.tagged", "rep-1", {"tag": "newsletter"})
    assert newest["occurred_at"] == iso(day(6))
    # no row for the five record links the commands stored
    assert store.query("SELECT COUNT(*) AS n FROM timeline")[0]["n"] == 10


def test_rows_hold_no_personal_data(world: World) -> None:
    store = world.sqlite()
    _story(world)
    world.project(TimelineProjection(), store)
    dumped = json.dumps(store.query("SELECT * FROM timeline"))
    for secret in ("Ada", "ada@example.com", "555-0100", "Secret reply body",
                   "Budget call", "Cannot log in"):  # subjects are personal too: sealed
        assert secret not in dumped


def test_pages_walk_newest_first_without_gaps_or_repeats(world: World) -> None:
    store = world.sqlite()
    cid = world.customer(day(0))
    for n in range(1, 12):
        world.interaction(cid, day(n), subject=f"touch {n}")
    world.interaction(cid, day(5), subject="same time, recorded later")  # a tie on occurred_at
    world.interaction(cid, day(0.5), subject="back-dated")
    world.project(TimelineProjection(), store)

    pages, cursor = [], None
    while True:
        items, cursor = read_timeline(store, str(cid), vault=world.events.vault, limit=4, before=cursor)
        pages.append(items)
        if cursor is None:
            break
    seen = [item for page in pages for item in page]
    assert [len(page) for page in pages] == [4, 4, 4, 2]
    keys = [(item["occurred_at"], item["position"]) for item in seen]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == 14
    subjects = [item["summary"] for item in seen]
    assert subjects.index("Outbound call: same time, recorded later") < \
        subjects.index("Outbound call: touch 5")
    assert subjects[-2:] == ["Outbound call: back-dated", "Customer registered"]

    calls, _ = read_timeline(store, str(cid), vault=world.events.vault, limit=50, kinds=["interaction"])
    assert len(calls) == 13 and {item["kind"] for item in calls} == {"interaction"}
    assert read_timeline(store, str(cid), vault=world.events.vault, limit=5, kinds=[]) == ([], None)
    assert read_timeline(store, "nobody", vault=world.events.vault, limit=5) == ([], None)


def _rules_story(world: World) -> UUID:
    """What the rules record (actor `rule:<id>`), the alerts they raise, and people's answers."""
    svc = world.service
    cid = world.customer(day(0), name="Ada Lovelace", company="Analytical Engines Ltd")
    lead = world.lead(cid, day(1), title="Difference engine upgrade")
    svc.assign_lead(world.ctx(day(1, 1), "rule:round-robin"), lead, "maria")
    discount = UUID(svc.request_discount(world.ctx(day(2)), lead, "15").ids["discount_id"])
    approval = alert_id_for(f"approval:{discount}")
    svc.request_discount_approval(
        world.ctx(day(2, 1), "rule:discounts"), lead, discount, "maria",
        AlertSpec(approval, "discount_approval", ["maria"], "Discount 15% waits for maria"))
    follow_up = alert_id_for(f"follow-up:{lead}")
    svc.mark_follow_up_overdue(
        world.ctx(day(10), "rule:follow-up"), lead, manager="boss", days_without_contact=8,
        repeat=False, alert=AlertSpec(follow_up, "follow_up_overdue", ["maria", "boss"],
                                      "No contact for 8 days"))
    svc.mark_follow_up_overdue(world.ctx(day(17), "rule:follow-up"), lead, manager="boss",
                               days_without_contact=15, repeat=True, alert=None)
    ticket = UUID(svc.open_ticket(world.ctx(day(11)), cid, subject="Cannot log in",
                                  priority="normal").ids["ticket_id"])
    svc.change_ticket_priority(world.ctx(day(11, 1), "agent-1"), ticket, "low")
    breach = alert_id_for(f"sla:{ticket}")
    svc.record_sla_breach(
        world.ctx(day(12), "rule:sla"), ticket, sla="first_response", target_seconds=4 * 3600,
        deadline=day(11, 4), raise_priority=True, reassign_to="agent-2",
        alert=AlertSpec(breach, "sla_breached", ["agent-2"], "First response is late"))
    svc.acknowledge_alert(world.ctx(day(12, 1), "agent-2"), breach, note="on it")
    svc.resolve_alert(world.ctx(day(13), "maria"), follow_up)
    svc.resolve_alert(world.ctx(day(13, 1), "rule:discounts"), approval)
    svc.mark_customer_dormant(world.ctx(day(120), "rule:lifecycle"), cid,
                              last_activity_at=day(13), dormant_after_days=90)
    return cid


def test_rule_decisions_alerts_priority_and_dormancy_read_naturally(world: World) -> None:
    store = world.sqlite()
    cid = _rules_story(world)
    world.project(TimelineProjection(), store)
    items, _ = read_timeline(store, str(cid), vault=world.events.vault, limit=100)
    entries = [(item["kind"], item["summary"]) for item in reversed(items)]
    assert entries == [
        ("profile", "Customer registered (Analytical Engines Ltd)"),
        ("lead", "Lead 'Difference engine upgrade' created (100.00 EUR)"),
        ("lead", "Lead 'Difference engine upgrade' assigned to maria by rule 'round-robin'"),
        ("lead", "Discount of 15% requested on lead 'Difference engine upgrade' "
                 "(needs approval)"),
        ("lead", "Discount 15% on lead 'Difference engine upgrade' sent to maria for approval "
                 "by rule 'discounts'"),
        ("alert", "Alert raised by rule 'discounts' for maria: discount approval on lead "
                  "'Difference engine upgrade'"),
        ("lead", "Lead 'Difference engine upgrade' without contact for 8 days, flagged by "
                 "rule 'follow-up'"),
        ("alert", "Alert raised by rule 'follow-up' for maria, boss: follow-up overdue on lead "
                  "'Difference engine upgrade'"),
        ("ticket", "Ticket 'Cannot log in' opened (normal)"),
        ("ticket", "Ticket 'Cannot log in' priority lowered normal → low"),
        ("ticket", "Ticket 'Cannot log in' breached its first-response SLA (low priority, 4 h), "
                   "flagged by rule 'sla'"),
        ("ticket", "Ticket 'Cannot log in' priority raised low → normal (first_response SLA "
                   "breached) by rule 'sla'"),
        ("ticket", "Ticket 'Cannot log in' assigned to agent-2 by rule 'sla'"),
        ("alert", "Alert raised by rule 'sla' for agent-2: SLA breached on ticket "
                  "'Cannot log in'"),
        ("alert", "Alert acknowledged by agent-2: SLA breached on ticket 'Cannot log in'"),
        ("alert", "Alert resolved by maria: follow-up overdue on lead "
                  "'Difference engine upgrade'"),
        ("alert", "Alert resolved by rule 'discounts': discount approval on lead "
                  "'Difference engine upgrade'"),
        ("lead", "Lead 'Difference engine upgrade' still without contact after 15 days, "
                 "flagged by rule 'follow-up'"),
        ("lifecycle", "Customer became dormant: no purchase or interaction since 2024-01-14 "
                      "(90 days), flagged by rule 'lifecycle'"),
    ]
    # CustomerAlertLinked is bookkeeping, like CustomerRecordLinked: no row of its own
    assert "crm.customer.alert_linked" not in {item["type"] for item in items}
    alerts, _ = read_timeline(store, str(cid), vault=world.events.vault, limit=100, kinds=["alert"])
    assert len(alerts) == 6 and {"alert", "lifecycle"} <= set(KINDS)
    raised = next(item for item in alerts if item["type"] == "crm.alert.raised"
                  and item["data"]["kind"] == "sla_breached")
    assert (raised["actor"], raised["data"]["assignees"]) == ("rule:sla", ["agent-2"])
    dumped = json.dumps(store.query("SELECT * FROM timeline"))
    assert "Ada" not in dumped


def test_an_alert_closed_without_its_raise_in_view_still_reads() -> None:
    cid, alert = uuid4(), uuid4()
    ack = AlertAcknowledged(
        event_id=uuid4(), aggregate_id=alert, aggregate_version=2, customer_id=cid,
        tenant_id="default", actor="maria", occurred_at=day(1), recorded_at=day(1),
        correlation_id=uuid4(), subject_kind="ticket", subject_id=uuid4(), by="maria")
    rows = fold(TimelineProjection(), [ConsumedEvent(0, 1, 1, ack)])
    assert [row["summary"] for row in rows.all("timeline")] == \
        ["Alert on ticket acknowledged by maria"]


def test_rebuilding_from_scratch_gives_identical_rows(world: World) -> None:
    live = world.sqlite("live")
    runner = world.runner(TimelineProjection(), live)
    cid = _story(world)
    runner.catch_up(max_idle_polls=1, timeout_s=0)
    _rules_story(world)
    runner.catch_up(max_idle_polls=1, timeout_s=0)
    world.interaction(cid, day(1), subject="late")
    runner.catch_up(max_idle_polls=1, timeout_s=0)
    rebuilt = world.sqlite("rebuilt")
    world.project(TimelineProjection(), rebuilt)
    # Sealed values differ byte for byte (a fresh nonce each time); everything else is the
    # same, and so is what a reader sees.
    for table in ("timeline", "timeline_records"):
        assert [{**row, "sealed": None} for row in table_rows(rebuilt, table)] == \
            [{**row, "sealed": None} for row in table_rows(live, table)]
    assert read_timeline(rebuilt, str(cid), limit=100, vault=world.events.vault) == \
        read_timeline(live, str(cid), limit=100, vault=world.events.vault)
