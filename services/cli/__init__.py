"""`crm`: one entry point that starts every part of Chronicle CRM, a module per group of
commands: run (serve and each part), data (seed, import, export), replay, rules, schemas."""

from __future__ import annotations

import os

import typer

from services.cli import audit, data, keys, privacy, replay, rules, run, schemas, users
from services.common.private_files import restrict_umask

app = typer.Typer(help="Chronicle CRM — an event-sourced CRM.", no_args_is_help=True,
                  pretty_exceptions_enable=False)


@app.callback()
def _private_files(ctx: typer.Context) -> None:
    # Every file a command creates (stores and their -wal/-shm, DuckDB, exports, rejects,
    # keys) is its owner's alone: services/common/private_files.py. Restored when the command
    # ends, so a test invoking commands in its own process keeps its umask.
    previous = restrict_umask()
    ctx.call_on_close(lambda: os.umask(previous))


run.register(app)
data.register(app)
privacy.register(app)
replay.register(app)
app.add_typer(schemas.app, name="schemas")
app.add_typer(rules.app, name="rules")
app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")
app.add_typer(audit.app, name="audit")
app.add_typer(privacy.app, name="privacy")
