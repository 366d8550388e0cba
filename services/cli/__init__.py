"""`crm`: one entry point that starts every part of Chronicle CRM, a module per group of
commands: run (serve and each part), data (seed, import, export), replay, rules, schemas."""

from __future__ import annotations

import typer

from services.cli import data, keys, replay, rules, run, schemas

app = typer.Typer(help="Chronicle CRM — an event-sourced CRM.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
run.register(app)
data.register(app)
replay.register(app)
app.add_typer(schemas.app, name="schemas")
app.add_typer(rules.app, name="rules")
app.add_typer(keys.app, name="keys")
