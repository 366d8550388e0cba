"""The rest of `CRM_POSTGRES_URL` (TLS and any other libpq parameter) is handed to the event
store's connection pool, which the library alone would build from five parameters. No
server needed: the pool opens on first use (tests/integration/test_event_store_postgres_connection.py
connects)."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import InfrastructureFactory, InfrastructureFactoryError
from eventsourcing.utils import Environment
from pydantic import SecretStr

from services.common.postgres_factory import ChroniclePostgresFactory
from services.common.settings import Settings

URL = ("postgresql://crm:s3cret@db.internal:6543/crm?sslmode=verify-full"
       "&sslrootcert=/etc/chronicle/pg-ca.pem&sslcert=/etc/chronicle/client.crt"
       "&sslkey=/etc/chronicle/client.key&sslpassword=k3y&target_session_attrs=read-write")


def _factory(env: dict[str, str]) -> ChroniclePostgresFactory:
    """The factory the library picks from the environment `Settings` produce."""
    factory = InfrastructureFactory.construct(Environment("chronicle", env))
    assert isinstance(factory, ChroniclePostgresFactory)
    return factory


def test_tls_and_other_url_parameters_reach_the_event_stores_pool() -> None:
    env = Settings(postgres_url=SecretStr(URL)).event_store_env()
    factory = _factory(env)
    kwargs = factory.datastore.pool.kwargs
    assert {key: kwargs.get(key) for key in ("host", "port", "user", "password", "dbname",
                                             "sslmode", "sslrootcert", "sslcert", "sslkey",
                                             "sslpassword", "target_session_attrs")} == {
        "host": "db.internal", "port": "6543", "user": "crm", "password": "s3cret",
        "dbname": "crm", "sslmode": "verify-full", "sslrootcert": "/etc/chronicle/pg-ca.pem",
        "sslcert": "/etc/chronicle/client.crt", "sslkey": "/etc/chronicle/client.key",
        "sslpassword": "k3y", "target_session_attrs": "read-write"}
    assert factory.datastore.pool.closed, "nothing connects before first use"


def test_a_plain_url_adds_nothing() -> None:
    env = Settings(postgres_url=SecretStr("postgresql://crm:pw@db:5432/crm")).event_store_env()
    kwargs = _factory(env).datastore.pool.kwargs
    assert set(kwargs) == {"host", "port", "user", "password", "dbname", "row_factory"}


def test_the_options_may_not_override_what_the_library_sets() -> None:
    env = Settings(postgres_url=SecretStr("postgresql://crm:pw@db:5432/crm")).event_store_env()
    with pytest.raises(InfrastructureFactoryError, match="may not set host"):
        _factory({**env, "POSTGRES_CONNECTION_OPTIONS": "host=elsewhere sslmode=require"})
