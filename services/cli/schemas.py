"""`crm schemas`: the event JSON Schemas under schemas/events/ and the AsyncAPI document."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Event JSON Schemas under schemas/events/.", no_args_is_help=True)


@app.command("export")
def schemas_export(
    directory: Annotated[Path | None, typer.Option("--dir", help="Target directory")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite even incompatible changes")] = False,
) -> None:
    """Write the JSON Schemas of every event type and version: of `data` (v<N>.schema.json,
    the one `dataschema` names) and of the whole event (v<N>.event.schema.json)."""
    from services.common.schemas import DEFAULT_DIR, SchemaExportRefused, export_schemas

    try:
        changed = export_schemas(directory or DEFAULT_DIR, force=force)
    except SchemaExportRefused as exc:
        typer.secho(f"refused: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    for path in changed:
        typer.echo(f"wrote {path}")
    typer.echo(f"{len(changed)} schema file(s) written")


@app.command("check")
def schemas_check(
    directory: Annotated[Path | None, typer.Option("--dir", help="Schema directory")] = None,
) -> None:
    """Exit 1 if the committed schemas or asyncapi.json differ from the event models."""
    from services.common.asyncapi import check_asyncapi
    from services.common.schemas import DEFAULT_DIR, check_schemas

    schema_dir = directory or DEFAULT_DIR
    problems = check_schemas(schema_dir) + check_asyncapi(schema_dir.parent / "asyncapi.json")
    for problem in problems:
        typer.echo(problem)
    if problems:
        raise typer.Exit(1)
    typer.echo("schemas match the event models")


@app.command("asyncapi")
def schemas_asyncapi(
    output: Annotated[Path | None, typer.Option(
        "--output", help="Target file (default schemas/asyncapi.json)")] = None,
) -> None:
    """Write the AsyncAPI document of the event topic, generated from the event catalog."""
    from services.common.asyncapi import DEFAULT_PATH, write_asyncapi

    path = output or DEFAULT_PATH
    changed = write_asyncapi(path)
    typer.echo(f"{'wrote' if changed else 'unchanged'} {path}")


@app.command("openapi")
def schemas_openapi(
    output: Annotated[Path | None, typer.Option(
        "--output", help="Target file (default: standard output)")] = None,
) -> None:
    """Write the OpenAPI document of `crm serve`'s API (the web app's types are generated
    from it: `npm run api-types --prefix services/web`)."""
    from services.cli.openapi_doc import render, serve_openapi_document

    text = render(serve_openapi_document())
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}", err=True)
