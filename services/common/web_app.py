"""The browser app and the offline API docs, served in front of an API.

The web app (services/web/, built by Vite into services/web/dist/) is static and public: it
holds no data, and everything it shows comes from /v1 with the signed-in user's rights. So
`WebFront` answers its paths before the API's edge (body limit, authentication) is reached,
and hands every API path to the API untouched:

- `/v1…`, `/openapi.json`, `/health`, `/ready`, `/metrics`, `/docs/oauth2-redirect`: the API;
- `/docs` and `/docs/<file>`: Swagger UI from the build (files of the `swagger-ui-dist` npm
  package copied into dist/api-docs/ by the build), under the same strict policy;
- `/assets/<file>`: the build's content-hashed files, cached for a year;
- any other GET: a file at the top of dist/ (the icon), else index.html (no-cache) — the
  app's own router handles client-side paths such as `/customers/123`.

When the app has not been built, `/` (and every app path, and `/docs`) answers a short page
that says how to build it.
"""

from __future__ import annotations

import gzip
import html
import posixpath
import threading
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.web import error_response

API_PATHS = frozenset({"/v1", "/openapi.json", "/health", "/ready", "/metrics",
                       "/docs/oauth2-redirect"})
"""Paths the API answers, besides everything under `/v1/`."""

APP_CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
"""The app's policy: its own scripts, styles and API only; no inline script, no framing."""

DOCS_CSP = APP_CSP
"""The API docs' policy: Swagger UI's files and the OpenAPI document from this server, and
"Try it out" requests to it. Swagger UI needs no more than the app (checked in Chromium: it
sets styles through the DOM, which `style-src 'self'` allows, not as inline markup)."""

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

IMMUTABLE = "public, max-age=31536000, immutable"
"""Files under /assets/ are named by their content's hash: a new build names new files."""
REVALIDATE = "no-cache"

DOCS_DIR = "api-docs"
"""Where the build puts the API docs page and Swagger UI's files, inside dist/."""

COMPRESSIBLE = frozenset({".html", ".js", ".mjs", ".css", ".json", ".svg", ".map", ".txt"})
"""Text files answered gzipped to a browser that accepts it (images and fonts are compressed
already)."""

BUILD_COMMAND = "npm ci --prefix services/web && npm run build --prefix services/web"


def default_web_dir() -> Path:
    """services/web/dist beside the installed `services` package (an editable install)."""
    import services

    return Path(services.__file__).resolve().parent / "web" / "dist"


def not_built_page(web_dir: Path) -> str:
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Chronicle CRM — the web app is not built</title></head><body>"
        "<h1>The web app is not built</h1>"
        f"<p>No built app was found in <code>{html.escape(str(web_dir))}</code>. "
        "From the repository, build it (Node.js 20 and npm) and reload this page:</p>"
        f"<pre>{html.escape(BUILD_COMMAND)}</pre>"
        "<p>Set <code>CRM_WEB_DIR</code> to serve a build from elsewhere. The API is "
        "served meanwhile under <code>/v1</code>.</p></body></html>\n")


def is_api_path(path: str) -> bool:
    return path in API_PATHS or path.startswith("/v1/")


class WebFront:
    """An ASGI app: the web app and the API docs, in front of `app` (the API, behind its
    edge), which answers everything else. With `pages=False` only the API docs are added
    (a process that serves no reads, such as `crm command-api`)."""

    def __init__(self, app: ASGIApp, web_dir: Path, *, pages: bool = True) -> None:
        self.app = app
        self.web_dir = web_dir
        self.pages = pages
        self._files = StaticFiles(directory=web_dir, check_dir=False)
        self._docs = StaticFiles(directory=web_dir / DOCS_DIR, check_dir=False)
        self._gzipped = GzipCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if (scope["type"] != "http" or is_api_path(path)
                or scope["method"] not in ("GET", "HEAD")
                or not (self.pages or path == "/docs" or path.startswith("/docs/"))):
            await self.app(scope, receive, send)
            return
        response = await self._respond(path, scope)
        await self._gzipped.encode(response, scope)(scope, receive, send)

    async def _respond(self, path: str, scope: Scope) -> Response:
        if path == "/redoc":  # the API's ReDoc page loads its script from a CDN
            return RedirectResponse("/docs", status_code=308)
        if path == "/docs" or path == "/docs/":
            return self._page(self.web_dir / DOCS_DIR / "index.html", DOCS_CSP)
        if path.startswith("/docs/"):
            return await self._file(self._docs, path.removeprefix("/docs/"), scope,
                                    REVALIDATE, DOCS_CSP)
        if path.startswith("/assets/"):
            return await self._file(self._files, path.lstrip("/"), scope, IMMUTABLE, APP_CSP)
        relative = path.lstrip("/")
        if relative and "/" not in relative and relative != "index.html" \
                and (self.web_dir / relative).is_file():
            return await self._file(self._files, relative, scope, REVALIDATE, APP_CSP)
        return self._page(self.web_dir / "index.html", APP_CSP)

    def _page(self, file: Path, policy: str) -> Response:
        headers = {**SECURITY_HEADERS, "Cache-Control": REVALIDATE}
        if not file.is_file():
            return HTMLResponse(not_built_page(self.web_dir),
                                headers={**headers, "Content-Security-Policy": APP_CSP})
        return FileResponse(file, media_type="text/html; charset=utf-8",
                            headers={**headers, "Content-Security-Policy": policy})

    async def _file(self, files: StaticFiles, relative: str, scope: Scope, cache: str,
                    policy: str) -> Response:
        """A file under a directory (StaticFiles refuses paths that leave it, and answers
        conditional requests with 304); 404 in the API's error shape when there is none."""
        if not relative or posixpath.normpath(relative) != relative or "\x00" in relative:
            return _not_found()
        try:
            response = await files.get_response(relative, scope)
        except (HTTPException, OSError, RuntimeError):
            return _not_found()
        if response.status_code not in (200, 304):
            return _not_found()
        response.headers.update({**SECURITY_HEADERS, "Content-Security-Policy": policy,
                                 "Cache-Control": cache})
        return response


class GzipCache:
    """Gzipped copies of the build's text files, made once per file version (the build is
    read-only while served), so a first load moves the compressed bytes."""

    def __init__(self, max_entries: int = 512) -> None:
        self._copies: dict[tuple[str, int, int], bytes] = {}
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def encode(self, response: Response, scope: Scope) -> Response:
        """`response` itself, or its gzipped equivalent when the file is text, the answer a
        whole 200 and the request accepts gzip."""
        path = getattr(response, "path", None)
        if not isinstance(response, FileResponse) or path is None \
                or Path(path).suffix not in COMPRESSIBLE:
            return response
        response.headers["Vary"] = "Accept-Encoding"
        request_headers = dict(scope.get("headers") or [])
        accepted = request_headers.get(b"accept-encoding", b"").decode("latin-1").lower()
        if response.status_code != 200 or scope.get("method") != "GET" \
                or b"range" in request_headers \
                or "gzip" not in {part.split(";")[0].strip() for part in accepted.split(",")}:
            return response
        try:
            body = self._copy(Path(path))
        except OSError:
            return response
        headers = {k: v for k, v in response.headers.items()
                   if k.lower() not in ("content-length", "accept-ranges")}
        headers["Content-Encoding"] = "gzip"
        etag = headers.get("etag")
        if etag and not etag.startswith("W/"):
            headers["etag"] = f"W/{etag}"  # the same content in another encoding
        return Response(body, status_code=200, headers=headers,
                        media_type=response.media_type)

    def _copy(self, path: Path) -> bytes:
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            found = self._copies.get(key)
        if found is not None:
            return found
        body = gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)
        with self._lock:
            if len(self._copies) >= self._max_entries:
                self._copies.clear()
            self._copies[key] = body
        return body


def _not_found() -> Response:
    return error_response(404, "not_found", "no such file", headers=SECURITY_HEADERS)
