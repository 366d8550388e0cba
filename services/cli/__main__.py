"""`python -m services.cli`: the `crm` command."""

from services.cli import app

app()
