"""`crm keys`: issue, list and revoke API keys (docs/security.md).

Each issue and revocation is an event in the store, recorded as `cli:<operating-system user>`;
a key issued here works at once on a running server of the same store.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

import typer

from services.bootstrap import Chronicle, Parts
from services.cli.options import DataDir, PostgresUrl, fail, load_settings, require_store
from services.command.domain.aggregate import CommandContext
from services.command.domain.errors import NotFound, RuleViolation
from services.common.auth.keys import KeyRecord, KeyRing
from services.common.auth.permissions import ROLES, SCOPES
from services.common.auth.principal import check_tenant_id, cli_actor

app = typer.Typer(help="API keys: issue, list, revoke (docs/security.md).", no_args_is_help=True)

_DURATION = re.compile(r"^(\d{1,5})([dh])$")


def _tenant(value: str | None) -> str | None:
    try:
        return check_tenant_id(value) if value is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _expiry(value: str | None) -> datetime | None:
    """`90d`, `12h`, or a date/time (ISO 8601, UTC when it has no offset)."""
    if value is None:
        return None
    found = _DURATION.fullmatch(value.strip())
    if found:
        amount, unit = int(found.group(1)), found.group(2)
        return datetime.now(UTC) + (timedelta(days=amount) if unit == "d"
                                    else timedelta(hours=amount))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("give a duration such as 90d or 12h, or a date such as "
                                 "2027-06-30") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


Tenant = Annotated[str | None, typer.Option(
    "--tenant", callback=_tenant, help="The tenant (default: CRM_DEFAULT_TENANT, `default`)")]


@app.command("create")
def keys_create(
    role: Annotated[list[str], typer.Option(
        "--role", help=f"A role of the key (repeat for more): {', '.join(ROLES)}")],
    subject: Annotated[str, typer.Option(
        "--subject", help="Who the key speaks for: the actor of what it writes")],
    tenant: Tenant = None,
    scope: Annotated[list[str] | None, typer.Option(
        "--scope", help=f"For an integration key (repeat for more): {', '.join(SCOPES)}")]
    = None,
    expires: Annotated[str | None, typer.Option(
        "--expires", callback=_expiry, help="When it stops working: 90d, 12h or a date "
        "[default: never]")] = None,
    display_name: Annotated[str | None, typer.Option(
        "--display-name", help="A name shown beside the subject")] = None,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
) -> None:
    """Issue an API key. The key is printed once, alone on the last line of stdout: keep it
    secret; only its SHA-256 digest is stored."""
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    tenant_id = tenant or settings.default_tenant
    expires_at: datetime | None = expires  # type: ignore[assignment]  # converted by callback
    ctx = CommandContext(actor=cli_actor(), tenant_id=tenant_id)
    with Chronicle(settings, Parts(commands=True)) as crm:
        try:
            result, issued = crm.command_service.create_api_key(
                ctx, subject=subject, roles=role, scopes=scope or [], expires_at=expires_at,
                display_name=display_name)
        except RuleViolation as exc:
            fail(f"refused: {exc.message}", 2)
    until = expires_at.isoformat(timespec="seconds") if expires_at else "never expires"
    typer.echo(f"key {issued.key_id} for {subject} in tenant {tenant_id}, roles "
               f"{', '.join(sorted(set(role)))}{', scopes ' + ', '.join(scope) if scope else ''}; "
               f"{until} (position {result.position}). The key, shown this once:")
    typer.echo(issued.token)


@app.command("list")
def keys_list(tenant: Tenant = None, all_tenants: Annotated[bool, typer.Option(
        "--all-tenants", help="Every tenant's keys")] = False,
              data_dir: DataDir = None, postgres_url: PostgresUrl = None) -> None:
    """The keys of a tenant, oldest first: id, subject, roles, expiry, revocation (never a
    secret)."""
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    require_store(settings)
    with Chronicle(settings, Parts(commands=True)) as crm:
        assert crm.store is not None
        records = KeyRing(crm.store).keys(
            None if all_tenants else tenant or settings.default_tenant)
    if not records:
        typer.echo("no keys", err=True)
    for record in records:
        typer.echo(_describe(record))


def _describe(record: KeyRecord) -> str:
    state = (f"revoked {record.revoked_at.isoformat(timespec='seconds')}" if record.revoked_at
             else f"expires {record.expires_at.isoformat(timespec='seconds')}"
             if record.expires_at else "no expiry")
    scopes = f" scopes {','.join(record.scopes)}" if record.scopes else ""
    return (f"{record.key_id}  {record.tenant_id}  {record.subject}  "
            f"roles {','.join(record.roles)}{scopes}  {state}  created "
            f"{record.created_at.isoformat(timespec='seconds')} by {record.created_by}")


@app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (as `crm keys list` shows it)")],
    reason: Annotated[str | None, typer.Option("--reason", help="Recorded with it")] = None,
    data_dir: DataDir = None, postgres_url: PostgresUrl = None,
) -> None:
    """Revoke a key: it stops working within a second on every running server."""
    try:
        wanted = UUID(key_id)
    except ValueError:
        fail(f"{key_id!r} is not a key id (a UUID as `crm keys list` shows)", 2)
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    require_store(settings)
    with Chronicle(settings, Parts(commands=True)) as crm:
        assert crm.store is not None
        record = KeyRing(crm.store).get(wanted)
        if record is None:
            fail(f"no key {wanted}")
        ctx = CommandContext(actor=cli_actor(), tenant_id=record.tenant_id)
        try:
            crm.command_service.revoke_api_key(ctx, wanted, reason)
        except RuleViolation as exc:
            fail(f"refused: {exc.message}")
        except NotFound:
            fail(f"no key {wanted}")
    typer.echo(f"revoked key {wanted} of {record.subject} in tenant {record.tenant_id}")
