"""Verify OIDC / OAuth 2 access tokens (JWT) issued by the company's identity provider.

The provider signs tokens with keys it publishes as a JWKS. We cache those keys, refetch them
when a token names a key we do not know (rotation), but at most once per
`min_refetch_interval_s`, so a flood of tokens with made-up key ids cannot hammer the provider.
Only asymmetric algorithms from a fixed allow-list are accepted: the algorithm is never taken
on the token's word alone (no `none`, no HMAC keyed with a public key).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt.exceptions import InvalidSubjectError
from jwt.types import Options

from services.common.settings import Settings

logger = logging.getLogger(__name__)

ALLOWED_ALGORITHMS: frozenset[str] = frozenset({"RS256", "ES256", "EdDSA"})
"""Asymmetric only: a symmetric algorithm would let anyone holding the public key sign."""

_MAX_TOKEN_CHARS = 16 * 1024  # far above any real access token; bounds the work per request
_MAX_DOCUMENT_BYTES = 1024 * 1024  # a JWKS or discovery document is a few kilobytes
_MAX_KEY_AGE_S = 15 * 60.0  # keys removed from the JWKS (revoked) stop working within this

EXPIRED = "the token has expired"
NOT_YET_VALID = "the token is not valid yet"
WRONG_ISSUER = "the token was issued by another issuer"
WRONG_AUDIENCE = "the token is for another audience"
ALGORITHM_NOT_ALLOWED = "the token's signing algorithm is not allowed"
ALGORITHM_MISMATCH = "the token's signing algorithm does not match its key"
UNKNOWN_KEY = "the token's key is unknown"
WEAK_KEY = "the token's key is too weak"
BAD_SIGNATURE = "the token's signature is invalid"
MALFORMED = "the token is malformed"
NO_SUBJECT = "the token names no subject"
KEYS_UNAVAILABLE = "the identity provider's keys could not be fetched"
WRONG_NONCE = "the token's nonce is not the one of this sign-in"


class InvalidToken(Exception):
    """Why a token was refused, in words safe to show the caller (never the token itself)."""

    reason: str

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TokenIdentity:
    """Who a verified token speaks for; the caller turns it into a principal."""

    subject: str
    tenants: tuple[str, ...]
    roles: tuple[str, ...]
    teams: tuple[str, ...]
    display_name: str | None
    expires_at: datetime


@dataclass(frozen=True)
class _Key:
    """One usable signing key of the JWKS, bound to the only algorithm its type allows."""

    algorithm: str
    declared_algorithm: str | None  # the JWK's own `alg`, which must agree when given
    jwk: jwt.PyJWK


_KeySet = dict[str | None, tuple[_Key, ...]]


class ProviderUnavailable(Exception):
    """The identity provider's discovery document could not be read (the reason is logged)."""


class _FetchFailed(Exception):
    """The provider's discovery document or JWKS could not be read (logged, never shown)."""


class OidcVerifier:
    """Verifies access tokens against the provider's JWKS; safe to share between threads."""

    def __init__(self, settings: Settings, *, min_refetch_interval_s: float = 10.0,
                 fetch_timeout_s: float = 5.0) -> None:
        if not self.configured(settings):
            raise ValueError("OIDC needs CRM_AUTH_ISSUER or CRM_AUTH_JWKS_URL")
        if min_refetch_interval_s < 0 or fetch_timeout_s <= 0:
            raise ValueError("min_refetch_interval_s must be >= 0 and fetch_timeout_s > 0")
        self._issuer = settings.auth_issuer or None
        self._audience = settings.auth_audience or None
        self._jwks_url = settings.auth_jwks_url or None
        self._leeway_s = settings.auth_leeway_s
        self._claim_subject = settings.auth_claim_subject
        self._claim_tenant = settings.auth_claim_tenant
        self._claim_roles = settings.auth_claim_roles
        self._claim_teams = settings.auth_claim_teams
        self._min_refetch_interval_s = min_refetch_interval_s
        self._fetch_timeout_s = fetch_timeout_s
        self._clock: Callable[[], float] = time.monotonic  # replaceable by tests
        # `_lock` guards the cache and is held only briefly; `_fetch_lock` lets one thread at a
        # time talk to the provider while tokens with known keys are still verified.
        self._lock = threading.Lock()
        self._fetch_lock = threading.Lock()
        self._keys: _KeySet | None = None
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._discovered_jwks_url: str | None = None
        self._discovery: dict[str, Any] | None = None

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        """Whether the settings name an identity provider at all."""
        return bool(settings.auth_issuer or settings.auth_jwks_url)

    def verify(self, token: str) -> TokenIdentity:
        """The identity a valid token carries; `InvalidToken` for anything else."""
        try:
            return self._verify(token)
        except InvalidToken:
            raise
        except Exception as exc:  # a library surprise must still read as a refused token
            logger.warning("token verification failed unexpectedly: %s", type(exc).__name__)
            raise InvalidToken(MALFORMED) from None

    def _verify(self, token: str) -> TokenIdentity:
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_CHARS:
            raise InvalidToken(MALFORMED)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken(MALFORMED) from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in ALLOWED_ALGORITHMS:
            raise InvalidToken(ALGORITHM_NOT_ALLOWED)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken(MALFORMED)
        key = self._key_for(kid, algorithm)
        claims = self._decode(token, key)
        return self._identity(claims)

    def _key_for(self, kid: str | None, algorithm: str) -> _Key:
        candidates = self._candidates(kid)
        fitting = [key for key in candidates if key.algorithm == algorithm]
        if not fitting:
            raise InvalidToken(ALGORITHM_MISMATCH)
        if len(fitting) > 1:  # only reachable without a `kid`: we will not guess
            raise InvalidToken(UNKNOWN_KEY)
        key = fitting[0]
        if key.declared_algorithm is not None and key.declared_algorithm != algorithm:
            raise InvalidToken(ALGORITHM_MISMATCH)
        return key

    def _candidates(self, kid: str | None) -> tuple[_Key, ...]:
        with self._lock:
            keys, fetched_at = self._keys, self._fetched_at
        fresh = fetched_at is not None and self._clock() - fetched_at < _MAX_KEY_AGE_S
        if keys is not None and kid in keys and fresh:
            return keys[kid]
        return self._refresh_for(kid)

    def _refresh_for(self, kid: str | None) -> tuple[_Key, ...]:
        """Refetch the JWKS for a key we lack (or keys grown old), within the rate limit."""
        with self._fetch_lock:
            with self._lock:
                keys, fetched_at, attempted_at = self._keys, self._fetched_at, self._attempted_at
            now = self._clock()
            fresh = fetched_at is not None and now - fetched_at < _MAX_KEY_AGE_S
            if keys is not None and kid in keys and fresh:  # another thread just refetched
                return keys[kid]
            if attempted_at is None or now - attempted_at >= self._min_refetch_interval_s:
                with self._lock:
                    self._attempted_at = now
                try:
                    fetched = self._fetch_keys()
                except _FetchFailed as exc:
                    logger.warning("could not fetch the identity provider's keys: %s", exc)
                    if keys is not None and kid in keys:
                        return keys[kid]  # old keys beat locking everyone out while it is down
                    raise InvalidToken(KEYS_UNAVAILABLE) from None
                with self._lock:
                    self._keys, self._fetched_at = fetched, now
                keys = fetched
            elif keys is None:  # the last attempt failed a moment ago: do not retry yet
                raise InvalidToken(KEYS_UNAVAILABLE)
            if kid in keys:
                return keys[kid]
            raise InvalidToken(UNKNOWN_KEY)

    def _fetch_keys(self) -> _KeySet:
        url = self._jwks_url or self._discover_jwks_url()
        document = self._get_json(url)
        entries = document.get("keys")
        if not isinstance(entries, list):
            raise _FetchFailed(f"{url} is not a JWKS (no 'keys' list)")
        keys = _parse_jwks(entries)
        logger.info("fetched %d signing key(s) from %s", sum(map(len, keys.values())), url)
        if not keys:
            logger.warning("the JWKS at %s holds no usable signing key", url)
        return keys

    def discovery(self) -> dict[str, Any]:
        """The issuer's discovery document, read once; ProviderUnavailable when it cannot be
        (the reason is logged, not raised)."""
        if self._discovery is None:
            with self._fetch_lock:
                if self._discovery is None:
                    try:
                        self._discovery = self._discovery_document()
                    except _FetchFailed as exc:
                        logger.warning("could not read the discovery document: %s", exc)
                        raise ProviderUnavailable() from None
        return self._discovery

    def verify_id_token(self, token: str, client_id: str, nonce: str) -> TokenIdentity:
        """The identity of an OIDC ID token issued for `client_id` in the sign-in that sent
        `nonce` (signature by the provider's keys, `iss`, `aud`, `exp`, `nonce`);
        `InvalidToken` for anything else."""
        try:
            if self._issuer is None:
                raise InvalidToken(WRONG_ISSUER)
            if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_CHARS:
                raise InvalidToken(MALFORMED)
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if not isinstance(algorithm, str) or algorithm not in ALLOWED_ALGORITHMS:
                raise InvalidToken(ALGORITHM_NOT_ALLOWED)
            kid = header.get("kid")
            if kid is not None and not isinstance(kid, str):
                raise InvalidToken(MALFORMED)
            claims = self._decode(token, self._key_for(kid, algorithm),
                                  audience=client_id, also_required=("iat", "nonce"))
            sent = claims.get("nonce")
            if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(),
                                                                     nonce.encode()):
                raise InvalidToken(WRONG_NONCE)
            parties = claims.get("aud")
            if isinstance(parties, list) and len(parties) > 1 and claims.get("azp") != client_id:
                raise InvalidToken(WRONG_AUDIENCE)
            return self._identity(claims)
        except InvalidToken:
            raise
        except jwt.PyJWTError:
            raise InvalidToken(MALFORMED) from None
        except Exception as exc:  # a library surprise must still read as a refused token
            logger.warning("ID token verification failed unexpectedly: %s", type(exc).__name__)
            raise InvalidToken(MALFORMED) from None

    def _discovery_document(self) -> dict[str, Any]:
        assert self._issuer is not None
        url = self._issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = self._get_json(url)
        if document.get("issuer") != self._issuer:
            logger.warning("the discovery document at %s names issuer %r, configured is %r",
                           url, document.get("issuer"), self._issuer)
        return document

    def _discover_jwks_url(self) -> str:
        """The `jwks_uri` of the issuer's discovery document, read once (under `_fetch_lock`)."""
        if self._discovered_jwks_url is not None:
            return self._discovered_jwks_url
        assert self._issuer is not None  # `configured` holds and no JWKS URL is set
        url = self._issuer.rstrip("/") + "/.well-known/openid-configuration"
        if self._discovery is None:
            self._discovery = self._discovery_document()
        document = self._discovery
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise _FetchFailed(f"{url} names no jwks_uri")
        self._discovered_jwks_url = jwks_uri
        return jwks_uri

    def _get_json(self, url: str) -> dict[str, Any]:
        if urlsplit(url).scheme not in ("http", "https"):
            raise _FetchFailed(f"{url!r} is not an http(s) URL")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self._fetch_timeout_s) as response:
                if response.status != 200:
                    raise _FetchFailed(f"{url} answered HTTP {response.status}")
                body = response.read(_MAX_DOCUMENT_BYTES + 1)
        except _FetchFailed:
            raise
        except Exception as exc:  # URLError, timeouts, HTTP protocol errors, ...
            raise _FetchFailed(f"{url}: {exc}") from exc
        if len(body) > _MAX_DOCUMENT_BYTES:
            raise _FetchFailed(f"{url} answered more than {_MAX_DOCUMENT_BYTES} bytes")
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise _FetchFailed(f"{url} answered no JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise _FetchFailed(f"{url} answered JSON that is not an object")
        return document

    def _decode(self, token: str, key: _Key, audience: str | None = None,
                also_required: tuple[str, ...] = ()) -> dict[str, Any]:
        audience = audience or self._audience
        required = ["exp", *also_required]
        if self._issuer is not None:
            required.append("iss")
        if audience is not None:
            required.append("aud")
        options: Options = {
            "require": required,
            "verify_aud": audience is not None,
            "enforce_minimum_key_length": True,
        }
        try:
            return jwt.decode(token, key.jwk, algorithms=[key.algorithm], options=options,
                              audience=audience, issuer=self._issuer,
                              leeway=self._leeway_s)
        except jwt.PyJWTError as exc:
            raise InvalidToken(_reason(exc)) from None

    def _identity(self, claims: Mapping[str, Any]) -> TokenIdentity:
        subject = _claim(claims, self._claim_subject)
        if not isinstance(subject, str) or not subject.strip():
            raise InvalidToken(NO_SUBJECT)
        try:
            expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            raise InvalidToken(MALFORMED) from None
        return TokenIdentity(
            subject=subject,
            tenants=_strings(claims, self._claim_tenant),
            roles=_strings(claims, self._claim_roles),
            teams=_strings(claims, self._claim_teams),
            display_name=_display_name(claims),
            expires_at=expires_at,
        )


def _parse_jwks(entries: list[Any]) -> _KeySet:
    """Usable signing keys by `kid`; other keys (encryption, HMAC, odd curves) are skipped."""
    keys: dict[str | None, list[_Key]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        kid, declared = entry.get("kid"), entry.get("alg")
        algorithm = _algorithm_of(entry)
        if algorithm is None or (kid is not None and not isinstance(kid, str)):
            continue
        try:
            jwk = jwt.PyJWK(entry, algorithm=algorithm)
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            logger.warning("skipping JWKS key %r: %s", kid, type(exc).__name__)
            continue
        declared_algorithm = declared if isinstance(declared, str) else None
        keys.setdefault(kid, []).append(_Key(algorithm, declared_algorithm, jwk))
    return {kid: tuple(found) for kid, found in keys.items()}


def _algorithm_of(entry: Mapping[str, Any]) -> str | None:
    """The one allowed algorithm a key's type and curve can sign with, if any."""
    kty, crv = entry.get("kty"), entry.get("crv")
    if kty == "RSA":
        return "RS256"
    if kty == "EC" and crv == "P-256":
        return "ES256"
    if kty == "OKP" and crv in ("Ed25519", "Ed448"):
        return "EdDSA"
    return None


def _reason(exc: jwt.PyJWTError) -> str:
    """PyJWT's error as a short phrase (its own messages are not meant for callers)."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return EXPIRED
    if isinstance(exc, jwt.ImmatureSignatureError):
        return NOT_YET_VALID
    if isinstance(exc, jwt.InvalidIssuerError):
        return WRONG_ISSUER
    if isinstance(exc, jwt.InvalidAudienceError):
        return WRONG_AUDIENCE
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the token has no '{exc.claim}' claim"
    if isinstance(exc, jwt.InvalidSignatureError):
        return BAD_SIGNATURE
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return ALGORITHM_NOT_ALLOWED
    if isinstance(exc, jwt.InvalidKeyError):
        return WEAK_KEY
    if isinstance(exc, InvalidSubjectError):
        return NO_SUBJECT
    return MALFORMED


def _claim(claims: Mapping[str, Any], name: str) -> Any:
    """A claim by its whole name (Auth0's `https://x/roles`), else as a dotted path into nested
    objects (Keycloak's `realm_access.roles`); None when absent."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _strings(claims: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A claim that is one string or a list of strings, as a tuple without blanks or repeats."""
    value = _claim(claims, name)
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise InvalidToken(f"the token's '{name}' claim is not a string or a list of strings")
    return tuple(dict.fromkeys(item for item in items if item.strip()))


def _display_name(claims: Mapping[str, Any]) -> str | None:
    for name in ("name", "preferred_username"):
        value = claims.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None
