"""A local identity provider for tests: a discovery document and a JWKS served over real HTTP
by a `ThreadingHTTPServer` on 127.0.0.1, which the tests change (key rotation) and whose
requests they count."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

AUDIENCE = "crm-api"
REALM = "/realms/acme"
DISCOVERY = f"{REALM}/.well-known/openid-configuration"
CERTS = f"{REALM}/protocol/openid-connect/certs"


class Provider:
    """A fake identity provider: discovery document plus a JWKS the test may change."""

    def __init__(self) -> None:
        self.jwks: dict[str, list[dict[str, Any]]] = {"keys": []}
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                with provider._lock:
                    provider.requests[self.path] += 1
                    if self.path == DISCOVERY:
                        body: Any = {"issuer": provider.issuer,
                                     "jwks_uri": provider.base + CERTS}
                    elif self.path == CERTS:
                        body = provider.jwks
                    else:
                        body = None
                    data = json.dumps(body).encode()
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.issuer = self.base + REALM
        self.jwks_url = self.base + CERTS
        # A short poll interval: `shutdown` waits for it, once per test.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()
        self._stopped = False

    def publish(self, *entries: dict[str, Any]) -> None:
        with self._lock:
            self.jwks = {"keys": list(entries)}

    def fetches(self) -> int:
        with self._lock:
            return self.requests[CERTS]

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str, alg: str | None = "RS256") -> dict[str, Any]:
    entry: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return entry | {"kid": kid, "use": "sig"} | ({"alg": alg} if alg else {})


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    entry: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return entry | {"kid": kid, "use": "sig", "alg": "ES256"}


def ed_jwk(key: ed25519.Ed25519PrivateKey, kid: str) -> dict[str, Any]:
    entry: dict[str, Any] = OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return entry | {"kid": kid, "use": "sig"}  # no `alg`: derived from kty and crv
