"""`crm erase` and `crm subject-export`: a person's rights over their data (docs/privacy.md)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, get_args
from uuid import UUID

import typer

from services.bootstrap import Chronicle, Parts
from services.cli.options import DataDir, PostgresUrl, fail, load_settings, require_store
from services.cli.progress import Progress
from services.command.domain.aggregate import CommandContext
from services.command.domain.errors import NotFound, RuleViolation
from services.common.auth.principal import check_tenant_id, cli_actor
from services.common.events.customer import LegalBasis

LEGAL_BASES: tuple[str, ...] = get_args(LegalBasis)


def _customer_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a customer id (a UUID)") from None


def _tenant(value: str | None) -> str | None:
    try:
        return check_tenant_id(value) if value is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _legal_basis(value: str) -> str:
    if value not in LEGAL_BASES:
        raise typer.BadParameter(f"one of {', '.join(LEGAL_BASES)}")
    return value


CustomerArg = Annotated[str, typer.Argument(help="The customer's id")]
Tenant = Annotated[str | None, typer.Option(
    "--tenant", callback=_tenant, help="The tenant (default: CRM_DEFAULT_TENANT, `default`)")]


def register(app: typer.Typer) -> None:
    app.command("erase")(erase)
    app.command("subject-export")(subject_export_command)


def erase(
    customer: CustomerArg,
    legal_basis: Annotated[str, typer.Option(
        "--legal-basis", callback=_legal_basis, help=f"One of {', '.join(LEGAL_BASES)}")],
    reference: Annotated[str, typer.Option(
        "--reference", help="The request's id in your ticketing system")],
    reason: Annotated[str, typer.Option(
        "--reason", help="Why (kept in the log for ever: describe the request, not the person)")],
    tenant: Tenant = None, data_dir: DataDir = None, postgres_url: PostgresUrl = None,
) -> None:
    """Erase a customer's personal data for good: record `CustomerErased` and destroy the
    customer's data key (and those of customers merged into it). Counts, amounts, stages and
    dates stay. Recorded as `cli:<operating-system user>`."""
    customer_id = _customer_id(customer)
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    require_store(settings)
    ctx = CommandContext(actor=cli_actor(), tenant_id=tenant or settings.default_tenant)
    with Chronicle(settings, Parts(commands=True)) as crm:
        try:
            result = crm.command_service.erase_customer(
                ctx, customer_id, reason=reason, legal_basis=legal_basis,
                request_reference=reference)
        except NotFound:
            fail(f"no customer {customer_id} in tenant {ctx.tenant_id}")
        except RuleViolation as exc:
            fail(f"refused ({exc.rule}): {exc.message}", 2)
    typer.echo(json.dumps({"customer_id": str(customer_id), "erased": True,
                           "position": result.position}))


def subject_export_command(
    customer: CustomerArg,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the document to this file (0600) instead of stdout")]
    = None,
    tenant: Tenant = None, data_dir: DataDir = None, postgres_url: PostgresUrl = None,
) -> None:
    """Everything about a customer as one JSON document (GDPR articles 15 and 20): profile,
    consents, leads, purchases, interactions, tickets and the full history with actors and
    times, read from the event store. Recorded in the access log as `cli:<user>`."""
    from services.projections.host import open_sql_store
    from services.query.access_log import Access, append, ensure_table
    from services.query.subject_export import subject_export

    customer_id = _customer_id(customer)
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    require_store(settings)
    tenant_id = tenant or settings.default_tenant
    with Chronicle(settings, Parts(commands=True)) as crm:
        assert crm.store is not None
        document = subject_export(crm.store, customer_id, tenant_id,
                                  lambda actors: crm.people.names(tenant_id, actors))
    if document is None:
        fail(f"no customer {customer_id} in tenant {tenant_id}")
    read_store = open_sql_store(settings)
    try:
        ensure_table(read_store)
        append(read_store, [Access(tenant_id, cli_actor(), str(customer_id), "subject_export",
                                   "crm subject-export", datetime.now(UTC))])
    finally:
        read_store.close()
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
        return
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text + "\n")
    typer.echo(f"wrote the export of {customer_id} to {output}", err=True)


app = typer.Typer(help="Personal data: seal an older store, rotate the master key "
                  "(docs/privacy.md).", no_args_is_help=True)


@app.command("seal")
def seal(data_dir: DataDir = None, postgres_url: PostgresUrl = None) -> None:
    """Encrypt the personal values of events stored before they were sealed: each such event
    is rewritten as its current version with `personal` sealed under its customer's key, read
    back and compared; then every read model is rebuilt (they held the values in clear) and
    the result is checked: no event with personal values in plain text is left. The audit
    chain is rebuilt over the rewritten events, with a signed record of why."""
    from services.cli.audit import publish_pending_checkpoints
    from services.common.audit_chain.keys import AuditKeyError
    from services.common.audit_chain.rechain import RechainRefused, rechain
    from services.common.audit_chain.tables import chain_tables_of
    from services.common.privacy.migration import plain_text_left, purge_old_copies, seal_store
    from services.projections.host import open_analytics_store, open_sql_store
    from services.projections.rebuild import rebuild_many
    from services.projections.registry import NAMES, build

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    require_store(settings)
    with Chronicle(settings, Parts(commands=True)) as crm:
        store = crm.store
        assert store is not None
        with Progress("sealing personal data") as shown:
            result = seal_store(store, lambda done, total: shown.update(done, total))
        typer.echo(f"sealed {result.sealed:,} of {result.scanned:,} events "
                   f"({result.verified:,} read back equal)")
        left = plain_text_left(store)
        if result.sealed and chain_tables_of(store) is not None:
            # The rewrite changed stored bytes on purpose: the chain is rebuilt over them and
            # the signed re-chain record says why (every `crm audit verify` names it).
            try:
                record = rechain(store, settings, f"crm privacy seal: {result.sealed} events "
                                 "rewritten with their personal values sealed")
            except (RechainRefused, AuditKeyError) as exc:
                fail(f"sealed, but the audit chain could not be rebuilt: {exc}", 2)
            publish_pending_checkpoints(store, settings)
            typer.echo(f"re-chained {record.count:,} events up to position {record.position}")
    if left:
        fail(f"{left:,} events still hold personal values in plain text", 1)
    for done in purge_old_copies(settings):  # dead rows and free pages of the old plain text
        typer.echo(done)
    with Chronicle(settings, Parts(commands=True)) as crm:
        store = crm.store
        assert store is not None
        sql_store, analytics = open_sql_store(settings), open_analytics_store(settings)
        try:
            models = [build(name, settings) for name in NAMES]
            with Progress("rebuilding the read models") as shown:
                rebuild_many([(m, analytics if m.store_kind == "analytics" else sql_store)
                              for m in models], settings, source="store", event_store=store,
                             keep_previous=False, on_progress=lambda done, remaining:
                             shown.update(done, done + remaining if remaining is not None
                                          else None))
        finally:
            sql_store.close()
            analytics.close()
    if settings.store == "sqlite":
        purge_old_copies(settings, analytics_too=False)  # the old read-model tables' pages
    typer.echo("OK: no stored event holds personal values in plain text; read models rebuilt")


@app.command("new-master-key")
def new_master_key(output: Annotated[Path, typer.Option(
        "--output", "-o", help="The key file to write (0600); it must not exist")]) -> None:
    """Write a new random master key to a file (for CRM_MASTER_KEY_FILE or a rotation)."""
    from services.common.privacy.master_key import new_master_key_text, write_key_file

    if output.exists():
        fail(f"{output} exists: a key file is never overwritten", 2)
    write_key_file(output, new_master_key_text())
    typer.echo(f"wrote a new master key to {output} (0600)")


@app.command("rotate-master-key")
def rotate_master_key(
    new_key_file: Annotated[Path, typer.Option(
        "--new-key-file", help="The new master key (`crm privacy new-master-key`)")],
    data_dir: DataDir = None, postgres_url: PostgresUrl = None,
) -> None:
    """Re-wrap every customer's data key under a new master key, in one transaction; no event
    is touched. Afterwards point CRM_MASTER_KEY_FILE at the new key (the embedded default's
    <data dir>/master.key is replaced, the old one kept as master.key.old until you delete
    it) and restart every process."""
    from services.common.privacy.master_key import load_key_file, write_key_file

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    require_store(settings)
    new_kek = load_key_file(new_key_file)
    with Chronicle(settings, Parts(commands=True)) as crm:
        assert crm.store is not None
        with Progress("re-wrapping data keys", unit="keys") as shown:
            count = crm.store.vault.rewrap(new_kek, shown.update)
    typer.echo(f"re-wrapped {count:,} data keys under master key {new_kek.key_id}")
    uses_default = settings.master_key is None
    if uses_default:
        current = settings.master_key_file
        current.replace(current.with_name(current.name + ".old"))
        write_key_file(current, new_key_file.read_text().strip())
        typer.echo(f"{current} now holds the new key; the old one is {current}.old")
    else:
        typer.echo("now set CRM_MASTER_KEY_FILE to the new key file and restart every process")
