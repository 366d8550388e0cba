"""The whole pipeline on real parts: commands → event store → relay → Kafka → projectors →
read models in PostgreSQL and DuckDB, through a relay crash and a paused broker."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from services.command.domain.aggregate import CommandContext
from services.command.relay import Relay
from services.command.service import CommandService, NewCustomer
from services.common.event_store import EventLog
from services.common.events.customer import CustomerPersonal
from services.common.settings import Settings
from services.projections.customer_360.reads import read_customer_360
from services.projections.host import ProjectorHost
from tests.harness.services import start_local_kafka
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


class CrashOnceBeforeRecording(Relay):
    """Dies once after the broker acknowledged a batch, before recording the position."""

    crashed = False

    def _record_position(self, position: int) -> None:
        if not self.crashed:
            self.crashed = True
            raise ConnectionError("relay killed before recording")
        super()._record_position(position)


CATCH_UP_S = 90.0


def run_in_a_thread(relay: Relay, closing: ExitStack) -> None:
    """Run `relay` as `crm relay` does (it backs off and retries on its own) until the test
    ends; then stop it and close it."""
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_until_stopped, args=(stop,), name="relay",
                              daemon=True)

    def stopped() -> None:
        stop.set()
        thread.join(timeout=15)
        relay.close()
        assert not thread.is_alive(), "the relay thread did not stop"

    thread.start()
    closing.callback(stopped)


def write_history(service: CommandService, customers: int) -> list[UUID]:
    ctx = CommandContext(actor="rep-1", tenant_id="default")
    ids = []
    for n in range(customers):
        customer = UUID(service.register_customer(ctx, NewCustomer(
            personal=CustomerPersonal(name=f"Customer {n}"), region="EMEA")).ids["customer_id"])
        lead = UUID(service.create_lead(ctx, customer_id=customer, new_customer=None,
                                        title="Deal", amount="100.00", currency="EUR",
                                        source="web").ids["lead_id"])
        service.change_lead_stage(ctx, lead, "contacted")
        service.record_purchase(ctx, customer, amount="10.00", currency="EUR")
        service.log_interaction(ctx, customer, channel="call", direction="inbound")
        ids.append(customer)
    return ids


def test_relay_crash_and_paused_broker_lose_nothing_and_apply_nothing_twice(
    tmp_path: Path, postgres_url: str, fresh_postgres_schema: str, closing: ExitStack,
    open_commands: Callable[[Settings], CommandService],
) -> None:
    broker = closing.enter_context(start_local_kafka())  # our own: the test pauses it
    settings = Settings(
        data_dir=tmp_path, postgres_url=postgres_url, postgres_schema=fresh_postgres_schema,
        kafka_bootstrap=broker.bootstrap, kafka_topic=f"crm.events.{uuid4().hex[:8]}",
        projector_session_timeout_ms=6000)
    service = open_commands(settings)
    store = service.store
    first = write_history(service, 6)

    crashing = CrashOnceBeforeRecording(store, settings)
    closing.callback(crashing.close)
    with pytest.raises(ConnectionError):
        crashing.publish_pending()  # published everything, recorded nothing
    crashing.close()  # the process is gone
    relay = Relay(store, settings, producer_config={
        "request_timeout_ms": 2000, "delivery_timeout_ms": 4000, "max_block_ms": 2000})
    closing.callback(relay.close)
    relay.publish_pending()  # publishes everything a second time
    names = ["customer_360", "timeline", "funnel", "retention"]
    host = ProjectorHost(settings, names, event_store=store)
    closing.callback(host.stop)
    runners = list(host.runners.values())
    host.start()  # each projector in its own thread, as in `crm project`
    head = store.recorder.max_notification_id()
    eventually(lambda: all(r.has_reached(head, relay.published_through()) for r in runners),
               CATCH_UP_S, lambda: f"the first catch-up to {head}: relay "
               f"{relay.published_through()}, projectors {[r.status() for r in runners]}",
               interval_s=0.2)
    assert all(r.stats.skipped > 0 for r in runners)  # the duplicates were seen, not applied

    run_in_a_thread(relay, closing)
    os.kill(broker.process.pid, signal.SIGSTOP)  # the broker stops answering
    try:
        more = write_history(service, 4)  # commands are still accepted
        # The relay tries to publish them and fails: it reports the error until it succeeds.
        eventually(lambda: relay.status()["last_error"], 60,
                   lambda: f"the relay never met the outage: {relay.status()}")
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)
    eventually(lambda: relay.position() == store.recorder.max_notification_id(), CATCH_UP_S,
               lambda: f"the relay caught up after the pause: {relay.status()}", interval_s=0.2)
    head = store.recorder.max_notification_id()
    eventually(lambda: all(r.has_reached(head, relay.published_through()) for r in runners),
               CATCH_UP_S, lambda: f"the second catch-up to {head}: "
               f"{[r.status() for r in runners]}", interval_s=0.2)
    assert relay.status()["last_error"] is None  # published since: healthy again

    log = EventLog(store)
    assert host.sql_store is not None and host.analytics_store is not None
    for customer in first + more:
        own = log.events_of([customer])
        linked = [e.event.record_id for e in own if hasattr(e.event, "record_id")]
        published = [e for e in own + log.events_of(linked) if not type(e.event).internal]
        rows = host.sql_store.query("SELECT COUNT(*) AS n FROM timeline WHERE customer_id = ?",
                                    [str(customer)])
        linking = sum(1 for e in published if e.event.event_type == "crm.customer.record_linked")
        assert rows[0]["n"] == len(published) - linking  # every fact once
        document = read_customer_360(host.sql_store, str(customer))
        assert document is not None
        assert document["purchases"]["count"] == 1 and len(document["leads"]) == 1
        assert document["interactions"]["count"] == 1
    funnel_leads = host.analytics_store.query("SELECT COUNT(*) AS n FROM funnel_leads")
    assert funnel_leads[0]["n"] == 10
    purchases = host.analytics_store.query(
        "SELECT COUNT(*) AS n FROM retention_activity WHERE kind = 'purchase'")
    assert purchases[0]["n"] == 10
    assert all(s["dead_letters"] == 0 for s in host.statuses())


def test_a_rebuild_from_the_event_store_hands_over_to_the_live_topic_projectors(
    tmp_path: Path, postgres_url: str, fresh_postgres_schema: str, kafka_bootstrap: str,
    closing: ExitStack, open_commands: Callable[[Settings], CommandService],
) -> None:
    from services.projections.host import open_sql_store
    from services.projections.rebuild import rebuild_many
    from services.projections.registry import build

    settings = Settings(
        data_dir=tmp_path, postgres_url=postgres_url, postgres_schema=fresh_postgres_schema,
        kafka_bootstrap=kafka_bootstrap, kafka_topic=f"crm.events.{uuid4().hex[:8]}",
        projector_session_timeout_ms=6000)
    service = open_commands(settings)
    store = service.store
    customers = write_history(service, 4)
    relay = Relay(store, settings)
    closing.callback(relay.close)
    relay.publish_pending()
    host = ProjectorHost(settings, ["timeline"], event_store=store)
    closing.callback(host.stop)
    live = host.runners["timeline"]
    host.start()
    eventually(lambda: live.has_reached(relay.position(), relay.published_through()),
               CATCH_UP_S, lambda: f"the live projector caught up: {live.status()}",
               interval_s=0.2)
    assert host.sql_store is not None

    def timeline_rows() -> int:
        assert host.sql_store is not None
        return int(host.sql_store.query("SELECT COUNT(*) AS n FROM timeline")[0]["n"])

    before = timeline_rows()
    rebuild_store = open_sql_store(settings)
    closing.callback(rebuild_store.close)
    [result] = rebuild_many([(build("timeline", settings), rebuild_store)], settings,
                            source="store", event_store=store)
    assert (result.generation, result.previous_generation) == (2, 1)
    assert timeline_rows() == before  # the rebuilt generation serves the same rows

    customers += write_history(service, 2)
    relay.publish_pending()
    eventually(lambda: live.generation == 2
               and live.has_reached(relay.position(), relay.published_through()), CATCH_UP_S,
               lambda: f"the live projector on generation 2 caught up: {live.status()}",
               interval_s=0.2)
    log = EventLog(store)
    expected = 0
    for customer in customers:
        own = log.events_of([customer])
        linked = [e.event.record_id for e in own if hasattr(e.event, "record_id")]
        expected += sum(1 for e in own + log.events_of(linked) if not type(e.event).internal
                        and e.event.event_type != "crm.customer.record_linked")
    assert timeline_rows() == expected  # nothing applied twice after the hand-over
