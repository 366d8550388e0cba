"""`crm`: one entry point that starts every part of Chronicle CRM."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from services.common.settings import Settings

app = typer.Typer(help="Chronicle CRM — an event-sourced CRM.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
schemas_app = typer.Typer(help="Event JSON Schemas under schemas/events/.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Embedded store directory "
                                              "[env CRM_DATA_DIR, default ./crm-data]")]
PostgresUrl = Annotated[str | None, typer.Option("--postgres-url", help="Use PostgreSQL "
                                                 "[env CRM_POSTGRES_URL]")]
KafkaBootstrap = Annotated[str | None, typer.Option("--kafka-bootstrap", help="Kafka bootstrap "
                                                    "servers [env CRM_KAFKA_BOOTSTRAP]")]


def load_settings(**overrides: Any) -> Settings:
    """Environment first, command-line options over it; a bad value exits with its reason."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except Exception as exc:  # pydantic ValidationError: show it plainly, no traceback
        typer.secho(f"invalid configuration: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on [default 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default 8000]")] = None,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
    demo: Annotated[bool, typer.Option("--demo", help="Load sample data into an empty store")] = False,
) -> None:
    """Run the CRM in one process (embedded SQLite store by default)."""
    import uvicorn

    from services.command.api.app import create_command_app

    settings = load_settings(host=host, port=port, data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap)
    asgi = create_command_app(settings)
    store = asgi.app.state.store  # type: ignore[attr-defined]
    if demo:
        _seed_if_empty(asgi.app.state.command_service)  # type: ignore[attr-defined]
    typer.echo(f"Chronicle CRM listening on http://{settings.host}:{settings.port} "
               f"(events: {settings.describe_store()}; API docs at /docs)")
    sys.stdout.flush()
    try:
        uvicorn.run(asgi, host=settings.host, port=settings.port, log_level=settings.log_level)
    finally:
        store.close()


@app.command("command-api")
def command_api(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
) -> None:
    """Run the command API on its own."""
    import uvicorn

    from services.command.api.app import create_command_app

    settings = load_settings(host=host, port=port, data_dir=data_dir, postgres_url=postgres_url)
    typer.echo(f"Chronicle command API listening on http://{settings.host}:{settings.port} "
               f"(events: {settings.describe_store()})")
    uvicorn.run(create_command_app(settings), host=settings.host, port=settings.port,
                log_level=settings.log_level)


def _seed_if_empty(service: Any) -> None:
    from services.command.seed import seed_demo

    if service.log.max_position() > 0:
        typer.echo("store already holds events; sample data not loaded again")
        return
    summary = seed_demo(service)
    typer.echo(f"loaded sample data: {summary.customers} customers, {summary.leads} leads, "
               f"{summary.interactions} interactions, {summary.tickets} tickets, "
               f"{summary.purchases} purchases (last position {summary.last_position})")


@app.command()
def seed(
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    customers: Annotated[int, typer.Option(min=1, max=100_000)] = 24,
    force: Annotated[bool, typer.Option(help="Seed even if the store holds events")] = False,
) -> None:
    """Load sample customers, leads, interactions, tickets and purchases."""
    from services.command.seed import seed_demo
    from services.command.service import CommandService
    from services.common.event_store import open_event_store

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    store = open_event_store(settings)
    try:
        service = CommandService(store, settings)
        if service.log.max_position() > 0 and not force:
            typer.echo("store already holds events; use --force to add sample data anyway")
            raise typer.Exit(1)
        summary = seed_demo(service, customers=customers)
        typer.echo(f"seeded {settings.describe_store()}: {summary}")
    finally:
        store.close()


@schemas_app.command("export")
def schemas_export(
    directory: Annotated[Path | None, typer.Option("--dir", help="Target directory")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite even incompatible changes")] = False,
) -> None:
    """Write one JSON Schema per event type and version."""
    from services.common.schemas import DEFAULT_DIR, IncompatibleSchemaChange, export_schemas

    try:
        changed = export_schemas(directory or DEFAULT_DIR, force=force)
    except IncompatibleSchemaChange as exc:
        typer.secho(f"refused: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    for path in changed:
        typer.echo(f"wrote {path}")
    typer.echo(f"{len(changed)} schema file(s) written")


@schemas_app.command("check")
def schemas_check(
    directory: Annotated[Path | None, typer.Option("--dir", help="Schema directory")] = None,
) -> None:
    """Exit 1 if the committed schemas differ from the event models."""
    from services.common.schemas import DEFAULT_DIR, check_schemas

    problems = check_schemas(directory or DEFAULT_DIR)
    for problem in problems:
        typer.echo(problem)
    if problems:
        raise typer.Exit(1)
    typer.echo("schemas match the event models")


if __name__ == "__main__":
    app()
