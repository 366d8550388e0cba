"""The account commands `crm users` and `crm serve --demo` run: each records its event
through the command service and keeps the password's hash beside the events
(services/common/auth/users.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.command.domain.aggregate import CommandContext
from services.command.domain.errors import NotFound, RuleViolation
from services.common.auth.users import (
    TEAM_ID,
    USER_ROLES_EXCLUDED,
    UserDirectory,
    check_password,
    hash_password,
    user_id_of,
)

if TYPE_CHECKING:
    from services.command.execution import CommandResult
    from services.command.service import CommandService
    from services.common.auth.sessions import Sessions


def check_roles_and_teams(roles: list[str], teams: list[str]) -> None:
    excluded = sorted(set(roles) & set(USER_ROLES_EXCLUDED))
    if excluded:
        raise RuleViolation("invalid_roles", "an account is a person's: the integration role "
                            "is for API keys", unknown=excluded)
    bad = sorted(team for team in teams if not TEAM_ID.fullmatch(team))
    if bad:
        raise RuleViolation("invalid_teams", "a team id is 1-64 letters, digits and . _ -",
                            teams=bad)


def add_user(service: CommandService, directory: UserDirectory, ctx: CommandContext, *,
             name: str, roles: list[str], teams: list[str], password: str,
             display_name: str | None = None) -> CommandResult:
    """Add an account with its password: the event first (refused if the name is taken),
    then the hash. WeakPassword or a DomainError when refused; nothing is written then."""
    check_password(password, name)
    check_roles_and_teams(roles, teams)
    password_hash = hash_password(password)
    result = service.add_user(ctx, user_id_of(ctx.tenant_id, name), name=name, roles=roles,
                              teams=teams, display_name=display_name)
    directory.passwords.set(ctx.tenant_id, name, password_hash)
    return result


def change_password(service: CommandService, directory: UserDirectory, sessions: Sessions,
                    ctx: CommandContext, name: str, password: str) -> CommandResult:
    """Set an account's password anew and end its sessions."""
    check_password(password, name)
    record = directory.get(ctx.tenant_id, name, fresh=True)
    if record is None:
        raise NotFound("user", name)
    password_hash = hash_password(password)
    result = service.record_password_change(ctx, record.user_id)
    directory.passwords.set(ctx.tenant_id, name, password_hash)
    sessions.end_all(ctx.tenant_id, name)
    return result


def disable_user(service: CommandService, directory: UserDirectory, sessions: Sessions,
                 ctx: CommandContext, name: str, reason: str | None = None) -> CommandResult:
    """Disable an account: it may not sign in, and its sessions end now."""
    record = directory.get(ctx.tenant_id, name, fresh=True)
    if record is None:
        raise NotFound("user", name)
    result = service.disable_user(ctx, record.user_id, reason)
    sessions.end_all(ctx.tenant_id, name)
    directory.refresh()
    return result
