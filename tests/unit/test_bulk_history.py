"""The bulk history generator: a believable, rule-abiding history, saved in large batches."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import pytest

from services.command.domain.aggregate import AggregateRoot
from services.command.domain.customer import Customer
from services.command.domain.interaction import Interaction
from services.command.domain.lead import Lead
from services.command.domain.purchase import Purchase
from services.command.domain.ticket import Ticket
from services.common.event_store import ChronicleStore
from services.common.events.envelope import CrmEvent
from services.demo.history import generate_history
from services.demo.summary import BulkSummary

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
CUSTOMERS = 60
RECORD_KINDS = {"LeadCreated": "lead", "InteractionLogged": "interaction",
                "TicketOpened": "ticket", "PurchaseRecorded": "purchase"}
AGGREGATE_OF: dict[str, type[AggregateRoot]] = {
    "CustomerRegistered": Customer, "LeadCreated": Lead, "InteractionLogged": Interaction,
    "TicketOpened": Ticket, "PurchaseRecorded": Purchase,
}


def _store(path: Path) -> ChronicleStore:
    return ChronicleStore(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                               "SQLITE_DBNAME": str(path)})


def _all_events(store: ChronicleStore) -> list[CrmEvent]:
    notifications = store.recorder.select_notifications(start=1, limit=1_000_000)
    return [cast(CrmEvent, store.mapper.to_domain_event(n)) for n in notifications]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[ChronicleStore, BulkSummary,
                                                                 list[CrmEvent]]:
    store = _store(tmp_path_factory.mktemp("bulk") / "events.sqlite")
    progress: list[tuple[int, int]] = []
    summary = generate_history(store, customers=CUSTOMERS, seed=11, now=NOW, batch_customers=25,
                               on_progress=lambda c, e: progress.append((c, e)))
    assert progress[-1] == (CUSTOMERS, summary.events)
    return store, summary, _all_events(store)


def test_every_story_is_saved_in_one_transaction_per_batch(generated: Any) -> None:
    store, summary, events = generated
    assert summary.customers == CUSTOMERS
    assert summary.saves == 3  # 60 customers, 25 per batch
    assert len(events) == summary.events == summary.last_position
    assert 6 <= summary.events_per_customer <= 20


def test_the_history_has_every_kind_of_fact(generated: Any) -> None:
    _, _, events = generated
    kinds = {type(e).__name__ for e in events}
    assert {"CustomerRegistered", "CustomerRecordLinked", "LeadCreated", "LeadStageChanged",
            "LeadWon", "LeadLost", "PaymentReceived", "DiscountRequested", "InteractionLogged",
            "PurchaseRecorded", "TicketOpened", "TicketFirstResponded",
            "TicketStatusChanged"} <= kinds
    moves = [(e.from_stage, e.to_stage) for e in events if type(e).__name__ == "LeadStageChanged"]
    order = ["new", "contacted", "qualified", "proposal", "negotiation"]
    assert any(b in order and order.index(b) < order.index(a) for a, b in moves), \
        "some lead went back a stage"
    buyers: dict[UUID, int] = defaultdict(int)
    for e in events:
        if type(e).__name__ == "PurchaseRecorded":
            buyers[e.customer_id] += 1
    assert any(n >= 2 for n in buyers.values()), "some customer bought again"


def test_every_record_is_linked_to_its_customer(generated: Any) -> None:
    _, _, events = generated
    links = {(e.customer_id, e.kind, e.record_id) for e in events
             if type(e).__name__ == "CustomerRecordLinked"}
    records = [(e.customer_id, RECORD_KINDS[type(e).__name__], e.aggregate_id) for e in events
               if type(e).__name__ in RECORD_KINDS]
    assert records
    assert set(records) == links


def test_aggregates_reload_from_the_store_at_their_stored_versions(generated: Any) -> None:
    store, _, events = generated
    latest: dict[UUID, int] = {}
    kind_of: dict[UUID, type[AggregateRoot]] = {}
    for e in events:
        assert e.aggregate_version == latest.get(e.aggregate_id, 0) + 1, "versions in store order"
        latest[e.aggregate_id] = e.aggregate_version
        if e.aggregate_version == 1:
            kind_of[e.aggregate_id] = AGGREGATE_OF[type(e).__name__]
    for aggregate_id, version in latest.items():
        cls = kind_of[aggregate_id]
        loaded = store.repository.get(aggregate_id, projector_func=cls.project)
        assert type(loaded) is cls and loaded.version == version


def test_business_times_lie_in_the_window(generated: Any) -> None:
    _, _, events = generated
    start = NOW - timedelta(days=365.25 * 2)
    assert all(start <= e.occurred_at <= NOW for e in events)
    first, last = min(e.occurred_at for e in events), max(e.occurred_at for e in events)
    assert last - first > timedelta(days=365), "spread over the window, not bunched"


def test_same_seed_and_now_give_the_same_history(tmp_path: Path) -> None:
    runs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        store = _store(tmp_path / f"{name}.sqlite")
        generate_history(store, customers=20, seed=seed, now=NOW, batch_customers=7)
        runs.append([(type(e).__name__, e.aggregate_id, e.occurred_at)
                     for e in _all_events(store)])
    assert runs[0] == runs[1]
    assert [t for t, _, _ in runs[0]] != [t for t, _, _ in runs[2]]
