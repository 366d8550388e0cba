"""The command API as an app: write routes and the translation of domain errors to HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.command.api import (
    alerts,
    customers,
    keys,
    leads,
    notes,
    rules,
    tasks,
    tickets,
    users,
)
from services.command.api.runner import CommandRunner
from services.command.domain.errors import (
    DomainError,
    Duplicate,
    IdempotencyKeyReused,
    NotFound,
    RuleViolation,
    VersionConflict,
)
from services.command.service import CommandService
from services.common.auth import me, oidc_login, session_api
from services.common.auth.http import AUTHORIZED
from services.common.settings import Settings
from services.common.web import (
    error_response,
    install_error_handlers,
    install_health,
)

DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    VersionConflict: 409,
    Duplicate: 409,
    RuleViolation: 422,
    IdempotencyKeyReused: 422,
}


def include_command_routes(app: FastAPI, service: CommandService) -> None:
    """Mount the command routes and their error translation on an app (also used by `crm serve`)."""
    app.state.command_service = service
    app.state.command_runner = CommandRunner()
    for module in (customers, leads, tickets, tasks, notes, alerts, rules, keys, users):
        app.include_router(module.router, dependencies=AUTHORIZED)

    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
        status = next((code for cls, code in DOMAIN_STATUS.items() if isinstance(exc, cls)), 422)
        headers = (
            {"ETag": f'"{exc.current_version}"'} if isinstance(exc, VersionConflict) else None
        )
        return error_response(status, exc.code, exc.message, exc.details, headers)


def command_app(settings: Settings, service: CommandService) -> FastAPI:
    """The command API on a command service the caller owns (services/bootstrap.py)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.command_runner.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Chronicle CRM — command API",
        version="1",
        description="Every change is an immutable event. Writes answer with the ids, the "
        "aggregate's new version and the global position of the last event written.",
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_health(app)
    include_command_routes(app, service)
    app.include_router(me.router)
    app.include_router(session_api.router)
    app.include_router(oidc_login.router)
    return app
