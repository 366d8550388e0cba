"""The live event stream on the embedded store (SQLite), and what only one process shows: how
a stream ends (server stopping, its age, a revoked key), the process's own bound, tickets,
and fuzzed refusals against a live server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.bootstrap import Chronicle, Parts
from services.common.auth.principal import Principal
from services.common.auth.stream_tickets import InvalidTicket, StreamTickets
from services.common.cloudevents import encode_stored
from services.common.event_store import open_event_store
from services.common.settings import Settings
from services.projections.registry import NAMES
from services.query import stream as stream_module
from services.query.stream import _event_class
from tests.contract.stream import (
    WAIT_S,
    Served,
    StreamContract,
    _Answer,
    opened,
    stream_settings,
)
from tests.errors import error_shaped
from tests.harness.auth import Keys, keys_of
from tests.harness.sse import LiveServer, SseClient, serving


class TestStreamEmbedded(StreamContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return Settings(data_dir=tmp_path_factory.mktemp("crm-data"), **stream_settings())

    def published_value(self, served: Served, position: int) -> bytes:
        """What the relay sends for a stored event (its fast path: the stored JSON as it is)."""
        notification = served.store.recorder.select_notifications(position, 1)[0]
        encoded = encode_stored(_event_class(notification.topic), notification.state, position)
        assert encoded is not None
        return encoded[1]


# -- one server of one's own --------------------------------------------------------------------


@dataclass
class Own:
    crm: Chronicle
    live: LiveServer
    keys: Keys

    def headers(self, subject: str = "boss") -> dict[str, str]:
        return self.keys.headers("default", subject)

    def revoke(self, token: str) -> None:
        """Revoke a key as an admin does (which the server's key ring learns at once)."""
        answer = httpx.delete(f"{self.live.url}/v1/admin/keys/{UUID(token.split('_')[1])}",
                              headers=self.headers(), timeout=WAIT_S)
        assert answer.status_code == 200, answer.text

    def write(self) -> int:
        answer = httpx.post(f"{self.live.url}/v1/customers", headers=self.headers(),
                            json={"personal": {"name": "Ada"}}, timeout=WAIT_S)
        assert answer.status_code == 201, answer.text
        return int(answer.json()["position"])


OwnServer = Callable[..., Own]


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[OwnServer]:
    """Starts a `crm serve` composition (no policies) in a thread, with these settings."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> Own:
            settings = Settings(data_dir=tmp_path / "crm-data", **stream_settings(**overrides))
            crm = stack.enter_context(Chronicle(settings, Parts(
                commands=True, read_models=NAMES, queries=True)))
            app = crm.api()
            live = stack.enter_context(serving(app, crm.end_streams))
            return Own(crm, live, keys_of(app))

        yield start


@pytest.fixture
def own(own_server: OwnServer) -> Own:
    return own_server()


def test_stopping_the_server_ends_every_open_stream_and_the_server_stops(own: Own) -> None:
    streams = [opened(SseClient(own.live.url, headers=own.headers(f"s{n}"))) for n in range(3)]
    position = own.write()
    assert [s.events(1, WAIT_S)[0].id for s in streams] == [position] * 3
    own.live.stop(timeout_s=15)  # fails if a stream kept the server waiting
    for stream in streams:
        stream.wait_for_end(WAIT_S)
        assert stream.complete  # the answer's last chunk came: ended, not cut
        stream.close()


def test_a_stream_resuming_from_before_the_window_reads_the_store_and_misses_nothing(
        own_server: OwnServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_module, "WINDOW_EVENTS", 5)
    own = own_server()
    with opened(SseClient(own.live.url, headers=own.headers("live"))) as live:
        written = [own.write() for _ in range(20)]
        assert [b.id for b in live.events(20, WAIT_S)] == written
    # The window now holds the last 5 events: the rest come from the store, in batches.
    with opened(SseClient(own.live.url, headers={**own.headers("late"),
                                                 "Last-Event-ID": str(written[0] - 1)})) as late:
        assert [b.id for b in late.events(20, WAIT_S)] == written
        more = own.write()
        assert [b.id for b in late.events(1, WAIT_S)] == [more]


def test_a_stopping_server_refuses_new_streams(own: Own) -> None:
    own.crm.end_streams()
    with SseClient(own.live.url, headers=own.headers()) as refused:
        answer = _Answer(refused)
        error_shaped(answer, 503, "server_stopping")
        assert refused.headers["retry-after"].isdigit()


def test_a_stream_ends_at_its_age_and_resumes_where_it_ended(own_server: OwnServer) -> None:
    own = own_server(stream_max_age_s=1.0)
    stream = opened(SseClient(own.live.url, headers=own.headers()))
    position = own.write()
    blocks = stream.wait_for_end(WAIT_S)
    assert stream.complete
    assert [b.id for b in blocks if b.data is not None] == [position]
    later = own.write()
    with opened(SseClient(own.live.url, headers={**own.headers(),
                                                 "Last-Event-ID": str(position)})) as again:
        assert [b.id for b in again.events(1, WAIT_S)] == [later]


def test_a_process_serves_only_so_many_streams(own_server: OwnServer) -> None:
    own = own_server(stream_max_open=2, stream_max_per_principal=5)
    with opened(SseClient(own.live.url, headers=own.headers("a"))), \
            opened(SseClient(own.live.url, headers=own.headers("b"))), \
            SseClient(own.live.url, headers=own.headers("c")) as refused:
        body = error_shaped(_Answer(refused), 503, "streams_at_capacity")
    assert body["details"]["limit"] == 2


def test_revoking_a_key_ends_its_streams(own: Own) -> None:
    token = own.keys.token("default", "leaver", ["admin"])
    stream = opened(SseClient(own.live.url, headers={"Authorization": f"Bearer {token}"}))
    own.revoke(token)
    stream.wait_for_end(WAIT_S)  # at its next heartbeat
    stream.close()


def test_a_ticket_of_a_key_revoked_since_is_refused(own: Own) -> None:
    token = own.keys.token("default", "soon-gone", ["admin"])
    issued = httpx.post(f"{own.live.url}/v1/stream/tickets", timeout=WAIT_S,
                        headers={"Authorization": f"Bearer {token}"})
    assert issued.status_code == 201, issued.text
    own.revoke(token)
    with SseClient(own.live.url, params={"ticket": issued.json()["ticket"]}) as refused:
        body = error_shaped(_Answer(refused), 401, "unauthorized")
    assert "no longer valid" in body["message"]


# -- tickets on their own -----------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "memory"])
def test_a_ticket_is_spent_once_expires_and_keeps_its_principal(tmp_path: Path,
                                                                 backend: str) -> None:
    store = open_event_store(Settings(data_dir=tmp_path / "d", memory_store=backend == "memory"))
    try:
        tickets = StreamTickets(store)
        principal = Principal(subject="rep-1", tenants=("a", "b"), roles=frozenset({"sales_rep"}),
                              teams=frozenset({"north"}), credential="oidc",
                              display_name="Rita Rep")
        now = datetime.now(UTC)
        issued = tickets.issue(principal, "b", now)
        assert issued.expires_at == now + timedelta(seconds=30)
        redeemed = tickets.redeem(issued.ticket, now)
        assert redeemed == Principal(subject="rep-1", tenants=("b",),
                                     roles=frozenset({"sales_rep"}), teams=frozenset({"north"}),
                                     credential="oidc", display_name="Rita Rep")
        with pytest.raises(InvalidTicket, match="not valid"):
            tickets.redeem(issued.ticket, now)
        late = tickets.issue(principal, "a", now)
        with pytest.raises(InvalidTicket, match="expired"):
            tickets.redeem(late.ticket, now + timedelta(seconds=31))
        with pytest.raises(InvalidTicket, match="malformed"):
            tickets.redeem("crm_st_short", now)
    finally:
        store.close()


# -- fuzzed refusals against a live server ------------------------------------------------------


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
_PARAMS = st.lists(st.tuples(st.sampled_from(["type", "customer_id", "after_position",
                                              "min_position", "ticket", "other"]),
                             st.one_of(_TEXT, st.integers(-2**70, 2**70).map(str))),
                   max_size=6)
_HEADERS = st.dictionaries(st.sampled_from(["Last-Event-ID", "X-Min-Position", "X-Tenant-ID"]),
                           st.text(st.characters(min_codepoint=33, max_codepoint=126),
                                   max_size=30), max_size=3)


def test_no_input_makes_the_stream_fail_with_500(own: Own) -> None:
    """The route is left out of the schema-driven fuzzing of the query API (an accepted request
    never ends); here generated filters, positions and headers meet a live server: each is
    refused with the error shape, or opens a stream, which is closed at once."""
    auth = own.headers()

    @given(params=_PARAMS, headers=_HEADERS)
    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def no_500(params: list[tuple[str, str]], headers: dict[str, str]) -> None:
        with SseClient(own.live.url, params=params, headers={**auth, **headers}) as client:
            assert client.status != 500
            if client.status != 200:
                error_shaped(_Answer(client), client.status)

    no_500()


