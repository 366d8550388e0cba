"""Settings for tests on the production engines: a PostgreSQL schema and a topic of their own."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from services.common.settings import Settings


def new_postgres_schema(postgres_url: str) -> str:
    """Create a new, empty schema in the test database; unique names make cleanup
    unnecessary. For fixtures of a wider scope than `fresh_postgres_schema`."""
    import psycopg
    from psycopg import sql

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    return name


PROJECTOR_SESSION_TIMEOUT_MS = 6000
"""Tansu completes a consumer-group join after about half the session timeout."""


def production_settings(postgres_url: str, kafka_bootstrap: str, data_dir: Path, name: str, *,
                        partitions: int = 2, **overrides: Any) -> Settings:
    """Settings of the production engines with a schema and a topic of their own: events and
    read models in a new PostgreSQL schema, a new topic of `partitions` on the broker, DuckDB
    in `data_dir`."""
    from pydantic import SecretStr

    from services.common.kafka_topics import ensure_topic

    topic = f"crm.events.{name}-{uuid.uuid4().hex[:10]}"
    ensure_topic(kafka_bootstrap, topic, partitions)
    return Settings(postgres_url=SecretStr(postgres_url),
                    postgres_schema=new_postgres_schema(postgres_url),
                    kafka_bootstrap=kafka_bootstrap, kafka_topic=topic,
                    kafka_partitions=partitions,
                    projector_session_timeout_ms=PROJECTOR_SESSION_TIMEOUT_MS, data_dir=data_dir,
                    **overrides)


def new_reader_url(postgres_url: str) -> str:
    """The URL of a new login role that is neither a superuser nor able to bypass row-level
    security, on the same server and database: the query side's reader
    (`CRM_POSTGRES_READER_URL`). The read-model store grants it what it reads."""
    import secrets

    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    role, password = f"crm_reader_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(16)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOBYPASSRLS "
                             "NOCREATEDB NOCREATEROLE").format(sql.Identifier(role),
                                                                sql.Literal(password)))
    parts = conninfo_to_dict(postgres_url)
    parts.update(user=role, password=password)
    return make_conninfo(**{k: str(v) for k, v in parts.items() if v is not None})


def embedded_or_postgres(backend: str, request: Any, data_dir: Path,
                         **overrides: Any) -> Settings:
    """Settings of `crm serve` without Kafka for a parametrised backend: `sqlite` (the
    embedded store), `postgres` (events and SQL read models in a new schema of the test
    server), or `postgres-reader` (the same, the query side reading as a reader role under
    row-level security)."""
    if backend == "sqlite":
        return Settings(data_dir=data_dir, **overrides)
    from pydantic import SecretStr

    url = request.getfixturevalue("postgres_url")
    reader = new_reader_url(url) if backend == "postgres-reader" else None
    return Settings(data_dir=data_dir, postgres_url=SecretStr(url),
                    postgres_schema=new_postgres_schema(url), postgres_pool_size=4,
                    postgres_reader_url=SecretStr(reader) if reader else None, **overrides)
