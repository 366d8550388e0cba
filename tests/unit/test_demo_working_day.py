"""The demo's working day: open work at `now` that the policies act on, and the rules (approver
tiers, managers, follow-up windows) that make them act."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from services.command.domain.configuration import configuration_id
from services.common.event_store import ChronicleStore
from services.common.events.envelope import CrmEvent
from services.common.events.lead import DiscountRequested
from services.common.events.task import TaskCreated
from services.demo.history import OPEN_PATH, generate_history
from services.demo.names import MANAGERS
from services.demo.working_day import DEMO_RULES, DEMO_RULES_TOML

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
FIRST_RESPONSE = {"urgent": timedelta(hours=1), "high": timedelta(hours=4),
                  "normal": timedelta(hours=24), "low": timedelta(hours=72)}


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[CrmEvent]:
    store = ChronicleStore(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(
        tmp_path_factory.mktemp("day") / "events.sqlite")})
    generate_history(store, customers=24, now=NOW, working_day=True, rules_toml=DEMO_RULES_TOML)
    found = [cast(CrmEvent, store.mapper.to_domain_event(n))
             for n in store.recorder.select_notifications(start=1, limit=100_000)]
    store.close()
    return found


def _by_aggregate(events: list[CrmEvent], first: str) -> dict[Any, list[CrmEvent]]:
    started = {e.aggregate_id for e in events if type(e).__name__ == first}
    out: dict[Any, list[CrmEvent]] = {}
    for event in events:
        if event.aggregate_id in started:
            out.setdefault(event.aggregate_id, []).append(event)
    return out


def test_the_rules_with_approver_tiers_come_first(events: list[CrmEvent]) -> None:
    first = events[0]
    assert type(first).__name__ == "TenantRulesChanged"
    assert first.aggregate_id == configuration_id("default")
    assert [tier.approver for tier in DEMO_RULES.discount.approvers] == MANAGERS
    assert DEMO_RULES.org.managers  # overdue follow-ups name a manager


def test_open_leads_in_every_stage_some_untouched_past_their_window(
        events: list[CrmEvent]) -> None:
    stages: Counter[str] = Counter()
    stale = 0
    for history in _by_aggregate(events, "LeadCreated").values():
        kinds = [type(e).__name__ for e in history]
        if "LeadWon" in kinds or "LeadLost" in kinds:
            continue
        stage = history[0].stage  # type: ignore[attr-defined]
        for event in history:
            stage = getattr(event, "to_stage", stage)
        stages[stage] += 1
        touched = max(e.occurred_at for e in events if getattr(e, "lead_id", None)
                      == history[0].aggregate_id or e.aggregate_id == history[0].aggregate_id)
        stale += NOW - touched > timedelta(days=7)
    assert set(stages) == set(OPEN_PATH), stages
    assert stale >= 2


def test_discounts_wait_for_the_approver_of_their_tier(events: list[CrmEvent]) -> None:
    pending = 0
    for history in _by_aggregate(events, "LeadCreated").values():
        decided = {e.discount_id for e in history  # type: ignore[attr-defined]
                   if type(e).__name__ in ("DiscountApproved", "DiscountRejected")}
        for event in history:
            if isinstance(event, DiscountRequested) and event.requires_approval \
                    and event.discount_id not in decided:
                assert Decimal(event.percent) > Decimal("10")
                pending += 1
    assert pending >= 1


def test_open_tickets_some_past_their_first_response_target(events: list[CrmEvent]) -> None:
    open_tickets = breached = 0
    for history in _by_aggregate(events, "TicketOpened").values():
        statuses = [getattr(e, "to_status", None) for e in history]
        if "closed" in statuses or "resolved" in statuses[-1:]:
            continue
        open_tickets += 1
        answered = any(type(e).__name__ == "TicketCommentAdded" for e in history)
        priority = history[0].priority  # type: ignore[attr-defined]
        breached += not answered and NOW - history[0].occurred_at > FIRST_RESPONSE[priority]
    assert open_tickets >= 3 and breached >= 1


def test_tasks_due_soon_and_overdue_filed_beside_their_customers(
        events: list[CrmEvent]) -> None:
    created = [e for e in events if isinstance(e, TaskCreated)]
    filed = {e.record_id for e in events  # type: ignore[attr-defined]
             if type(e).__name__ == "CustomerRecordFiled"}
    assert created and all(task.aggregate_id in filed for task in created)
    assert any(task.due_at < NOW for task in created)  # overdue: the rule raises alerts
    assert any(task.due_at > NOW for task in created)  # still to do today or tomorrow
    assert all(task.due_at > task.occurred_at for task in created)


def test_without_a_working_day_nothing_changes(tmp_path: Path) -> None:
    store = ChronicleStore(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                "SQLITE_DBNAME": str(tmp_path / "events.sqlite")})
    summary = generate_history(store, customers=5, now=NOW)
    kinds = {n.topic.rsplit(":", 1)[-1] for n in store.recorder.select_notifications(1, 10_000)}
    store.close()
    assert summary.customers == 5 and "TenantRulesChanged" not in kinds
