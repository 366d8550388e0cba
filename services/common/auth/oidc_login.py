"""Signing in in the browser at the company's identity provider: the OpenID Connect
authorization code flow with PKCE (RFC 7636), for a confidential or a public client.

`GET /v1/session/oidc/start?next=/path` keeps a pending sign-in server side (its state, nonce,
PKCE verifier, redirect URI and where to go next; ten minutes, single use) in
`crm_oidc_sign_ins`, binds it to this browser with the `crm_oidc` cookie (HttpOnly,
SameSite=Lax: the provider sends the browser back with a cross-site top-level GET), and
redirects to the provider's authorization endpoint (from the issuer's discovery document).
`GET /v1/session/oidc/callback` takes the pending sign-in back (once), exchanges the code at
the token endpoint with the verifier (and the client secret, when one is set), verifies the ID
token (oidc.py: the provider's keys, `iss`, `aud` = the client id, `exp`, `nonce`), maps its
claims to tenants, roles and teams as access tokens are mapped, and opens the same session as a
local sign-in (sessions.py). Every failure sends the browser to `/sign-in?error=<code>`.
`GET /v1/session/methods` tells the sign-in page which ways of signing in are offered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from services.common.auth.http import (
    Authenticator,
    NotAuthenticated,
    NoTenant,
    principal_of_identity,
)
from services.common.auth.oidc import InvalidToken, OidcVerifier, ProviderUnavailable
from services.common.auth.principal import Principal
from services.common.auth.session_api import NO_STORE, set_session_cookies
from services.common.auth.sessions import Sessions, TooManySignIns
from services.common.auth.users import user_id_of
from services.common.event_store import ChronicleStore, side_table
from services.common.settings import Settings

log = logging.getLogger("chronicle.auth")

PENDING_TABLE = "crm_oidc_sign_ins"
PENDING_FOR = timedelta(minutes=10)
BINDING_COOKIE = "crm_oidc"
CALLBACK_PATH = "/v1/session/oidc/callback"
SIGN_IN_PAGE = "/sign-in"
CALLBACK_FAILURES = 20
"""Failed callbacks from one address within the sign-in window before further ones are
refused (`too_many_attempts`)."""
STARTS = 100
"""Sign-ins one address may start within the sign-in window (each keeps a pending row)."""
_MAX_DOCUMENT_BYTES = 1024 * 1024
_MAX_NEXT_CHARS = 2000
_PROVIDER_ERROR = re.compile(r"^[a-z_]{1,64}$")

# The `error` codes the sign-in page explains (services/web/src/i18n/messages.ts).
CANCELLED = "cancelled"
PROVIDER_ERROR = "provider_error"
BAD_STATE = "bad_state"
EXCHANGE_FAILED = "exchange_failed"
BAD_TOKEN = "bad_token"
NO_TENANT = "no_tenant"
NO_ROLE = "no_role"
TOO_MANY = "too_many_attempts"
UNAVAILABLE = "provider_unavailable"
NOT_OFFERED = "not_offered"
FAILED = "failed"


class SignInFailed(Exception):
    """Why a sign-in at the provider did not open a session: one of the codes above."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Pending:
    """A sign-in sent to the provider and not back yet."""

    binding: str
    """The digest of the `crm_oidc` cookie of the browser that started it."""
    nonce: str
    verifier: str
    next_path: str
    redirect_uri: str
    expires_at: datetime


class PendingSignIns:
    """Pending sign-ins by the digest of their state, beside the store's events (in memory for
    the in-memory store); each is taken back once."""

    def __init__(self, store: ChronicleStore) -> None:
        self._table = side_table(store, PENDING_TABLE)
        self._table.create("state TEXT PRIMARY KEY, binding TEXT NOT NULL, nonce TEXT NOT NULL, "
                           "verifier TEXT NOT NULL, next_path TEXT NOT NULL, "
                           "redirect_uri TEXT NOT NULL, expires_at TEXT NOT NULL")
        self._memory: dict[str, Pending] = store.__dict__.setdefault("_crm_oidc_sign_ins", {})
        self._lock = threading.Lock()

    def keep(self, state: str, pending: Pending, now: datetime) -> None:
        digest = _digest(state)
        if self._table.datastore is None:
            with self._lock:
                for ended in [k for k, p in self._memory.items() if p.expires_at <= now]:
                    self._memory.pop(ended, None)
                self._memory[digest] = pending
            return
        self._table.execute("DELETE FROM {t} WHERE expires_at < ?", (_text(now),))
        self._table.execute(
            "INSERT INTO {t} (state, binding, nonce, verifier, next_path, redirect_uri, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (digest, pending.binding, pending.nonce, pending.verifier, pending.next_path,
             pending.redirect_uri, _text(pending.expires_at)))

    def take(self, state: str) -> Pending | None:
        """The pending sign-in of a state, removed so that it is never taken twice."""
        digest = _digest(state)
        if self._table.datastore is None:
            with self._lock:
                return self._memory.pop(digest, None)
        sql = (f"DELETE FROM {self._table.name} WHERE state = ? RETURNING binding, nonce, "
               "verifier, next_path, redirect_uri, expires_at").replace("?", self._table.mark)
        with self._table.datastore.transaction(commit=True) as cursor:
            cursor.execute(sql, (digest,))
            found = cursor.fetchall()
        if not found:
            return None
        row = found[0]
        binding, nonce, verifier, next_path, redirect_uri, expires_at = (
            tuple(row.values()) if isinstance(row, dict) else tuple(row))
        return Pending(str(binding), str(nonce), str(verifier), str(next_path),
                       str(redirect_uri), datetime.fromisoformat(str(expires_at)))


class OidcLogin:
    """The browser sign-in at the identity provider of `auth_issuer`, as client
    `oidc_client_id`."""

    def __init__(self, settings: Settings, verifier: OidcVerifier, store: ChronicleStore,
                 sessions: Sessions, fetch_timeout_s: float = 10.0) -> None:
        if not settings.oidc_client_id or not settings.auth_issuer:
            raise ValueError("signing in at the identity provider needs CRM_OIDC_CLIENT_ID "
                             "and CRM_AUTH_ISSUER")
        self.settings = settings
        self.client_id: str = settings.oidc_client_id
        secret = settings.oidc_client_secret
        self._secret = secret.get_secret_value() if secret is not None else None
        self.redirect_url = settings.oidc_redirect_url or None
        self.scope = " ".join(dict.fromkeys(["openid", *settings.oidc_scopes.split()]))
        self.display_name = settings.oidc_display_name or None
        self.verifier = verifier
        self.sessions = sessions
        self.pending = PendingSignIns(store)
        self._fetch_timeout_s = fetch_timeout_s

    def begin(self, next_path: str, redirect_uri: str) -> tuple[str, str]:
        """Where to send the browser (the provider's authorization endpoint) and the value
        of the cookie that binds the sign-in to it; ProviderUnavailable, SignInFailed."""
        endpoint = self._endpoint("authorization_endpoint")
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier, binding = secrets.token_urlsafe(48), secrets.token_urlsafe(32)
        now = self.sessions.clock.now()
        self.pending.keep(state, Pending(_digest(binding), nonce, verifier, next_path,
                                         redirect_uri, now + PENDING_FOR), now)
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode({"response_type": "code", "client_id": self.client_id,
                           "redirect_uri": redirect_uri, "scope": self.scope, "state": state,
                           "nonce": nonce, "code_challenge": challenge,
                           "code_challenge_method": "S256"})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", binding

    def finish(self, code: str, state: str, binding: str | None) -> tuple[Principal, str]:
        """The principal the provider signed in, and where to send the browser next;
        SignInFailed with the code the sign-in page explains."""
        pending = self.pending.take(state)
        if pending is None or binding is None or not hmac.compare_digest(
                pending.binding, _digest(binding)):
            raise SignInFailed(BAD_STATE)
        if self.sessions.clock.now() >= pending.expires_at:
            raise SignInFailed(BAD_STATE)
        id_token = self._exchange(code, pending)
        try:
            identity = self.verifier.verify_id_token(id_token, self.client_id, pending.nonce)
        except InvalidToken as exc:
            log.info("the provider's ID token was refused: %s", exc.reason)
            raise SignInFailed(BAD_TOKEN) from None
        try:
            principal = principal_of_identity(identity, self.settings, "session")
        except NoTenant:
            raise SignInFailed(NO_TENANT) from None
        except NotAuthenticated:
            raise SignInFailed(BAD_TOKEN) from None
        if not principal.roles:
            raise SignInFailed(NO_ROLE)
        return principal, pending.next_path

    def _endpoint(self, name: str) -> str:
        document = self.verifier.discovery()
        endpoint = document.get(name)
        if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in ("http", "https"):
            log.warning("the discovery document names no usable %s", name)
            raise ProviderUnavailable()
        return endpoint

    def _exchange(self, code: str, pending: Pending) -> str:
        """The ID token the token endpoint answers for a code."""
        try:
            endpoint = self._endpoint("token_endpoint")
        except ProviderUnavailable:
            raise SignInFailed(UNAVAILABLE) from None
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": pending.redirect_uri, "code_verifier": pending.verifier,
                "client_id": self.client_id}
        headers = {"Accept": "application/json",
                   "Content-Type": "application/x-www-form-urlencoded"}
        if self._secret is not None:
            methods = self.verifier.discovery().get("token_endpoint_auth_methods_supported")
            if isinstance(methods, list) and "client_secret_basic" not in methods \
                    and "client_secret_post" in methods:
                form["client_secret"] = self._secret
            else:  # RFC 6749 §2.3.1: both form-encoded, then Basic
                pair = f"{quote(self.client_id, safe='')}:{quote(self._secret, safe='')}"
                headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        request = urllib.request.Request(endpoint, data=urlencode(form).encode(),
                                         headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._fetch_timeout_s) as response:
                body = response.read(_MAX_DOCUMENT_BYTES + 1)
        except urllib.error.HTTPError as exc:
            log.info("the token endpoint refused the code: HTTP %s", exc.code)
            raise SignInFailed(EXCHANGE_FAILED) from None
        except Exception as exc:  # URLError, timeouts, protocol errors
            log.warning("the token endpoint could not be reached: %s", type(exc).__name__)
            raise SignInFailed(EXCHANGE_FAILED) from None
        try:
            answer: Any = json.loads(body) if len(body) <= _MAX_DOCUMENT_BYTES else None
        except ValueError:
            answer = None
        id_token = answer.get("id_token") if isinstance(answer, dict) else None
        if not isinstance(id_token, str) or not id_token:
            log.info("the token endpoint answered no ID token")
            raise SignInFailed(EXCHANGE_FAILED)
        return id_token


def oidc_login_of(settings: Settings, authenticator: Authenticator,
                  store: ChronicleStore) -> OidcLogin | None:
    """The browser sign-in at the identity provider, when configured (and authentication is
    on); a ValueError when the client id is set without an issuer."""
    if not settings.oidc_client_id:
        return None
    if not settings.auth_issuer:
        raise ValueError("CRM_OIDC_CLIENT_ID needs CRM_AUTH_ISSUER (the identity provider)")
    if authenticator.oidc is None or authenticator.sessions is None:
        return None
    return OidcLogin(settings, authenticator.oidc, store, authenticator.sessions)


def safe_next(value: str | None) -> str:
    """A path of this site to go to after signing in; `/` for anything else (another site,
    a scheme, `//host`, a backslash, control characters)."""
    if not value or len(value) > _MAX_NEXT_CHARS or not value.startswith("/") \
            or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


# -- the routes -----------------------------------------------------------------------------

router = APIRouter(prefix="/v1/session", tags=["identity"])


class OidcMethod(BaseModel):
    display_name: str | None = Field(description="The provider's name for the button; null: "
                                     "the page says \"your organisation\".")
    start: str = Field(description="Where the browser goes to sign in there (add `next`).")


class SignInMethods(BaseModel):
    local_accounts: bool = Field(description="Whether names and passwords sign in "
                                 "(`POST /v1/session`).")
    oidc: OidcMethod | None = Field(description="Signing in at the company's identity "
                                    "provider, when offered.")


def _login(request: Request) -> OidcLogin | None:
    login: OidcLogin | None = getattr(request.app.state, "oidc_login", None)
    return login


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _failed(code: str) -> Response:
    response = RedirectResponse(f"{SIGN_IN_PAGE}?error={code}", status_code=303,
                                headers=NO_STORE)
    response.delete_cookie(BINDING_COOKIE, path="/v1/session/oidc", httponly=True,
                           samesite="lax")
    return response


@router.get("/methods", response_model=SignInMethods, summary="The ways of signing in this "
            "server offers (for the sign-in page; no credentials needed)")
async def sign_in_methods(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    sessions: Sessions | None = getattr(request.app.state, "sessions", None)
    login = _login(request)
    answer = SignInMethods(
        local_accounts=sessions is not None and settings.local_accounts,
        oidc=OidcMethod(display_name=login.display_name, start="/v1/session/oidc/start")
        if login is not None else None)
    return JSONResponse(answer.model_dump(mode="json"), headers=NO_STORE)


@router.get("/oidc/start", status_code=302, response_class=RedirectResponse,
            summary="Sign in at the company's identity provider: a redirect there",
            responses={302: {"description": "To the provider's authorization endpoint"},
                       303: {"description": "To `/sign-in?error=<code>` when it cannot start"}})
async def oidc_start(request: Request, next_path: Annotated[str | None, Query(
        alias="next", description="A path of this site to go to after signing in.")] = None,
) -> Response:
    login = _login(request)
    if login is None:
        return _failed(NOT_OFFERED)
    try:
        address = ("", "oidc-start", _client(request))
        login.sessions.limiter.check(address, STARTS)
        login.sessions.limiter.failed(address)  # every start counts, whatever comes of it
    except TooManySignIns:
        log.warning("oidc sign-in refused: too many sign-ins started from one address")
        return _failed(TOO_MANY)
    redirect_uri = login.redirect_url or str(request.url_for("oidc_callback"))
    try:
        location, binding = await run_in_threadpool(login.begin, safe_next(next_path),
                                                    redirect_uri)
    except ProviderUnavailable:
        return _failed(UNAVAILABLE)
    except Exception as exc:  # never a 500 on the way to the provider
        log.warning("oidc sign-in could not start: %s", type(exc).__name__)
        return _failed(FAILED)
    response = RedirectResponse(location, status_code=302, headers=NO_STORE)
    response.set_cookie(BINDING_COOKIE, binding, max_age=int(PENDING_FOR.total_seconds()),
                        path="/v1/session/oidc", secure=request.url.scheme == "https"
                        or login.sessions.cookie_secure, httponly=True, samesite="lax")
    return response


@router.get("/oidc/callback", name="oidc_callback", status_code=303,
            response_class=RedirectResponse,
            summary="Where the identity provider sends the browser back: opens the session",
            responses={303: {"description": "To `next` when signed in, else to "
                             "`/sign-in?error=<code>`"}})
async def oidc_callback(
        request: Request, code: str | None = None, state: str | None = None,
        error: str | None = None) -> Response:
    login = _login(request)
    if login is None:
        return _failed(NOT_OFFERED)
    address = ("", "oidc", _client(request))
    limiter = login.sessions.limiter
    try:
        limiter.check(address, CALLBACK_FAILURES)
    except TooManySignIns:
        log.warning("oidc sign-in refused: too many failed sign-ins from one address")
        return _failed(TOO_MANY)
    if error is not None:
        shown = error if _PROVIDER_ERROR.fullmatch(error) else "unrecognised"
        log.info("oidc sign-in: the provider answered error %s", shown)
        if state:
            await run_in_threadpool(login.pending.take, state)
        return _failed(CANCELLED if error == "access_denied" else PROVIDER_ERROR)
    try:
        if not code or not state or len(code) > 4096 or len(state) > 512:
            raise SignInFailed(BAD_STATE)
        principal, next_path = await run_in_threadpool(
            login.finish, code, state, request.cookies.get(BINDING_COOKIE))
        opened = await run_in_threadpool(login.sessions.open_for, principal)
    except SignInFailed as exc:
        limiter.failed(address)
        log.info("oidc sign-in failed: %s", exc.code)
        return _failed(exc.code)
    except Exception as exc:  # a surprise is a failed sign-in, never a 500
        limiter.failed(address)
        log.warning("oidc sign-in failed unexpectedly: %s", type(exc).__name__)
        return _failed(FAILED)
    limiter.succeeded(address)
    tenant = principal.tenants[0]
    log.info("sign-in at the identity provider: %s of tenant %s",
             user_id_of(tenant, principal.subject), tenant)
    response = RedirectResponse(safe_next(next_path), status_code=303, headers=NO_STORE)
    set_session_cookies(response, request, login.sessions, opened.token, opened.csrf_token)
    response.delete_cookie(BINDING_COOKIE, path="/v1/session/oidc", httponly=True,
                           samesite="lax")
    return response


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
