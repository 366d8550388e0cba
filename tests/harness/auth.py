"""API keys for tests: the suite reaches the APIs the way every client does, with a key.

`Keys` issues a key per (tenant, subject, roles, scopes) on first use, through the command
service, as `crm keys create` does, and keeps it for the rest of the run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI

from services.command.domain.aggregate import CommandContext
from services.command.service import CommandService

ISSUER = CommandContext(actor="cli:tests", tenant_id="default")


class Keys:
    def __init__(self, service: CommandService) -> None:
        self.service = service
        self._tokens: dict[tuple[Any, ...], str] = {}
        self._lock = threading.Lock()

    def token(self, tenant: str = "default", subject: str = "tester",
              roles: Iterable[str] = ("admin",), scopes: Iterable[str] = ()) -> str:
        wanted = (tenant, subject, tuple(sorted(roles)), tuple(sorted(scopes)))
        with self._lock:
            if wanted not in self._tokens:
                ctx = CommandContext(actor=ISSUER.actor, tenant_id=tenant)
                _, issued = self.service.create_api_key(
                    ctx, subject=subject, roles=list(wanted[2]), scopes=list(wanted[3]),
                    expires_at=None)
                self._tokens[wanted] = issued.token
            return self._tokens[wanted]

    def headers(self, tenant: str = "default", subject: str = "tester",
                roles: Iterable[str] = ("admin",), scopes: Iterable[str] = ()) -> dict[str, str]:
        """`Authorization` (and `X-Tenant-ID`) for a request as `subject` in `tenant`."""
        return {"Authorization": f"Bearer {self.token(tenant, subject, roles, scopes)}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fastapi_app(app: Any) -> FastAPI:
    """The FastAPI app inside the ASGI layers `Chronicle` wraps it in."""
    while not isinstance(app, FastAPI):
        app = app.app
    return app


def keys_of(app: Any) -> Keys:
    """Keys issued through the command service of an app that serves the command routes."""
    inner = fastapi_app(app)
    keys: Keys | None = getattr(inner.state, "test_keys", None)
    if keys is None:
        keys = inner.state.test_keys = Keys(inner.state.command_service)
    return keys
