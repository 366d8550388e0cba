"""A small OpenID Connect provider for tests of the browser sign-in: served over real HTTP by
a `ThreadingHTTPServer` on 127.0.0.1, with a discovery document, a JWKS (an EC P-256 key made
by `cryptography`), an authorization endpoint (it approves a configured user at once, or shows
a sign-in form) and a token endpoint that checks the client, the redirect URI and the PKCE
verifier, and answers an ID token it signs. Codes are single use and live one minute.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

CLIENT_ID = "chronicle-crm-web"
CLIENT_SECRET = "test-client-secret-9f3c"
KEY_ID = "test-ec-1"


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    user: str
    issued_at: float


@dataclass
class OidcProvider:
    """The provider; tests change `users`, `approve_as`, `tamper` and `redirect_uris`."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Sign-in name -> the claims of the user's ID token (`sub`, `name`, `tenant`, `roles`...)."""
    redirect_uris: list[str] = field(default_factory=list)
    client_secret: str | None = CLIENT_SECRET
    approve_as: str | None = None
    """Approve every authorization request as this user at once; None: show a sign-in form."""
    tamper: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """Changes the claims of the next ID tokens (a wrong nonce, audience, expiry...)."""
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self._codes: dict[str, _Code] = {}
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                provider._get(self)

            def do_POST(self) -> None:  # noqa: N802
                provider._post(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- the endpoints ------------------------------------------------------------------------

    def _discovery(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token", "jwks_uri": self.issuer + "/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                          "client_secret_post", "none"]}

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        if parts.path == "/.well-known/openid-configuration":
            _json(handler, 200, self._discovery())
        elif parts.path == "/jwks":
            jwk = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            _json(handler, 200, {"keys": [jwk | {"kid": KEY_ID, "use": "sig", "alg": "ES256"}]})
        elif parts.path == "/authorize":
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if self.approve_as is not None:
                self._authorize(handler, query, self.approve_as)
            else:
                self._form(handler, query)
        else:
            _json(handler, 404, {"error": "not_found"})

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        path = urlsplit(handler.path).path
        if path == "/authorize":
            self._authorize(handler, form, form.get("username", ""))
        elif path == "/token":
            self._token(handler, form)
        else:
            _json(handler, 404, {"error": "not_found"})

    def _form(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in query.items())
        page = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<title>Test identity provider</title><link rel=\"icon\" href=\"data:,\"></head><body><main>"
                "<h1>Test identity provider</h1><form method=\"post\" action=\"/authorize\">"
                f"{hidden}<label for=\"username\">Username</label>"
                "<input id=\"username\" name=\"username\" autocomplete=\"username\">"
                "<button type=\"submit\">Sign in</button></form></main></body></html>")
        body = page.encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _authorize(self, handler: BaseHTTPRequestHandler, query: dict[str, str],
                   user: str) -> None:
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != CLIENT_ID or redirect_uri not in self.redirect_uris:
            _json(handler, 400, {"error": "invalid_request"})  # never redirect to strangers
            return
        state = query.get("state", "")
        if user not in self.users:
            self._back(handler, redirect_uri, {"error": "access_denied", "state": state})
            return
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256" \
                or not query.get("code_challenge") or "openid" not in query.get("scope", "").split():
            self._back(handler, redirect_uri, {"error": "invalid_request", "state": state})
            return
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(CLIENT_ID, redirect_uri, query["code_challenge"],
                                      query.get("nonce"), user, time.time())
        self._back(handler, redirect_uri, {"code": code, "state": state})

    @staticmethod
    def _back(handler: BaseHTTPRequestHandler, redirect_uri: str, params: dict[str, str]) -> None:
        handler.send_response(302)
        handler.send_header("Location", f"{redirect_uri}?{urlencode(params)}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _token(self, handler: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        self.token_requests.append(form)
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = handler.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            pair = base64.b64decode(basic[6:]).decode()
            client_id, _, sent = pair.partition(":")
            client_id, secret = unquote(client_id), unquote(sent)
        if client_id != CLIENT_ID or (self.client_secret is not None
                                      and secret != self.client_secret):
            _json(handler, 401, {"error": "invalid_client"})
            return
        with self._lock:
            code = self._codes.pop(form.get("code", ""), None)  # single use
        if code is None or form.get("grant_type") != "authorization_code" \
                or time.time() - code.issued_at > 60 or form.get("redirect_uri") != code.redirect_uri:
            _json(handler, 400, {"error": "invalid_grant"})
            return
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != code.challenge:
            _json(handler, 400, {"error": "invalid_grant",
                                 "error_description": "PKCE verification failed"})
            return
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "aud": CLIENT_ID, "azp": CLIENT_ID,
                                  "iat": now, "exp": now + 300, "auth_time": now,
                                  **self.users[code.user]}
        if code.nonce is not None:
            claims["nonce"] = code.nonce
        if self.tamper is not None:
            claims = self.tamper(claims)
        id_token = jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": KEY_ID})
        _json(handler, 200, {"access_token": secrets.token_urlsafe(24), "token_type": "Bearer",
                             "expires_in": 300, "id_token": id_token})


def _json(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Cache-Control", "no-store")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
