"""Authentication and authorisation at the HTTP edge, in one place for both APIs.

`RequireAuthentication` (ASGI middleware) turns the `Authorization: Bearer` credential (or,
without one, a browser session's cookie, with its CSRF check on writes) into a principal before
any route, body or parameter is looked at: without valid credentials every path but the public
ones answers 401. `authorize` (a dependency on every router) then picks
the tenant, refuses `X-Actor`, and checks the route's action against the permission table.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.auth.book import WHOLE_TENANT, Book, book_of
from services.common.auth.keys import InvalidKey, KeyRing, looks_like_key
from services.common.auth.oidc import InvalidToken, OidcVerifier, TokenIdentity
from services.common.auth.permissions import (
    ACTION_OF,
    PUBLIC_PATHS,
    PUBLIC_ROUTES,
    ROLES,
    scope_of,
)
from services.common.auth.permissions import Scope as RecordScope
from services.common.auth.principal import (
    ANONYMOUS,
    ANY_TENANT,
    TENANT_ID_RULE,
    Credential,
    Principal,
    check_tenant_id,
    is_reserved,
)
from services.common.auth.sessions import (
    SESSION_COOKIE,
    CsrfFailed,
    InvalidSession,
    Sessions,
    check_csrf,
)
from services.common.auth.stream_tickets import InvalidTicket, StreamTickets, ticket_of
from services.common.limited import enforce_rate_limits
from services.common.settings import Settings
from services.common.tenancy import READING_TENANT
from services.common.web import ApiError

log = logging.getLogger("chronicle.auth")

INSECURE_PRINCIPAL = Principal(subject=ANONYMOUS, tenants=(ANY_TENANT,),
                               roles=frozenset({"admin"}), credential="none")


class NotAuthenticated(Exception):
    """No credentials, or credentials that are not valid; the message is safe to show."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Authenticator:
    """Who a request's credentials name: an API key from the key ring, an OIDC access
    token from the configured identity provider, or a browser session's cookie."""

    def __init__(self, settings: Settings, ring: KeyRing | None,
                 tickets: StreamTickets | None = None, sessions: Sessions | None = None) -> None:
        self.settings = settings
        self.ring = ring
        self.tickets = tickets
        """Redeems the tickets a browser opens the event stream with (stream_tickets.py)."""
        self.sessions = sessions
        """Checks the session cookies of signed-in accounts (sessions.py)."""
        self.enabled = settings.auth_mode == "on"
        if not self.enabled and not is_loopback(settings.host):
            raise ValueError(f"authentication is off, so the API may listen on a loopback "
                             f"address only, not {settings.host}")
        self.oidc = OidcVerifier(settings) if OidcVerifier.configured(settings) else None

    async def principal_of(self, headers: Headers, scope: Scope | None = None) -> Principal:
        if not self.enabled:
            return INSECURE_PRINCIPAL
        value = headers.get("authorization")
        if not value:
            ticket = ticket_of(scope) if scope is not None else None
            if ticket is not None:  # only GET /v1/stream takes one
                return await run_in_threadpool(self._ticket_principal, ticket)
            session = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
            if session and self.sessions is not None:
                principal = await run_in_threadpool(self._session_principal, session)
                check_csrf(scope.get("method", "GET") if scope is not None else "GET",
                           headers, session)  # CsrfFailed: 403
                return principal
            raise NotAuthenticated("credentials are required: send Authorization: Bearer "
                                   "<API key or access token>, or sign in (POST /v1/session)")
        scheme, _, token = value.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticated("send the credentials as Authorization: Bearer <token>")
        if looks_like_key(token):
            return await self._key_principal(token)
        if self.oidc is None:
            raise NotAuthenticated("the credentials are not an API key, and no identity "
                                   "provider is configured for access tokens")
        return await run_in_threadpool(self._token_principal, token)

    async def _key_principal(self, token: str) -> Principal:
        ring = self.ring
        if ring is None:
            raise NotAuthenticated("API keys are not accepted here")
        try:
            if ring.is_fresh():
                try:
                    return ring.check(token)  # from memory: no thread hop
                except InvalidKey:
                    pass  # perhaps issued a moment ago elsewhere: look again, off the loop
            return await run_in_threadpool(_checked_after_refresh, ring, token)
        except InvalidKey as exc:
            raise NotAuthenticated(str(exc)) from None

    def _ticket_principal(self, ticket: str) -> Principal:
        if self.tickets is None:
            raise NotAuthenticated("stream tickets are not accepted here")
        try:
            principal = self.tickets.redeem(ticket)
        except InvalidTicket as exc:
            raise NotAuthenticated(str(exc)) from None
        if principal.key_id is not None and (
                self.ring is None or not self.ring.still_valid(principal.key_id)):
            raise NotAuthenticated("the API key the stream ticket was issued with is no "
                                   "longer valid")
        return principal

    def _session_principal(self, session: str) -> Principal:
        assert self.sessions is not None
        try:
            return self.sessions.principal(session)
        except InvalidSession as exc:
            raise NotAuthenticated(str(exc)) from None

    def _token_principal(self, token: str) -> Principal:
        assert self.oidc is not None
        try:
            identity = self.oidc.verify(token)
        except InvalidToken as exc:
            raise NotAuthenticated(exc.reason) from None
        return principal_of_identity(identity, self.settings)


class NoTenant(NotAuthenticated):
    """The token names no tenant the CRM knows how to read."""


def principal_of_identity(identity: TokenIdentity, settings: Settings,
                          credential: Credential = "oidc") -> Principal:
    """The principal a verified token speaks for (an access token, or the ID token of a
    browser sign-in): its valid tenants, the roles the CRM knows, its teams."""
    if is_reserved(identity.subject):
        raise NotAuthenticated("the token's subject is reserved for the system")
    tenants = tuple(t for t in identity.tenants if _valid_tenant(t))
    if not tenants:
        raise NoTenant(f"the token names no tenant (claim {settings.auth_claim_tenant!r})")
    return Principal(subject=identity.subject, tenants=tenants,
                     roles=frozenset(r for r in identity.roles if r in ROLES),
                     teams=frozenset(identity.teams), display_name=identity.display_name,
                     credential=credential)


def _checked_after_refresh(ring: KeyRing, token: str) -> Principal:
    ring.refresh()
    return ring.check(token)


def _valid_tenant(value: str) -> bool:
    try:
        check_tenant_id(value)
    except ValueError:
        return False
    return True


class RequireAuthentication:
    """401 for every path but the public ones unless the request carries valid credentials;
    the principal is left in the request's state for `authorize`."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS or (
                scope["method"], scope["path"]) in PUBLIC_ROUTES:
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.authenticator.principal_of(Headers(scope=scope), scope)
        except NotAuthenticated as exc:
            await _unauthorized(send, str(exc))
            return
        except CsrfFailed as exc:
            await _refused(send, 403, "csrf_failed", str(exc))
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


async def _refused(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"code": code, "message": message, "details": {}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _unauthorized(send: Send, message: str) -> None:
    body = json.dumps({"code": "unauthorized", "message": message, "details": {}}).encode()
    challenge = f'Bearer error="invalid_token", error_description="{message}"'
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", challenge.encode())]})
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class Caller:
    """The principal of a request, the tenant it acts in, how far the route's action reaches
    for it (`scope`), and so which records (`book`)."""

    principal: Principal
    tenant_id: str
    action: str
    scope: RecordScope
    book: Book = WHOLE_TENANT

    @property
    def actor(self) -> str:
        return self.principal.subject


BEARER = HTTPBearer(auto_error=False, description="An API key (`crm keys create`) or an "
                    "OIDC access token from the company's identity provider.")
"""Documents the credential in OpenAPI (the check itself is `RequireAuthentication`'s)."""


async def authorize(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    x_tenant_id: Annotated[str | None, Header(
        description="Which of your tenants to act in; default: the first your credentials "
        "name.")] = None,
) -> Caller:
    """The caller of a route, or 400/403 (429 past the rate limits): mounted on every router,
    so no route goes without."""
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    if principal is None:  # the app was served without RequireAuthentication in front
        raise ApiError(401, "unauthorized", "credentials are required")
    if "x-actor" in request.headers:
        raise ApiError(400, "invalid_header", "X-Actor is not accepted: the actor is who your "
                       "credentials name", header="X-Actor")
    tenant = x_tenant_id if x_tenant_id is not None else principal.tenants[0]
    if tenant == ANY_TENANT:
        tenant = request.app.state.settings.default_tenant
    try:
        check_tenant_id(tenant)
    except ValueError:
        raise ApiError(400, "invalid_header", f"X-Tenant-ID must be {TENANT_ID_RULE}",
                       header="X-Tenant-ID") from None
    if not principal.may_act_in(tenant):
        raise ApiError(403, "tenant_not_allowed", "your credentials do not give access to "
                       "this tenant", tenant_id=tenant)
    route = request.scope["route"]
    method = "GET" if request.method == "HEAD" else request.method
    action = ACTION_OF[(method, route.path)]
    scope = scope_of(principal, action)
    if scope is None:
        raise ApiError(403, "forbidden", f"your roles do not allow {action}", action=action,
                       roles=sorted(principal.roles))
    await enforce_rate_limits(request, principal.subject, tenant)  # 429 past the limits
    book = WHOLE_TENANT
    if scope != "tenant":
        teams, managers = ((), {}) if scope == "own" else await run_in_threadpool(
            request.app.state.org_of, tenant)
        book = book_of(principal, scope, teams, managers)
    caller = Caller(principal, tenant, action, scope, book)
    request.state.caller = caller
    people = getattr(request.app.state, "people", None)
    if principal.display_name and people is not None \
            and not people.knows(tenant, principal.subject, principal.display_name):
        # The audit history shows this name beside the (often opaque) subject.
        await run_in_threadpool(people.note, tenant, principal.subject, principal.display_name)
    READING_TENANT.set(tenant)  # the database's own wall, where there is one
    return caller


OrgOf = Callable[[str], tuple[Sequence[tuple[str, Sequence[str]]], Mapping[str, str]]]
"""`app.state.org_of(tenant)`: the tenant's teams (id, members) and managers (person ->
manager), from its rules file."""


CallerDep = Annotated[Caller, Depends(authorize)]
"""A route's caller (the same object `authorize` made for the router: FastAPI caches it)."""
AUTHORIZED = [Depends(authorize)]
"""`include_router(router, dependencies=AUTHORIZED)`: every route of the router checked."""
