"""What several commands share: the store options, loading settings, failing with a message."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from services.common.settings import Settings

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="Directory of the embedded store (env CRM_DATA_DIR; default ./crm-data)")]
PostgresUrl = Annotated[str | None, typer.Option(
    "--postgres-url", help="Use PostgreSQL at this URL (env CRM_POSTGRES_URL)")]
KafkaBootstrap = Annotated[str | None, typer.Option(
    "--kafka-bootstrap", help="Kafka bootstrap servers (env CRM_KAFKA_BOOTSTRAP)")]
Host = Annotated[str | None, typer.Option(
    "--host", help="Interface to listen on (env CRM_HOST; default 127.0.0.1)")]
Port = Annotated[int | None, typer.Option(
    "--port", help="Port to listen on (env CRM_PORT; default 8000)")]


def load_settings(**overrides: Any) -> Settings:
    """Environment first, command-line options over it; a bad value exits 2 with its reason."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except Exception as exc:  # pydantic ValidationError: show it plainly, no traceback
        fail(f"invalid configuration: {exc}", 2)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `message` in red on stderr and exit with `code`."""
    typer.secho(message, fg="red", err=True)
    raise typer.Exit(code)
