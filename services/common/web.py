"""HTTP pieces every Chronicle API shares: one error shape, a body-size limit, health."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("chronicle.http")


class ErrorBody(BaseModel):
    """The one shape of every 4xx/5xx answer."""

    code: str = Field(examples=["rule_violation"])
    message: str = Field(examples=["a lost lead needs a reason"])
    details: dict[str, Any] = Field(default_factory=dict, examples=[{"rule": "lost_requires_reason"}])


class ApiError(Exception):
    """Raised anywhere in a request to answer with the error shape."""

    headers: Mapping[str, str] | None = None
    """Response headers to send with it (`Retry-After`), set by subclasses."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(code=code, message=message, details=details or {})
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "Malformed request (bad JSON, bad header)"),
        (404, "Unknown id"),
        (409, "Stale expected_version / If-Match, or a concurrent change"),
        (413, "Body too large"),
        (422, "Invalid body, or a domain rule refused the command"),
    )
}

_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 406: "not_acceptable", 413: "payload_too_large",
                 415: "unsupported_media_type"}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    cleaned = []
    for error in exc.errors():
        cleaned.append({
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        })
    return cleaned


_FASTAPI_BODY_PARSE_ERROR = "There was an error parsing the body"
"""What FastAPI answers when decoding the body raised something other than a JSON syntax
error: bytes that are not UTF-8, or nesting deeper than the decoder's recursion limit."""


def _is_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


async def _why_unparsable(request: Request) -> str:
    body = await request.body()  # cached by Starlette: reading it again is free
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the body is not valid JSON: it is not UTF-8 text (byte {exc.start})"
    return "the body is not valid JSON: it nests arrays or objects too deeply"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the body is not valid JSON",
                                  {"errors": errors})
        if any(e["loc"] == ["body"] for e in errors) and not _is_json(request) \
                and await request.body():
            # FastAPI reads a body as JSON only when it says it is: anything else arrives as
            # bytes and fails as "not a dictionary", which would name the wrong problem.
            return error_response(415, "unsupported_media_type", "send the body as JSON with "
                                  "Content-Type: application/json",
                                  {"content_type": request.headers.get("content-type")})
        return error_response(422, "invalid_request", "the request is not valid",
                              {"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _FASTAPI_BODY_PARSE_ERROR:
            return error_response(400, "malformed_json", await _why_unparsable(request))
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "an unexpected error occurred")


DRAIN_LIMIT_BYTES = 16 * 1024 * 1024
"""How much of an oversized body is read and discarded before the 413 goes out. A server that
answers and closes while the client is still sending makes most clients (Python's urllib and
requests among them) see "connection reset" instead of the answer; reading the rest first lets
them read the 413. Past this bound the connection is closed unread."""


class BodySizeLimit:
    """Refuse request bodies above `max_bytes` with 413, whether or not Content-Length is sent.

    The body is read (up to the limit) before the application sees it, so an oversized
    request never reaches a handler.
    """

    def __init__(self, app: ASGIApp, max_bytes: int,
                 drain_limit_bytes: int = DRAIN_LIMIT_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.drain_limit_bytes = drain_limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._refuse(send, 400, "bad_request", "invalid Content-Length")
                    return
                if declared > self.max_bytes:
                    await self._drain(receive, 0)
                    await self._too_large(send)
                    return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                if message.get("more_body", False):
                    await self._drain(receive, received)
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _drain(self, receive: Receive, received: int) -> None:
        """Read and drop the rest of the body, up to the drain limit."""
        while received <= self.drain_limit_bytes:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _too_large(self, send: Send) -> None:
        await self._refuse(send, 413, "payload_too_large",
                           f"the body is larger than {self.max_bytes} bytes")

    async def _refuse(self, send: Send, status: int, code: str, message: str) -> None:
        body = json.dumps({"code": code, "message": message, "details": {}}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def install_health(app: FastAPI) -> None:
    @app.get("/health", tags=["operations"], summary="Liveness")
    async def health() -> dict[str, str]:  # async: nothing to wait for, no thread hop
        return {"status": "ok"}

    answers_head(app, "/health", health)


def answers_head(app: FastAPI, path: str, endpoint: Callable[..., Any]) -> None:
    """Serve HEAD on `path` as GET (load balancers probe with HEAD), documented once."""
    app.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)
