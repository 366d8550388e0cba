"""FastAPI dependencies of the command API: the service, the caller's context, conditions."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse

from services.command.api.runner import CommandRunner
from services.command.domain.aggregate import CommandContext
from services.command.service import CommandResult, CommandService, Idempotency
from services.common.auth.http import CallerDep
from services.common.web import ApiError

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_ETAG = re.compile(r'^(W/)?"?(\d{1,10})"?$')


# Dependencies are `async def` although none of them waits: a sync dependency would cost a hop
# to a worker thread and back on every request (see runner.py).


async def _service(request: Request) -> CommandService:
    service: CommandService = request.app.state.command_service
    return service


async def _runner(request: Request) -> CommandRunner:
    runner: CommandRunner = request.app.state.command_runner
    return runner


def _uuid_header(name: str, value: str | None) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError:
        raise ApiError(400, "invalid_header", f"{name} must be a UUID", header=name) from None


async def _context(
    caller: CallerDep,
    x_correlation_id: Annotated[str | None, Header()] = None,
    x_causation_id: Annotated[str | None, Header()] = None,
) -> CommandContext:
    """The command's context: its actor and tenant are the caller's, never a header's."""
    return CommandContext(
        actor=caller.actor, tenant_id=caller.tenant_id,
        correlation_id=_uuid_header("X-Correlation-ID", x_correlation_id) or uuid4(),
        causation_id=_uuid_header("X-Causation-ID", x_causation_id),
        acting_as_admin="admin" in caller.principal.roles, book=caller.book.people,
    )


async def _idempotency(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(description="Retrying with the same key returns the first result, writes nothing."),
    ] = None,
) -> Idempotency | None:
    if idempotency_key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise ApiError(400, "invalid_header",
                       "Idempotency-Key must be 1-255 printable ASCII characters",
                       header="Idempotency-Key")
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\0" + request.url.path.encode() + b"\0")
    digest.update(await request.body())
    return Idempotency(idempotency_key, digest.hexdigest())


async def _if_match(
    if_match: Annotated[str | None, Header(description="Expected aggregate version (ETag).")] = None,
) -> int | None:
    if if_match is None:
        return None
    found = _ETAG.match(if_match.strip())
    if not found:
        raise ApiError(400, "invalid_header", "If-Match must be an aggregate version such as \"3\"",
                       header="If-Match")
    return int(found.group(2))


Service = Annotated[CommandService, Depends(_service)]
Run = Annotated[CommandRunner, Depends(_runner)]
"""Runs a blocking service call off the event loop: `await run(service.tag_customer, ...)`."""
Context = Annotated[CommandContext, Depends(_context)]
IdempotencyHeader = Annotated[Idempotency | None, Depends(_idempotency)]
IfMatch = Annotated[int | None, Depends(_if_match)]


def expected_version(body_version: int | None, if_match: int | None) -> int | None:
    if body_version is not None and if_match is not None and body_version != if_match:
        raise ApiError(400, "conflicting_conditions",
                       "expected_version and If-Match name different versions",
                       expected_version=body_version, if_match=if_match)
    return body_version if body_version is not None else if_match


def accepted(result: CommandResult) -> JSONResponse:
    headers = {"ETag": f'"{result.version}"'}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(result.body(), status_code=result.status_code, headers=headers)
