"""`crm users`: local accounts, for signing in with a password (docs/security.md, "Signing
in").

Adding, re-passwording and disabling an account are events in the store, recorded as
`cli:<operating-system user>`; the password is read from standard input, never from an
argument, and only its argon2id hash is kept, beside the events.
"""

from __future__ import annotations

import secrets
import sys
from typing import Annotated

import typer

from services.bootstrap import Chronicle, Parts
from services.cli.keys import Tenant
from services.cli.options import DataDir, PostgresUrl, fail, load_settings, require_store
from services.command.accounts import add_user, change_password, disable_user
from services.command.domain.aggregate import CommandContext
from services.command.domain.errors import DomainError, NotFound
from services.common.auth.permissions import ROLES
from services.common.auth.principal import cli_actor
from services.common.auth.sessions import Sessions
from services.common.auth.users import (
    USER_ROLES_EXCLUDED,
    UserDirectory,
    UserRecord,
    WeakPassword,
)
from services.common.settings import Settings

app = typer.Typer(help="Local accounts that sign in with a password (docs/security.md).",
                  no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="The account's name: the id it acts as (the actor "
                                     "of what it writes, an owner or assignee), e.g. rep-7")]
PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from standard input (its first line)")]
PERSON_ROLES = [role for role in ROLES if role not in USER_ROLES_EXCLUDED]


def _password(from_stdin: bool) -> str:
    if not from_stdin:
        fail("the password is read from standard input: pass --password-stdin, e.g. "
             "`printf '%s\\n' \"$PASSWORD\" | crm users add …`", 2)
    line = sys.stdin.readline()
    return line.removesuffix("\n").removesuffix("\r")


@app.command("add")
def users_add(
    name: Name,
    role: Annotated[list[str], typer.Option(
        "--role", help=f"A role of the account (repeat for more): {', '.join(PERSON_ROLES)}")],
    password_stdin: PasswordStdin = False,
    tenant: Tenant = None,
    team: Annotated[list[str] | None, typer.Option(
        "--team", help="A team the account belongs to (repeat for more)")] = None,
    display_name: Annotated[str | None, typer.Option(
        "--display-name", help="A name shown beside the account's id")] = None,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
) -> None:
    """Add an account (at least 12 characters of password, not a common one)."""
    password = _password(password_stdin)
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    tenant_id = tenant or settings.default_tenant
    ctx = CommandContext(actor=cli_actor(), tenant_id=tenant_id)
    with Chronicle(settings, Parts(commands=True)) as crm:
        assert crm.store is not None
        try:
            result = add_user(crm.command_service, UserDirectory(crm.store), ctx, name=name,
                              roles=role, teams=team or [], password=password,
                              display_name=display_name)
        except WeakPassword as exc:
            fail(f"refused: {exc}", 2)
        except DomainError as exc:
            fail(f"refused: {exc.message}", 2)
    typer.echo(f"added {name} to tenant {tenant_id}, roles {', '.join(sorted(set(role)))}"
               f"{', teams ' + ', '.join(sorted(set(team))) if team else ''} "
               f"(position {result.position})")


@app.command("passwd")
def users_passwd(name: Name, password_stdin: PasswordStdin = False, tenant: Tenant = None,
                 data_dir: DataDir = None, postgres_url: PostgresUrl = None) -> None:
    """Give an account a new password; its sessions end."""
    password = _password(password_stdin)
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    require_store(settings)
    tenant_id = tenant or settings.default_tenant
    ctx = CommandContext(actor=cli_actor(), tenant_id=tenant_id)
    with Chronicle(settings, Parts(commands=True)) as crm:
        assert crm.store is not None
        try:
            change_password(crm.command_service, UserDirectory(crm.store),
                            Sessions(crm.store, settings), ctx, name, password)
        except WeakPassword as exc:
            fail(f"refused: {exc}", 2)
        except NotFound:
            fail(f"no account {name} in tenant {tenant_id}")
        except DomainError as exc:
            fail(f"refused: {exc.message}")
    typer.echo(f"new password for {name} in tenant {tenant_id}; its sessions ended")


@app.command("disable")
def users_disable(
    name: Name, tenant: Tenant = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Recorded with it")] = None,
    data_dir: DataDir = None, postgres_url: PostgresUrl = None,
) -> None:
    """Disable an account: it may not sign in, and its sessions end at their next request."""
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    require_store(settings)
    tenant_id = tenant or settings.default_tenant
    ctx = CommandContext(actor=cli_actor(), tenant_id=tenant_id)
    with Chronicle(settings, Parts(commands=True)) as crm:
        assert crm.store is not None
        try:
            disable_user(crm.command_service, UserDirectory(crm.store),
                         Sessions(crm.store, settings), ctx, name, reason)
        except NotFound:
            fail(f"no account {name} in tenant {tenant_id}")
        except DomainError as exc:
            fail(f"refused: {exc.message}")
    typer.echo(f"disabled {name} in tenant {tenant_id}")


@app.command("list")
def users_list(tenant: Tenant = None, data_dir: DataDir = None,
               postgres_url: PostgresUrl = None) -> None:
    """The accounts of a tenant (of every tenant without --tenant), oldest first: name,
    roles, teams, who added and disabled them (never a password or its hash)."""
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    require_store(settings)
    with Chronicle(settings, Parts(commands=True)) as crm:
        assert crm.store is not None
        records = UserDirectory(crm.store).users(tenant)
    if not records:
        typer.echo("no accounts", err=True)
    for record in records:
        typer.echo(_describe(record))


def _describe(record: UserRecord) -> str:
    state = (f"disabled {record.disabled_at.isoformat(timespec='seconds')} by "
             f"{record.disabled_by}" if record.disabled_at else "active")
    teams = f" teams {','.join(record.teams)}" if record.teams else ""
    return (f"{record.name}  {record.tenant_id}  roles {','.join(record.roles)}{teams}  "
            f"{state}  added {record.created_at.isoformat(timespec='seconds')} by "
            f"{record.created_by}")


DEMO_ACCOUNTS: tuple[tuple[str, str], ...] = (
    ("demo-admin", "admin"), ("manager-1", "sales_manager"), ("rep-1", "sales_rep"),
    ("agent-1", "support_agent"), ("analyst-1", "analyst"), ("auditor-1", "auditor"))
"""`crm serve --demo`: one account per role, named as the people of the sample data (so a
rep's or an agent's own book is theirs)."""


def add_demo_users(crm: Chronicle, settings: Settings) -> str:
    """Add the demo accounts with generated passwords; the lines that show them, once."""
    assert crm.store is not None
    tenant_id = settings.default_tenant
    ctx = CommandContext(actor=cli_actor(), tenant_id=tenant_id)
    directory = UserDirectory(crm.store)
    lines = [f"demo accounts of tenant {tenant_id} (passwords shown once; sign in at / or "
             f"POST /v1/session):"]
    for name, role in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(12)  # 16 characters, 96 random bits
        try:
            add_user(crm.command_service, directory, ctx, name=name, roles=[role], teams=[],
                     password=password)
        except (DomainError, WeakPassword):
            continue  # the account exists already, or (never) the password was refused
        lines.append(f"  {name:<10} {role:<14} {password}")
    return "\n".join(lines)
