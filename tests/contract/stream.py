"""The live event stream, GET /v1/stream, over real HTTP, written once and run against each
composition (embedded SQLite; PostgreSQL + Kafka with the relay).

The app is composed as `crm serve` composes it and served by the server `crm serve` runs, in a
thread; streams are read over a socket a block at a time, every read bounded by a deadline
(tests/harness/sse.py). Writes go through the command API. Each test works in a tenant of its
own. "Nothing else arrived" is never a timed silence: a stream's heartbeat carries the position
it has covered (`id:`), so a test reads until its stream has covered the last write and then
compares exactly.

Subclasses provide a class-scoped `settings` fixture and `published_value(position)`: the
message the topic holds for a position (on SQLite, where there is no topic, the stored event).
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from services.bootstrap import Chronicle, Parts
from services.command.domain.aggregate import CommandContext
from services.command.service import CommandService, NewCustomer
from services.common.cloudevents import decode
from services.common.event_store import ChronicleStore, open_event_store
from services.common.events.customer import CustomerPersonal, CustomerRegistered
from services.common.settings import Settings
from services.projections.registry import NAMES
from services.query.read_models import ReadModels
from tests.errors import error_shaped
from tests.harness.auth import Keys, keys_of
from tests.harness.sse import Block, LiveServer, SseClient, serving
from tests.waiting import eventually

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 120.0
"""Bounded wait for the projectors' first catch-up (consumer-group joins on Kafka)."""
WAIT_S = 30.0
"""Bounded wait for one expected block of a stream."""
HEARTBEAT_S = 0.3
MAX_PER_PRINCIPAL = 3


def stream_settings(**overrides: Any) -> dict[str, Any]:
    """What every backend's settings add for these tests: quick heartbeats, a small bound."""
    return {"stream_heartbeat_s": HEARTBEAT_S, "stream_max_per_principal": MAX_PER_PRINCIPAL,
            "read_wait_timeout_s": 10.0, **overrides}


@dataclass
class Served:
    live: LiveServer
    crm: Chronicle
    keys: Keys
    http: httpx.Client

    @property
    def store(self) -> ChronicleStore:
        assert self.crm.store is not None
        return self.crm.store

    @property
    def reads(self) -> ReadModels:
        return self.crm.reads


class Tenant:
    """One test's tenant: writes through the command API as its callers."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.id = f"s-{uuid4().hex[:10]}"

    def auth(self, subject: str = "boss", roles: tuple[str, ...] = ("admin",),
             scopes: tuple[str, ...] = ()) -> dict[str, str]:
        return self.served.keys.headers(self.id, subject, roles, scopes)

    def post(self, path: str, body: Any = None, subject: str = "boss",
             roles: tuple[str, ...] = ("admin",)) -> dict[str, Any]:
        response = self.served.http.post(path, json=body, headers=self.auth(subject, roles))
        assert response.status_code in (200, 201), response.text
        answer: dict[str, Any] = response.json()
        return answer

    def customer(self, name: str = "Ada Lovelace", subject: str = "boss",
                 roles: tuple[str, ...] = ("admin",), **fields: Any) -> tuple[str, int]:
        answer = self.post("/v1/customers", {"personal": {
            "name": name, "email": f"{name.split()[0].lower()}@example.com",
            "phone": "+44 20 7946 0000"}, **fields}, subject, roles)
        return str(answer["customer_id"]), int(answer["position"])

    def tag(self, customer_id: str, tag: str, subject: str = "boss",
            roles: tuple[str, ...] = ("admin",)) -> int:
        return int(self.post(f"/v1/customers/{customer_id}/tags", {"tag": tag}, subject,
                             roles)["position"])

    def stream(self, params: Any = None, headers: dict[str, str] | None = None,
               subject: str = "boss", roles: tuple[str, ...] = ("admin",),
               scopes: tuple[str, ...] = ()) -> SseClient:
        return SseClient(self.served.live.url, params=params,
                         headers={**self.auth(subject, roles, scopes), **(headers or {})})

    def published(self, after: int) -> list[int]:
        """Positions of this tenant's published events after `after`, from the store itself."""
        return [event.position for event in published_events(self.served.store, after)
                if event.tenant_id == self.id]


def published_events(store: ChronicleStore, after: int) -> list[Any]:
    from services.query.stream import read_published

    found = []
    while True:
        events, last, read = read_published(store, after)
        found += events
        if read == 0:
            return found
        after = last


def opened(client: SseClient) -> SseClient:
    assert client.status == 200, client.json()
    assert client.headers["content-type"].startswith("text/event-stream")
    preamble = client.next_block(WAIT_S)
    assert preamble.retry is not None and preamble.id is not None, preamble
    return client


def read_until_covered(client: SseClient, position: int, timeout_s: float = WAIT_S
                       ) -> list[Block]:
    """The events a stream sends until it has covered `position` (an event at or past it,
    or a heartbeat's `id:` at or past it): everything it will ever send up to there."""
    deadline = time.monotonic() + timeout_s
    events: list[Block] = []
    covered = -1
    while covered < position:
        remaining = deadline - time.monotonic()
        assert remaining > 0, (f"the stream did not cover position {position} within "
                               f"{timeout_s:g} s (covered {covered}; events {len(events)})")
        block = client.next_block(remaining)
        if block.id is not None:
            covered = block.id
        if block.data is not None:
            events.append(block)
    return events


def positions(blocks: list[Block]) -> list[int]:
    return [block.id for block in blocks if block.id is not None]


def subscriber_example() -> ModuleType:
    """docs/examples/subscriber.py as a module: its DataSchemas, as an outside consumer uses."""
    spec = importlib.util.spec_from_file_location("stream_subscriber_example",
                                                  REPO / "docs" / "examples" / "subscriber.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    import sys

    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class StreamContract:
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls) -> Settings:
        raise NotImplementedError

    def published_value(self, served: Served, position: int) -> bytes:
        """The message value the topic holds (or would hold) for the event at `position`."""
        raise NotImplementedError

    burns_positions = False
    """Whether a failed write leaves a permanent gap in the positions (PostgreSQL)."""

    @pytest.fixture(scope="class")
    @classmethod
    def served(cls, settings: Settings) -> Iterator[Served]:
        with ExitStack() as stack:
            crm = stack.enter_context(Chronicle(settings, Parts(
                commands=True, read_models=NAMES, relay=bool(settings.kafka_bootstrap),
                queries=True)))
            app = crm.api()
            keys = keys_of(app)
            live = stack.enter_context(serving(app, crm.end_streams))
            http = stack.enter_context(httpx.Client(base_url=live.url, timeout=WAIT_S))
            served = Served(live, crm, keys, http)
            warm_up = Tenant(served)
            _, position = warm_up.customer()
            assert crm.reads.wait_for(NAMES, position, READY_TIMEOUT_S), \
                "the projectors did not catch up"
            yield served

    @pytest.fixture
    def tenant(self, served: Served) -> Tenant:
        return Tenant(served)

    # -- where a stream starts, and what it sends -----------------------------------------------

    def test_a_stream_without_a_position_starts_at_the_head_and_sends_only_new_events(
            self, tenant: Tenant) -> None:
        before, _ = tenant.customer("Old Timer")
        with opened(tenant.stream()) as stream:
            new, position = tenant.customer("New Comer")
            events = read_until_covered(stream, position)
        assert [(e.event, e.document["customerid"]) for e in events] == [
            ("crm.customer.registered", new)]
        assert before != new

    def test_each_event_is_its_position_type_and_the_cloudevent_exactly_as_published(
            self, served: Served, tenant: Tenant) -> None:
        with opened(tenant.stream()) as stream:
            customer, _ = tenant.customer("Ada Lovelace")
            lead = tenant.post("/v1/leads", {"customer_id": customer, "title": "Engine",
                                             "amount": "12000.00", "currency": "EUR"})
            tenant.post(f"/v1/leads/{lead['lead_id']}/stage", {"stage": "contacted"})
            tenant.post(f"/v1/customers/{customer}/interactions", {
                "channel": "call", "direction": "outbound", "subject": "Discovery call",
                "personal": {"body": "Ada asked about the analytical engine"}})
            last = tenant.post(f"/v1/customers/{customer}/tickets",
                               {"subject": "Printer on fire", "priority": "high"})["position"]
            events = read_until_covered(stream, int(last))
        assert positions(events) == tenant.published((events[0].id or 0) - 1)[:len(events)]
        schemas = subscriber_example().DataSchemas(REPO / "schemas" / "events")
        for event in events:
            assert event.data is not None
            assert event.data.encode() == self.published_value(served, event.id or 0)
            stored = json.loads(served.store.recorder.select_notifications(
                event.id or 0, 1)[0].state)
            assert event.document["data"].get("personal") == stored.get("personal")
            document = event.document
            assert (document["position"], document["type"]) == (event.id, event.event)
            assert document["tenantid"] == tenant.id
            schemas.validate(document["dataschema"], document["data"])
        text = "\n".join(event.data or "" for event in events)
        for value in ("Ada Lovelace", "ada@example.com", "7946", "analytical engine"):
            assert value not in text  # personal values travel sealed, as on the topic
        sealed = [e for e in events if e.document["data"].get("personal")]
        assert {e.event for e in sealed} >= {"crm.customer.registered", "crm.interaction.logged"}
        assert all(set(e.document["data"]["personal"]) == {"alg", "kid", "iv", "ct"}
                   for e in sealed)
        # ... and they open with the store's keys, as the API opens them
        _, registered = decode((sealed[0].data or "").encode(), served.store.vault)
        assert isinstance(registered, CustomerRegistered) and registered.personal is not None
        assert registered.personal.name == "Ada Lovelace"

    @pytest.mark.parametrize("resume", ["Last-Event-ID", "after_position"])
    def test_resuming_while_writes_continue_loses_nothing_and_repeats_nothing(
            self, served: Served, tenant: Tenant, resume: str) -> None:
        start = served.store.recorder.max_notification_id() or 0
        customers = [tenant.customer(f"Cust {n}")[0] for n in range(3)]
        done = threading.Event()
        failures: list[str] = []

        def write() -> None:
            try:
                for n in range(40):
                    tenant.tag(customers[n % 3], f"t{n}")
                    time.sleep(0.01)
            except Exception as exc:  # reported by the test, not lost in the thread
                failures.append(repr(exc))
            finally:
                done.set()

        writer = threading.Thread(target=write)
        writer.start()
        received: list[int] = []
        last_id = start
        reconnections = 0
        try:
            while not (done.is_set() and received and received[-1] >= max(
                    tenant.published(start), default=0)):
                params, headers = ({"after_position": last_id}, {}) if resume == \
                    "after_position" else ({"after_position": 0},
                                           {"Last-Event-ID": str(last_id)})
                with opened(tenant.stream(params, headers)) as stream:
                    reconnections += 1
                    for _ in range(5):  # a few blocks, then drop the connection
                        try:
                            block = stream.next_block(WAIT_S if not done.is_set() else 1.0)
                        except AssertionError:
                            break
                        if block.id is not None:
                            last_id = block.id
                        if block.data is not None:
                            received.append(block.id or 0)
                assert reconnections < 500, "the stream never caught up"
        finally:
            writer.join(WAIT_S)
        assert not failures, failures
        assert reconnections > 2
        assert received == tenant.published(start)
        assert len(received) == 3 + 40

    def test_filters_by_exact_type_by_prefix_and_by_customer(self, tenant: Tenant) -> None:
        streams = {
            "lead created": tenant.stream({"type": "crm.lead.created"}, subject="viewer-1"),
            "customer prefix": tenant.stream({"type": "crm.customer."}, subject="viewer-2"),
            "second customer": None,
            "tags of the first": None,
        }
        first, _ = tenant.customer("First One")
        second, _ = tenant.customer("Second One")
        streams["second customer"] = tenant.stream({"customer_id": second}, subject="viewer-3")
        streams["tags of the first"] = tenant.stream(
            [("type", "crm.customer.tagged"), ("type", "crm.customer.untagged"),
             ("customer_id", first)], subject="viewer-4")
        for client in streams.values():
            assert client is not None
            opened(client)
        lead = tenant.post("/v1/leads", {"customer_id": first, "title": "Deal"})
        tenant.tag(second, "vip")
        last = tenant.tag(first, "gold")
        seen = {}
        for name, client in streams.items():
            assert client is not None
            with client:
                seen[name] = [(e.event, e.document["customerid"])
                              for e in read_until_covered(client, last)]
        assert seen["lead created"] == [("crm.lead.created", first)]
        assert seen["customer prefix"] == [("crm.customer.registered", first),
                                           ("crm.customer.registered", second),
                                           ("crm.customer.record_linked", first),
                                           ("crm.customer.tagged", second),
                                           ("crm.customer.tagged", first)]
        assert seen["second customer"] == [("crm.customer.tagged", second)]
        assert seen["tags of the first"] == [("crm.customer.tagged", first)]
        assert lead["lead_id"]

    def test_a_rep_sees_only_their_books_events_and_nobody_sees_another_tenants(
            self, served: Served, tenant: Tenant) -> None:
        rep = ("rep-a", ("sales_rep",))
        other = Tenant(served)
        with opened(tenant.stream(subject=rep[0], roles=rep[1])) as rep_stream, \
                opened(tenant.stream()) as admin_stream, \
                opened(tenant.stream(subject="erp", roles=("integration",),
                                     scopes=("events:read",))) as integration_stream:
            mine, _ = tenant.customer("Mine Own", subject=rep[0], roles=rep[1])
            theirs, _ = tenant.customer("Not Mine", owner="rep-b")
            tenant.tag(theirs, "vip")
            elsewhere, _ = other.customer("Far Away", subject=rep[0], roles=rep[1])
            other.tag(elsewhere, "vip", subject=rep[0], roles=rep[1])
            last = tenant.tag(mine, "gold", subject=rep[0], roles=rep[1])
            rep_saw = read_until_covered(rep_stream, last)
            admin_saw = read_until_covered(admin_stream, last)
            integration_saw = read_until_covered(integration_stream, last)
        assert [(e.event, e.document["customerid"]) for e in rep_saw] == [
            ("crm.customer.registered", mine), ("crm.customer.tagged", mine)]
        for saw in (admin_saw, integration_saw):
            assert [e.document["customerid"] for e in saw] == [mine, theirs, theirs, mine]
        everything = rep_saw + admin_saw + integration_saw
        assert {e.document["tenantid"] for e in everything} == {tenant.id}
        assert elsewhere not in {e.document["customerid"] for e in everything}

    def test_roles_without_the_stream_are_refused(self, tenant: Tenant) -> None:
        with tenant.stream(subject="agent", roles=("support_agent",)) as refused:
            body = error_shaped(_Answer(refused), 403, "forbidden")
        assert body["details"]["action"] == "events.stream"

    # -- bounds, heartbeats, refusals -----------------------------------------------------------

    def test_a_caller_past_its_open_streams_gets_429_and_a_closed_stream_frees_its_place(
            self, tenant: Tenant) -> None:
        open_ones = [opened(tenant.stream(subject="busy")) for _ in range(MAX_PER_PRINCIPAL)]
        try:
            with tenant.stream(subject="busy") as refused:
                body = error_shaped(_Answer(refused), 429, "too_many_streams")
                assert refused.headers["retry-after"].isdigit()
            assert body["details"]["limit"] == MAX_PER_PRINCIPAL
            with opened(tenant.stream(subject="someone-else")):
                pass  # the bound is per caller
            open_ones.pop().close()

            def reopened() -> bool:
                client = tenant.stream(subject="busy")
                if client.status == 200:
                    open_ones.append(client)
                    return True
                client.close()
                return False

            eventually(reopened, WAIT_S, "a closed stream did not free its place")
        finally:
            for client in open_ones:
                client.close()

    def test_an_idle_stream_sends_heartbeats(self, tenant: Tenant) -> None:
        with opened(tenant.stream()) as stream:
            beats = [stream.next_block(WAIT_S) for _ in range(3)]
        assert all(block.comments == ["heartbeat"] and block.data is None for block in beats)

    def test_refusals_have_the_error_shape(self, served: Served, tenant: Tenant) -> None:
        head = served.store.recorder.max_notification_id() or 0
        cases: list[tuple[Any, dict[str, str], int, str]] = [
            ({}, {"Last-Event-ID": "abc"}, 400, "invalid_header"),
            ({"after_position": -1}, {}, 422, "invalid_request"),
            ({"after_position": "x"}, {}, 422, "invalid_request"),
            ({"after_position": head + 10_000}, {}, 422, "position_beyond_log"),
            ({}, {"Last-Event-ID": str(head + 10_000)}, 422, "position_beyond_log"),
            ({"type": "crm.nope"}, {}, 422, "unknown_event_type"),
            ({"type": "crm.nothing."}, {}, 422, "unknown_event_type"),
            ([("type", "crm.lead.")] * 21, {}, 422, "invalid_filter"),
            ({"customer_id": "not-a-uuid"}, {}, 422, "invalid_request"),
            ([("customer_id", str(uuid4())) for _ in range(101)], {}, 422, "invalid_filter"),
        ]
        for params, headers, status, code in cases:
            with tenant.stream(params, headers) as refused:
                error_shaped(_Answer(refused), status, code)
        with SseClient(served.live.url) as anonymous:
            error_shaped(_Answer(anonymous), 401, "unauthorized")
        with SseClient(served.live.url, params={"ticket": "crm_st_" + "x" * 43}) as forged:
            error_shaped(_Answer(forged), 401, "unauthorized")

    # -- a browser's ticket ---------------------------------------------------------------------

    def test_a_ticket_opens_one_stream_once_in_its_callers_tenant_and_book(
            self, served: Served, tenant: Tenant) -> None:
        answer = served.http.post("/v1/stream/tickets",
                                  headers=tenant.auth("rep-t", ("sales_rep",)))
        assert answer.status_code == 201, answer.text
        assert answer.headers["cache-control"] == "no-store"
        ticket = answer.json()["ticket"]
        with opened(SseClient(served.live.url, params={"ticket": ticket, "type": "crm.customer."})
                    ) as stream:
            mine, _ = tenant.customer("Ticket Holder", subject="rep-t", roles=("sales_rep",))
            tenant.customer("Someone Else", owner="rep-z")
            last = tenant.tag(mine, "done", subject="rep-t", roles=("sales_rep",))
            saw = read_until_covered(stream, last)
            with SseClient(served.live.url, params={"ticket": ticket}) as again:
                error_shaped(_Answer(again), 401, "unauthorized")
        assert [(e.event, e.document["customerid"]) for e in saw] == [
            ("crm.customer.registered", mine), ("crm.customer.tagged", mine)]

    # -- positions under concurrent writers -----------------------------------------------------

    def test_concurrent_writers_of_two_stores_and_failed_writes_reach_the_stream_once_in_order(
            self, served: Served, tenant: Tenant, settings: Settings) -> None:
        """Two event stores (two connection pools on PostgreSQL) write at once from four
        threads, and a write fails on purpose, which burns positions on PostgreSQL: the
        stream still sends every event once, in order."""
        start = served.store.recorder.max_notification_id() or 0
        # One customer per writing thread: commands on one aggregate from two stores would
        # race, and a lost race is retried only so often.
        ours = [tenant.customer(f"Ours {n}")[0] for n in range(2)]
        theirs = [tenant.customer(f"Theirs {n}")[0] for n in range(2)]
        other_store = open_event_store(settings)
        other = CommandService(other_store, settings)
        failures: list[str] = []
        try:
            with opened(tenant.stream({"after_position": start})) as stream:
                def through_the_api(n: int) -> None:
                    for k in range(15):
                        tenant.tag(ours[n], f"api-{n}-{k}")

                def through_the_other_store(n: int) -> None:
                    ctx = CommandContext(actor="other", tenant_id=tenant.id)
                    for k in range(15):
                        other.tag_customer(ctx, UUID(theirs[n]), f"other-{n}-{k}")
                        other.register_customer(ctx, NewCustomer(
                            personal=CustomerPersonal(name=f"Other {n} {k}")))

                def run(work: Any, n: int) -> None:
                    try:
                        work(n)
                    except Exception as exc:
                        failures.append(repr(exc))

                threads = [threading.Thread(target=run, args=(work, n))
                           for work in (through_the_api, through_the_other_store)
                           for n in range(2)]
                for thread in threads:
                    thread.start()
                _fail_one_write(other_store)
                for thread in threads:
                    thread.join(60)
                assert not failures, failures
                last = tenant.tag(ours[0], "last")
                events = read_until_covered(stream, last, 60)
        finally:
            other.close()
            other_store.close()
        expected = tenant.published(start)
        assert positions(events) == expected
        assert len(expected) == 4 + 2 * 15 + 2 * 15 * 2 + 1
        if self.burns_positions:
            stored = served.store.recorder.select_notifications(start, 10_000,
                                                                inclusive_of_start=False)
            assert len(stored) < stored[-1].id - start, \
                "the failed write left no gap in the positions"


def _fail_one_write(store: ChronicleStore) -> None:
    """Insert a copy of a stored event (same aggregate and version): the store refuses it,
    after PostgreSQL's sequence already gave it a position."""
    from eventsourcing.persistence import IntegrityError, StoredEvent

    latest = store.recorder.select_notifications(
        max(1, (store.recorder.max_notification_id() or 1) - 5), 1)[0]
    copy = StoredEvent(originator_id=latest.originator_id,
                       originator_version=latest.originator_version, topic=latest.topic,
                       state=latest.state)
    with pytest.raises(IntegrityError):
        store.recorder.insert_events([copy])


class _Answer:
    """An SseClient's refusal, shaped as tests.errors.error_shaped reads a response."""

    def __init__(self, client: SseClient) -> None:
        self.status_code = client.status
        self.headers = client.headers
        self._body = client.json() if client.status != 200 else None
        self.text = json.dumps(self._body)

    def json(self) -> Any:
        return self._body
