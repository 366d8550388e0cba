"""Domain rules on the aggregates themselves, with no HTTP and an in-memory store."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, ClassVar
from uuid import uuid4

import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from services.command.domain.aggregate import CommandContext
from services.command.domain.errors import RuleViolation
from services.command.domain.lead import Lead
from services.command.domain.pipeline import DEFAULT_RULES, Pipeline, TenantRules
from services.command.domain.ticket import Ticket
from services.common.event_store import open_event_store
from services.common.events.envelope import CrmEvent
from services.common.settings import Settings

CTX = CommandContext(actor="rep-1", tenant_id="default")


def new_lead(amount: str | None = "100.00") -> Lead:
    return Lead.create(uuid4(), CTX, customer_id=uuid4(), title="Deal", amount=amount,
                       currency="EUR" if amount else None, rules=DEFAULT_RULES)


def test_default_pipeline_moves() -> None:
    pipeline = Pipeline()
    assert pipeline.allowed_moves("new") == ["contacted", "lost"]
    assert pipeline.allowed_moves("proposal") == ["new", "contacted", "qualified", "negotiation",
                                                  "lost"]
    assert pipeline.allowed_moves("negotiation")[-2:] == ["won", "lost"]
    assert pipeline.allowed_moves("won") == [] and pipeline.allowed_moves("lost") == []


def test_a_pipeline_may_allow_a_skip() -> None:
    rules = TenantRules(pipeline=Pipeline(skips=frozenset({("new", "qualified")})))
    lead = new_lead()
    lead.change_stage(CTX, "qualified", rules=rules, budget_confirmed=True)
    assert lead.stage == "qualified"
    with pytest.raises(RuleViolation) as refused:
        new_lead().change_stage(CTX, "qualified", rules=DEFAULT_RULES, budget_confirmed=True)
    assert refused.value.rule == "transition_not_allowed"


def test_the_threshold_is_the_tenants() -> None:
    strict = TenantRules(discount_approval_threshold_percent=Decimal("2"))
    lead = new_lead()
    lead.request_discount(CTX, uuid4(), "5", None, strict)
    assert list(lead.discounts.values())[0].status == "pending"
    lenient = new_lead()
    lenient.request_discount(CTX, uuid4(), "5", None, DEFAULT_RULES)
    assert list(lenient.discounts.values())[0].status == "applied"


def test_a_refused_decision_leaves_no_pending_event() -> None:
    lead = new_lead()
    lead.collect_events()
    with pytest.raises(RuleViolation):
        lead.change_stage(CTX, "lost", rules=DEFAULT_RULES)
    assert lead.collect_events() == [] and lead.version == 1


def test_aggregates_rebuild_from_their_stored_events() -> None:
    store = open_event_store(Settings(memory_store=True))
    lead = new_lead()
    lead.change_stage(CTX, "contacted", rules=DEFAULT_RULES)
    lead.change_stage(CTX, "lost", rules=DEFAULT_RULES, reason="timing")
    store.save(*lead.collect_events())
    loaded: Lead = store.repository.get(lead.id, projector_func=Lead.project)
    assert (loaded.stage, loaded.version, loaded.amount) == ("lost", 4, "100.00")
    with pytest.raises(AggregateNotFoundError):
        store.repository.get(lead.id, projector_func=Ticket.project)


def test_the_domain_imports_no_web_framework_broker_or_database_driver() -> None:
    import ast
    from pathlib import Path

    forbidden = ("fastapi", "starlette", "kafka", "psycopg", "duckdb", "sqlite3", "uvicorn")
    domain = Path(__file__).resolve().parents[2] / "services" / "command" / "domain"
    for path in domain.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in forbidden, (path.name, name)


class NoteAddedV2(CrmEvent):
    """A test event whose v1 had `text`, renamed to `body` in v2."""

    event_type: ClassVar[str] = "crm.test.note_added"
    schema_version: ClassVar[int] = 2
    body: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["body"] = state.pop("text")


def test_old_versions_are_upcast_when_read() -> None:
    store = open_event_store(Settings(memory_store=True))
    envelope = {
        "event_id": str(uuid4()), "aggregate_id": str(uuid4()), "aggregate_version": 1,
        "customer_id": str(uuid4()), "tenant_id": "default", "actor": "rep-1",
        "occurred_at": "2026-01-01T00:00:00+00:00", "recorded_at": "2026-01-01T00:00:01+00:00",
        "correlation_id": str(uuid4()), "causation_id": None,
    }
    stored_v1 = StoredEvent(originator_id=uuid4(), originator_version=1,
                            topic=get_topic(NoteAddedV2),
                            state=json.dumps({**envelope, "text": "hello"}).encode())
    event = store.mapper.to_domain_event(stored_v1)
    assert isinstance(event, NoteAddedV2) and event.body == "hello"
    restored = store.mapper.to_domain_event(store.mapper.to_stored_event(event))
    assert restored == event


def test_the_readme_shows_the_ticket_status_machine_the_domain_enforces() -> None:
    import re
    from pathlib import Path

    from services.command.domain.ticket import ALLOWED_STATUS_MOVES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("| ticket status | may go to |", 1)[1].split("\n\n", 1)[0]
    documented: dict[str, tuple[str, ...]] = {}
    for line in table.splitlines():
        statuses = re.findall(r"`([a-z]+)`", line)
        if statuses:
            documented[statuses[0]] = tuple(statuses[1:])
    assert documented == ALLOWED_STATUS_MOVES
