"""What several commands share: the store options, loading settings, failing with a message,
and refusing a store that does not exist to the commands that only read one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError

from services.common.event_store import ChronicleStore
from services.common.settings import Settings


def setting_default(field: str) -> str:
    """A setting's default as --help shows it: the value used when neither the option nor its
    CRM_* variable is given, read from Settings so the help cannot drift from it."""
    value = Settings.model_fields[field].default
    return f"./{value}" if isinstance(value, Path) and not value.is_absolute() else str(value)


DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="Directory of the embedded store (env CRM_DATA_DIR)",
    show_default=setting_default("data_dir"))]
PostgresUrl = Annotated[str | None, typer.Option(
    "--postgres-url", help="Use PostgreSQL at this URL (env CRM_POSTGRES_URL; schema from "
    "CRM_POSTGRES_SCHEMA)")]
KafkaBootstrap = Annotated[str | None, typer.Option(
    "--kafka-bootstrap", help="Kafka bootstrap servers (env CRM_KAFKA_BOOTSTRAP)")]
Host = Annotated[str | None, typer.Option(
    "--host", help="Interface to listen on (env CRM_HOST)",
    show_default=setting_default("host"))]
Port = Annotated[int | None, typer.Option(
    "--port", help="Port to listen on (env CRM_PORT)", show_default=setting_default("port"))]


def load_settings(**overrides: Any) -> Settings:
    """Environment first, command-line options over it; a bad value exits 2 with its reason."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        fail(f"invalid configuration: {describe_invalid(exc)}", 2)
    except Exception as exc:  # a settings source's error (a secret file): already plain
        fail(f"invalid configuration: {exc}", 2)


def describe_invalid(exc: ValidationError) -> str:
    """Each refused setting by its variable and the reason, without the value given: pydantic's
    own text quotes the input, which for a URL or a password is the secret itself."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        field = ".".join(str(part) for part in error["loc"])
        reason = error["msg"].removeprefix("Value error, ")
        variable = f"CRM_{field.upper()}"
        lines.append(reason if not field or reason.startswith(variable)
                     else f"{field} ({variable}): {reason}")
    return "; ".join(lines)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `message` in red on stderr and exit with `code`."""
    typer.secho(message, fg="red", err=True)
    raise typer.Exit(code)


EVENTS_TABLE = f"{ChronicleStore.name.lower()}_events"
"""The events table on PostgreSQL: the eventsourcing library names an application's table
`<application name>_events` (PostgresFactory.application_recorder)."""

_CREATE_ONE = "create one there first with `crm seed`, `crm import` or `crm serve`"


def require_store(settings: Settings) -> None:
    """Exit 2 unless the settings point at an event store that exists.

    For the commands that only read the store: opening one creates it, so a mistyped data dir
    or schema would otherwise be answered from a new, empty store (exit 0, "0 events") and
    leave that store behind. Checked before anything is opened. The in-memory store always
    exists.
    """
    if settings.store == "sqlite":
        if not settings.sqlite_path.is_file():
            fail(f"no event store in {settings.data_dir} ({settings.sqlite_path.name} does not "
                 "exist): pass the data dir of an existing store with --data-dir (or "
                 f"CRM_DATA_DIR), or {_CREATE_ONE}", 2)
    elif settings.store == "postgres" and not _postgres_events_table_exists(settings):
        fail(f"no event store in {settings.describe_store()} (table {EVENTS_TABLE} does not "
             "exist): check --postgres-url (or CRM_POSTGRES_URL) and CRM_POSTGRES_SCHEMA, or "
             f"{_CREATE_ONE}", 2)


def _postgres_events_table_exists(settings: Settings) -> bool:
    import psycopg

    assert settings.postgres_url is not None
    try:
        with psycopg.connect(settings.postgres_url.get_secret_value(),
                             connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables "
                "WHERE schemaname = %s AND tablename = %s)",
                (settings.postgres_schema, EVENTS_TABLE)).fetchone()
    except psycopg.OperationalError as exc:  # unreachable, refused, bad credentials
        fail(f"cannot connect to {settings.describe_store()}: {exc}".strip())
    return bool(row and row[0])
