"""The event store connects with all of `CRM_POSTGRES_URL` — TLS (`sslmode`, `sslrootcert`,
client certificates) and every other libpq parameter — not only host, port, user, password
and database, which is all the eventsourcing library passes on its own."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import OperationalError
from pydantic import SecretStr

from services.common.event_store import ChronicleStore, open_event_store
from services.common.settings import Settings

pytestmark = pytest.mark.postgres


def _with(url: str, **parameters: str) -> str:
    return url + ("&" if "?" in url else "?") + "&".join(f"{k}={v}" for k, v in parameters.items())


def _session(store: ChronicleStore) -> dict[str, Any]:
    """What the server knows about one of the event store's own pooled connections."""
    with store.recorder.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT current_setting('application_name') AS application_name, "
                     "(SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl")
        row = curs.fetchone()
    assert row is not None
    return dict(row)


def _server_has_tls(postgres_url: str) -> bool:
    with psycopg.connect(postgres_url, connect_timeout=10) as conn:
        row = conn.execute("SHOW ssl").fetchone()
    return bool(row and row[0] == "on")


def test_the_event_stores_connections_carry_every_parameter_of_the_url(
        postgres_url: str, fresh_postgres_schema: str) -> None:
    name = f"chronicle-{uuid.uuid4().hex[:8]}"
    url = _with(postgres_url, application_name=name, sslmode="disable")
    store = open_event_store(Settings(postgres_url=SecretStr(url),
                                      postgres_schema=fresh_postgres_schema))
    try:
        assert _session(store) == {"application_name": name, "ssl": False}
    finally:
        store.close()


def test_sslmode_require_reaches_the_event_store(
        postgres_url: str, fresh_postgres_schema: str,
        caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(postgres_url=SecretStr(_with(postgres_url, sslmode="require")),
                        postgres_schema=fresh_postgres_schema)
    env = {**settings.event_store_env(), "POSTGRES_CONNECT_TIMEOUT": "3"}  # fail fast
    if _server_has_tls(postgres_url):  # e.g. CRM_TEST_POSTGRES_URL names a server with TLS
        store = ChronicleStore(env=env)
        try:
            assert _session(store)["ssl"] is True
        finally:
            store.close()
        return
    # The local test server has no TLS: a store that honours sslmode=require cannot connect.
    with caplog.at_level(logging.WARNING, logger="psycopg.pool"), \
            pytest.raises(OperationalError, match="couldn't get a connection"):
        ChronicleStore(env=env)
    assert "SSL" in caplog.text, "the pool's reason: the server does not support SSL"
