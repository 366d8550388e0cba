"""The embedded bus: projectors follow the event store's notification log."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from uuid import UUID

from services.command.domain.aggregate import CommandContext
from services.command.service import CommandService, Idempotency, NewCustomer
from services.common.events.customer import CustomerPersonal
from services.common.settings import Settings
from services.projections.runner import ProjectionRunner
from services.projections.sources import EventStoreSource
from services.projections.stores.sql import SqlReadStore
from tests.contract.projection_runner import TagCounts


def test_a_command_whose_last_event_is_internal_is_reached_by_its_position(
        tmp_path: Path, open_commands: Callable[[Settings], CommandService],
        closing: ExitStack) -> None:
    service = open_commands(Settings(data_dir=tmp_path))
    store = service.store
    ctx = CommandContext(actor="rep-1", tenant_id="default")
    customer = UUID(service.register_customer(
        ctx, NewCustomer(personal=CustomerPersonal(name="Ada"))).ids["customer_id"])
    tagged = service.tag_customer(ctx, customer, "vip", idempotency=Idempotency("k-1", "f"))
    assert store.recorder.max_notification_id() == tagged.position  # the idempotency record
    read_models = SqlReadStore(sqlite_path=tmp_path / "readmodels.sqlite")
    closing.callback(read_models.close)
    runner = ProjectionRunner(TagCounts(), read_models, EventStoreSource(store))
    runner.catch_up(max_idle_polls=1, timeout_s=0)
    status = runner.status()
    assert status["position"] == tagged.position and status["lag_events"] == 0
    assert read_models.dead_letter_counts() == {}
    assert read_models.query("SELECT tags FROM tag_counts") == [{"tags": 1}]


def test_a_save_wakes_a_waiting_source(
        tmp_path: Path, open_commands: Callable[[Settings], CommandService]) -> None:
    service = open_commands(Settings(data_dir=tmp_path))
    store = service.store
    source = EventStoreSource(store)
    store.saved_listeners.append(lambda _position: source.wake.set())
    ctx = CommandContext(actor="rep-1", tenant_id="default")
    service.register_customer(ctx, NewCustomer(personal=CustomerPersonal(name="Ada")))
    assert source.wake.is_set()
    assert [r.position for r in source.poll(10, timeout_s=0)] == [1]
