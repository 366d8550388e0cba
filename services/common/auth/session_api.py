"""`/v1/session`: sign in with a local account's name and password (a browser session in a
cookie), see who is signed in, sign out. Served by both APIs, like `/v1/me`; the sessions
themselves are services/common/auth/sessions.py's."""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from services.common.auth.http import CallerDep, authorize
from services.common.auth.sessions import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfFailed,
    InvalidCredentials,
    InvalidSession,
    Sessions,
    SignedIn,
    TooManySignIns,
    check_same_origin,
    csrf_token_of,
)
from services.common.auth.users import user_id_of
from services.common.limited import TooManyRequests
from services.common.web import ERROR_RESPONSES, ApiError

log = logging.getLogger("chronicle.auth")

router = APIRouter(prefix="/v1", tags=["identity"], responses=ERROR_RESPONSES)
NO_STORE = {"Cache-Control": "no-store"}


class SignIn(BaseModel):
    model_config = {"extra": "forbid"}

    tenant: str = Field(min_length=1, max_length=64, examples=["default"])
    name: str = Field(min_length=1, max_length=128, description="The account's name (`crm "
                      "users add NAME`): the id you act as.", examples=["rep-1"])
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(BaseModel):
    subject: str = Field(description="Your id: the `actor` of every event you cause.")
    display_name: str | None
    tenant_id: str
    roles: list[str]
    teams: list[str]
    credential: str = Field(description="`session` when signed in with the cookie; otherwise "
                            "how this request authenticated (api_key, oidc).")
    csrf_token: str | None = Field(description="Send it in `X-CSRF-Token` with every POST, "
                                   "PUT, PATCH and DELETE that uses the session cookie (also "
                                   "in the `crm_csrf` cookie).")
    expires_at: datetime | None = Field(description="When the session ends at the latest (it "
                                        "ends sooner when unused for the idle timeout).")
    idle_timeout_s: float | None


def _sessions(request: Request) -> Sessions:
    sessions: Sessions | None = getattr(request.app.state, "sessions", None)
    if sessions is None:
        raise ApiError(404, "not_found", "this server does not sign people in")
    return sessions


def _secure(request: Request, sessions: Sessions) -> bool:
    return sessions.cookie_secure or request.url.scheme == "https"


@router.post("/session", response_model=SessionOut, summary="Sign in with a name and a "
             "password: a session cookie, and the CSRF token writes must carry",
             responses={401: {"description": "Wrong name or password (one answer for both)"},
                        403: {"description": "A cross-site request"},
                        404: {"description": "Local accounts are off (`CRM_LOCAL_ACCOUNTS`)"},
                        429: {"description": "Too many failed sign-ins of this name from "
                              "this address"}})
async def sign_in(body: SignIn, request: Request) -> JSONResponse:
    try:
        check_same_origin(request.headers)
    except CsrfFailed as exc:
        raise ApiError(403, "csrf_failed", str(exc)) from None
    sessions = _sessions(request)
    if not request.app.state.settings.local_accounts:
        raise ApiError(404, "not_found", "names and passwords do not sign in here: sign in "
                       "at the identity provider (GET /v1/session/methods)")
    client = request.client.host if request.client else "unknown"
    try:
        signed: SignedIn = await run_in_threadpool(sessions.sign_in, body.tenant, body.name,
                                                   body.password, client)
    except TooManySignIns as exc:
        log.warning("sign-in refused: too many failed sign-ins of one name from one address")
        raise TooManyRequests(429, "too_many_sign_ins", "too many failed sign-ins: try again "
                              "later", exc.retry_after_s) from None
    except InvalidCredentials:
        log.info("sign-in failed")
        raise ApiError(401, "invalid_credentials", "the name or the password is not "
                       "right") from None
    user = signed.user
    log.info("sign-in: account %s of tenant %s", user.user_id, user.tenant_id)
    answer = SessionOut(subject=user.name, display_name=user.display_name,
                        tenant_id=user.tenant_id, roles=sorted(user.roles),
                        teams=sorted(user.teams), credential="session",
                        csrf_token=signed.csrf_token, expires_at=signed.expires_at,
                        idle_timeout_s=sessions.idle.total_seconds())
    response = JSONResponse(answer.model_dump(mode="json"), headers=NO_STORE)
    set_session_cookies(response, request, sessions, signed.token, signed.csrf_token)
    return response


def set_session_cookies(response: Response, request: Request, sessions: Sessions, token: str,
                        csrf_token: str) -> None:
    """The session's cookies (every sign-in sets the same ones)."""
    max_age = int(sessions.longest.total_seconds())
    secure = _secure(request, sessions)
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, path="/",
                        secure=secure, httponly=True, samesite="strict")
    response.set_cookie(CSRF_COOKIE, csrf_token, max_age=max_age, path="/",
                        secure=secure, httponly=False, samesite="strict")


@router.get("/session", response_model=SessionOut, dependencies=[Depends(authorize)],
            summary="Who is signed in (the session cookie, or the request's credentials)")
async def current_session(request: Request, caller: CallerDep) -> JSONResponse:
    principal = caller.principal
    expires_at: datetime | None = None
    csrf: str | None = None
    idle: float | None = None
    token = request.cookies.get(SESSION_COOKIE)
    if principal.credential == "session" and token:
        sessions = _sessions(request)
        try:
            session, _ = await run_in_threadpool(sessions.check, token)
        except InvalidSession as exc:  # ended since the edge checked it
            raise ApiError(401, "unauthorized", str(exc)) from None
        expires_at, csrf, idle = (session.expires_at, csrf_token_of(token),
                                  sessions.idle.total_seconds())
    answer = SessionOut(subject=principal.subject, display_name=principal.display_name,
                        tenant_id=caller.tenant_id, roles=sorted(principal.roles),
                        teams=sorted(principal.teams), credential=principal.credential,
                        csrf_token=csrf, expires_at=expires_at, idle_timeout_s=idle)
    return JSONResponse(answer.model_dump(mode="json"), headers=NO_STORE)


@router.delete("/session", status_code=204, dependencies=[Depends(authorize)],
               summary="Sign out: the session ends, its cookies are cleared")
async def sign_out(request: Request, caller: CallerDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if caller.principal.credential == "session" and token:
        ended = await run_in_threadpool(_sessions(request).sign_out, token)
        if ended is not None:
            log.info("sign-out: account %s of tenant %s",
                     user_id_of(ended.tenant_id, ended.name), ended.tenant_id)
    response = Response(status_code=204, headers=NO_STORE)
    sessions: Sessions | None = getattr(request.app.state, "sessions", None)
    secure = sessions is not None and _secure(request, sessions)
    for name, httponly in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", secure=secure, httponly=httponly,
                               samesite="strict")
    return response
