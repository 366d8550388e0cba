"""Composition root of the command API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.command.api import alerts, customers, leads, rules, tickets
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
from services.common.event_store import ChronicleStore, open_event_store
from services.common.settings import Settings
from services.common.web import (
    BodySizeLimit,
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
    for module in (customers, leads, tickets, alerts, rules):
        app.include_router(module.router)

    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
        status = next((code for cls, code in DOMAIN_STATUS.items() if isinstance(exc, cls)), 422)
        headers = (
            {"ETag": f'"{exc.current_version}"'} if isinstance(exc, VersionConflict) else None
        )
        return error_response(status, exc.code, exc.message, exc.details, headers)


def create_command_app(settings: Settings, store: ChronicleStore | None = None) -> BodySizeLimit:
    """The command API as an ASGI app. Opens the event store the settings point at."""
    store = store or open_event_store(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.command_runner.close()
        app.state.command_service.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Chronicle CRM — command API",
        version="1",
        description="Every change is an immutable event. Writes answer with the ids, the "
        "aggregate's new version and the global position of the last event written.",
    )
    app.state.settings = settings
    app.state.store = store
    install_error_handlers(app)
    install_health(app)
    include_command_routes(app, CommandService(store, settings))
    return BodySizeLimit(app, settings.max_body_bytes)
