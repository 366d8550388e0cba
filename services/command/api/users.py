"""Admin routes on the tenant's local accounts: list them, add one, give one a new password,
disable one. The same events and checks as `crm users` (services/command/accounts.py); a
password is never logged nor answered, except one the server generated, in that answer only.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, SecretStr, model_validator

from services.command.accounts import add_user, change_password, disable_user
from services.command.api.deps import Context, Run, Service
from services.command.domain.errors import RuleViolation
from services.command.service import CommandResult
from services.common.auth.permissions import ROLES
from services.common.auth.sessions import Sessions
from services.common.auth.users import (
    MAX_PASSWORD_LENGTH,
    USER_ROLES_EXCLUDED,
    UserRecord,
    WeakPassword,
    check_password,
)
from services.common.web import ERROR_RESPONSES, ApiError

router = APIRouter(prefix="/v1/admin/users", tags=["access"], responses=ERROR_RESPONSES)
PERSON_ROLES = [role for role in ROLES if role not in USER_ROLES_EXCLUDED]
UserName = Annotated[str, Path(min_length=1, max_length=128, description="The account's name.")]
NO_STORE = {"Cache-Control": "no-store"}


class NewUserIn(BaseModel):
    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=128, description="The id the account acts as "
                      "(the actor of what it writes, an owner or assignee).", examples=["rep-7"])
    roles: list[str] = Field(min_length=1, max_length=len(PERSON_ROLES),
                             description=f"Any of: {', '.join(PERSON_ROLES)}.",
                             examples=[["sales_rep"]])
    teams: list[str] = Field(default_factory=list, max_length=50)
    display_name: str | None = Field(default=None, max_length=200)
    password: SecretStr | None = Field(default=None, max_length=MAX_PASSWORD_LENGTH,
                                       description="The first password (12 characters or "
                                       "more, not a common one); leave it out with "
                                       "`generate_password`.")
    generate_password: bool = Field(default=False, description="Let the server choose the "
                                    "password and answer it, this once.")

    @model_validator(mode="after")
    def _one_password(self) -> NewUserIn:
        if (self.password is None) == (not self.generate_password):
            raise ValueError("give a password or generate_password: true, not both")
        return self


class NewPasswordIn(BaseModel):
    model_config = {"extra": "forbid"}

    password: SecretStr | None = Field(default=None, max_length=MAX_PASSWORD_LENGTH)
    generate_password: bool = False

    @model_validator(mode="after")
    def _one_password(self) -> NewPasswordIn:
        if (self.password is None) == (not self.generate_password):
            raise ValueError("give a password or generate_password: true, not both")
        return self


class DisableIn(BaseModel):
    model_config = {"extra": "forbid"}

    reason: str | None = Field(default=None, max_length=500,
                               description="Recorded with the change.")


class UserOut(BaseModel):
    name: str
    display_name: str | None
    roles: list[str]
    teams: list[str]
    disabled: bool
    created_at: datetime
    created_by: str
    password_changed_at: datetime | None
    disabled_at: datetime | None
    disabled_by: str | None


class UserList(BaseModel):
    users: list[UserOut] = Field(description="Oldest first.")


class UserChanged(BaseModel):
    name: str
    version: int
    position: int
    password: str | None = Field(default=None, description="The password the server "
                                 "generated, shown in this answer only; null when you gave one.")


def _sessions(request: Request) -> Sessions:
    sessions: Sessions | None = getattr(request.app.state, "sessions", None)
    if sessions is None:
        raise ApiError(503, "accounts_unavailable", "this server keeps no accounts")
    return sessions


def _out(record: UserRecord) -> UserOut:
    return UserOut(name=record.name, display_name=record.display_name, roles=list(record.roles),
                   teams=list(record.teams), disabled=record.disabled_at is not None,
                   created_at=record.created_at, created_by=record.created_by,
                   password_changed_at=record.password_changed_at,
                   disabled_at=record.disabled_at, disabled_by=record.disabled_by)


def _password(given: SecretStr | None, name: str) -> tuple[str, bool]:
    """The password to set, and whether the server generated it."""
    if given is not None:
        return given.get_secret_value(), False
    while True:
        password = secrets.token_urlsafe(12)  # 16 characters, 96 random bits
        try:
            return check_password(password, name), True
        except WeakPassword:
            continue


def _answer(name: str, result: CommandResult, password: str | None,
            status_code: int = 200) -> JSONResponse:
    body = UserChanged(name=name, version=result.version, position=result.position,
                       password=password)
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code,
                        headers=NO_STORE)


def _weak(exc: WeakPassword) -> ApiError:
    return ApiError(422, "weak_password", str(exc))


@router.get("", response_model=UserList,
            summary="The local accounts of your tenant (never a password or its hash)")
async def list_users(request: Request, run: Run, ctx: Context) -> UserList:
    records = await run(_sessions(request).users.users, ctx.tenant_id)
    return UserList(users=[_out(record) for record in records])


@router.post("", status_code=201, response_model=UserChanged,
             summary="Add a local account (a generated password is in this answer only)")
async def create_user(body: NewUserIn, request: Request, service: Service, run: Run,
                      ctx: Context) -> JSONResponse:
    password, generated = _password(body.password, body.name)
    directory = _sessions(request).users
    try:
        result = await run(add_user, service, directory, ctx, name=body.name,
                           roles=body.roles, teams=body.teams, password=password,
                           display_name=body.display_name)
    except WeakPassword as exc:
        raise _weak(exc) from None
    await run(directory.refresh)
    return _answer(body.name, result, password if generated else None, 201)


@router.post("/{name}/password", response_model=UserChanged,
             summary="Give an account a new password; its sessions end")
async def reset_password(name: UserName, body: NewPasswordIn, request: Request,
                         service: Service, run: Run, ctx: Context) -> JSONResponse:
    password, generated = _password(body.password, name)
    sessions = _sessions(request)
    try:
        result = await run(change_password, service, sessions.users, sessions, ctx, name,
                           password)
    except WeakPassword as exc:
        raise _weak(exc) from None
    return _answer(name, result, password if generated else None)


@router.post("/{name}/disable", response_model=UserChanged,
             summary="Disable an account: it may not sign in, and its sessions end")
async def disable(name: UserName, body: DisableIn, request: Request, service: Service,
                  run: Run, ctx: Context) -> JSONResponse:
    if name == ctx.actor:
        raise RuleViolation("own_account", "you cannot disable the account you act as")
    sessions = _sessions(request)
    result = await run(disable_user, service, sessions.users, sessions, ctx, name, body.reason)
    return _answer(name, result, None)
