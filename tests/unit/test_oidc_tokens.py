"""OIDC access tokens are verified against a real (local) identity provider's JWKS.

A `ThreadingHTTPServer` on 127.0.0.1 plays the provider: it serves a discovery document and a
JWKS the tests change (key rotation) and counts the requests (the refetch rate limit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from services.common.auth.oidc import InvalidToken, OidcVerifier, TokenIdentity
from services.common.settings import Settings
from tests.harness.identity_provider import (
    AUDIENCE,
    DISCOVERY,
    Provider,
    ec_jwk,
    ed_jwk,
    rsa_jwk,
)


@dataclass(frozen=True)
class Keys:
    rsa: RSAPrivateKey
    rsa_next: RSAPrivateKey
    ec: EllipticCurvePrivateKey
    ed: Ed25519PrivateKey


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
                rsa_next=rsa.generate_private_key(public_exponent=65537, key_size=2048),
                ec=ec.generate_private_key(ec.SECP256R1()),
                ed=ed25519.Ed25519PrivateKey.generate())


@pytest.fixture
def provider(keys: Keys) -> Iterator[Provider]:
    served = Provider()
    try:
        served.publish(rsa_jwk(keys.rsa, "rsa-1"), ec_jwk(keys.ec, "ec-1"),
                       ed_jwk(keys.ed, "ed-1"))
        yield served
    finally:
        served.stop()


@pytest.fixture
def settings(provider: Provider, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, auth_issuer=provider.issuer, auth_audience=AUDIENCE,
                    auth_jwks_url=provider.jwks_url, auth_leeway_s=30)


@pytest.fixture
def verifier(settings: Settings) -> OidcVerifier:
    return OidcVerifier(settings, min_refetch_interval_s=0)


def now() -> int:
    return int(time.time())


def claims(provider: Provider, **overrides: Any) -> dict[str, Any]:
    """Standard claims; an override of None drops the claim."""
    base: dict[str, Any] = {"iss": provider.issuer, "aud": AUDIENCE, "sub": "user-1",
                            "iat": now(), "exp": now() + 300}
    return {k: v for k, v in (base | overrides).items() if v is not None}


def sign(payload: dict[str, Any], key: Any, kid: str, alg: str = "RS256") -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def refused(verifier: OidcVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- accepted tokens --------------------------------------------------------------------------


def test_rs256_token_yields_identity_from_default_claims(
        verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    exp = now() + 600
    token = sign(claims(provider, exp=exp, tenant="acme", roles=["sales", "manager", "sales"],
                        teams=["north"], name="Ada Lovelace", preferred_username="ada"),
                 keys.rsa, "rsa-1")
    assert verifier.verify(token) == TokenIdentity(
        subject="user-1", tenants=("acme",), roles=("sales", "manager"), teams=("north",),
        display_name="Ada Lovelace", expires_at=datetime.fromtimestamp(exp, UTC))


def test_es256_token_with_tenant_list_and_role_string(
        verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    token = sign(claims(provider, tenant=["acme", "globex"], roles="admin", teams="south",
                        preferred_username="bob"), keys.ec, "ec-1", "ES256")
    identity = verifier.verify(token)
    assert (identity.tenants, identity.roles, identity.teams, identity.display_name) == (
        ("acme", "globex"), ("admin",), ("south",), "bob")


def test_eddsa_token_without_optional_claims(
        verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    identity = verifier.verify(sign(claims(provider, sub="svc-7"), keys.ed, "ed-1", "EdDSA"))
    assert (identity.subject, identity.tenants, identity.roles, identity.teams,
            identity.display_name) == ("svc-7", (), (), (), None)
    assert identity.expires_at.tzinfo is UTC


def test_custom_claim_names_with_dotted_path_and_namespaced_claim(
        provider: Provider, keys: Keys, tmp_path: Path) -> None:
    ns = "https://crm.example.com/"
    settings = Settings(data_dir=tmp_path, auth_issuer=provider.issuer, auth_audience=AUDIENCE,
                        auth_jwks_url=provider.jwks_url, auth_claim_subject="oid",
                        auth_claim_tenant=ns + "tenant", auth_claim_roles="realm_access.roles",
                        auth_claim_teams=ns + "teams")
    payload = claims(provider, sub="ignored", oid="0f3c", roles=["not-these"],
                     realm_access={"roles": ["sales", "support"]},
                     **{ns + "tenant": "acme", ns + "teams": ["east", "west"]})
    identity = OidcVerifier(settings).verify(sign(payload, keys.rsa, "rsa-1"))
    assert (identity.subject, identity.tenants, identity.roles, identity.teams) == (
        "0f3c", ("acme",), ("sales", "support"), ("east", "west"))


def test_keys_are_discovered_from_the_issuer(
        provider: Provider, keys: Keys, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, auth_issuer=provider.issuer, auth_audience=AUDIENCE)
    verifier = OidcVerifier(settings, min_refetch_interval_s=0)
    for _ in range(3):
        assert verifier.verify(sign(claims(provider), keys.ec, "ec-1", "ES256")).subject == \
            "user-1"
    assert (provider.requests[DISCOVERY], provider.fetches()) == (1, 1)


def test_configured_needs_an_issuer_or_a_jwks_url(tmp_path: Path) -> None:
    assert not OidcVerifier.configured(Settings(data_dir=tmp_path))
    assert OidcVerifier.configured(Settings(data_dir=tmp_path, auth_issuer="https://idp"))
    assert OidcVerifier.configured(Settings(data_dir=tmp_path, auth_jwks_url="https://idp/k"))


def test_concurrent_first_verifications_fetch_the_jwks_once(
        verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    tokens = [sign(claims(provider, sub=f"user-{i}"), keys.rsa, "rsa-1") for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        subjects = list(pool.map(lambda t: verifier.verify(t).subject, tokens))
    assert subjects == [f"user-{i}" for i in range(16)]
    assert provider.fetches() == 1


# --- time claims ------------------------------------------------------------------------------


def test_expired_token(verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    token = sign(claims(provider, iat=now() - 600, exp=now() - 60), keys.rsa, "rsa-1")
    assert refused(verifier, token) == "the token has expired"


def test_token_not_valid_yet(verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    token = sign(claims(provider, nbf=now() + 120), keys.rsa, "rsa-1")
    assert refused(verifier, token) == "the token is not valid yet"


def test_clock_skew_within_leeway_is_accepted(
        verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    expired_a_moment_ago = sign(claims(provider, exp=now() - 10), keys.rsa, "rsa-1")
    valid_in_a_moment = sign(claims(provider, nbf=now() + 10, iat=now() + 10), keys.rsa,
                             "rsa-1")
    assert verifier.verify(expired_a_moment_ago).subject == "user-1"
    assert verifier.verify(valid_in_a_moment).subject == "user-1"


def test_exp_is_required(verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    token = sign(claims(provider, exp=None), keys.rsa, "rsa-1")
    assert refused(verifier, token) == "the token has no 'exp' claim"


# --- issuer, audience, subject, claim shapes --------------------------------------------------


def test_wrong_issuer(verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    token = sign(claims(provider, iss="https://evil.example.com/realms/acme"), keys.rsa, "rsa-1")
    assert refused(verifier, token) == "the token was issued by another issuer"


def test_wrong_audience(verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    token = sign(claims(provider, aud=["billing-api"]), keys.rsa, "rsa-1")
    assert refused(verifier, token) == "the token is for another audience"


def test_missing_audience(verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    token = sign(claims(provider, aud=None), keys.rsa, "rsa-1")
    assert refused(verifier, token) == "the token has no 'aud' claim"


@pytest.mark.parametrize("subject", [None, "", "   ", 42])
def test_missing_or_bad_subject(
        verifier: OidcVerifier, provider: Provider, keys: Keys, subject: Any) -> None:
    token = sign(claims(provider, sub=subject), keys.rsa, "rsa-1")
    assert refused(verifier, token) == "the token names no subject"


def test_roles_claim_of_the_wrong_shape(
        verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    token = sign(claims(provider, roles=["sales", 7]), keys.rsa, "rsa-1")
    assert refused(verifier, token) == "the token's 'roles' claim is not a string or a list of " \
        "strings"


# --- algorithms and signatures ----------------------------------------------------------------


def test_alg_none_is_refused(verifier: OidcVerifier, provider: Provider) -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = b64(json.dumps(claims(provider, roles=["admin"])).encode())
    assert refused(verifier, f"{header}.{payload}.") == \
        "the token's signing algorithm is not allowed"


def test_missing_alg_is_refused(verifier: OidcVerifier, provider: Provider) -> None:
    header = b64(json.dumps({"typ": "JWT", "kid": "rsa-1"}).encode())
    payload = b64(json.dumps(claims(provider)).encode())
    assert refused(verifier, f"{header}.{payload}.") == \
        "the token's signing algorithm is not allowed"


def test_hs256_keyed_with_the_public_key_is_refused(
        verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    pem = keys.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = b64(json.dumps(claims(provider, roles=["admin"])).encode())
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert refused(verifier, f"{header}.{payload}.{b64(signature)}") == \
        "the token's signing algorithm is not allowed"


def test_tampered_payload_is_refused(
        verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    header, payload, signature = sign(claims(provider, roles=["sales"]), keys.rsa,
                                      "rsa-1").split(".")
    forged = json.loads(unb64(payload)) | {"roles": ["admin"]}
    token = f"{header}.{b64(json.dumps(forged).encode())}.{signature}"
    assert refused(verifier, token) == "the token's signature is invalid"


def test_token_alg_must_fit_the_key(
        verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    # ES256 header naming an RSA key: the key's type allows RS256 only.
    assert refused(verifier, sign(claims(provider), keys.ec, "rsa-1", "ES256")) == \
        "the token's signing algorithm does not match its key"


def test_jwk_alg_must_agree_with_the_token_alg(
        verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    provider.publish(rsa_jwk(keys.rsa, "rsa-pss", alg="PS256"))
    assert refused(verifier, sign(claims(provider), keys.rsa, "rsa-pss")) == \
        "the token's signing algorithm does not match its key"


@pytest.mark.parametrize("token", ["", "not-a-token", "a.b.c", "e30.e30", "x" * 20_000])
def test_malformed_tokens(verifier: OidcVerifier, token: str) -> None:
    assert refused(verifier, token) == "the token is malformed"


# --- keys: unknown, rotation, rate limit, provider down ---------------------------------------


def test_unknown_kid_is_refused_after_one_refetch(
        verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    assert verifier.verify(sign(claims(provider), keys.rsa, "rsa-1")).subject == "user-1"
    assert refused(verifier, sign(claims(provider), keys.rsa_next, "nobody-knows")) == \
        "the token's key is unknown"
    assert provider.fetches() == 2


def test_key_rotation(verifier: OidcVerifier, provider: Provider, keys: Keys) -> None:
    old = sign(claims(provider, sub="old"), keys.rsa, "rsa-1")
    new = sign(claims(provider, sub="new"), keys.rsa_next, "rsa-2")
    assert verifier.verify(old).subject == "old"
    assert provider.fetches() == 1

    provider.publish(rsa_jwk(keys.rsa, "rsa-1"), rsa_jwk(keys.rsa_next, "rsa-2"))
    assert verifier.verify(new).subject == "new"  # unknown kid: refetched
    assert provider.fetches() == 2
    assert verifier.verify(old).subject == "old"  # still published, still good

    provider.publish(rsa_jwk(keys.rsa_next, "rsa-2"))
    assert refused(verifier, sign(claims(provider), keys.ec, "ec-1", "ES256")) == \
        "the token's key is unknown"  # an unknown kid makes it refetch
    assert provider.fetches() == 3
    assert refused(verifier, old) == "the token's key is unknown"
    assert verifier.verify(new).subject == "new"


def test_a_removed_key_stops_working_once_the_cache_is_old(
        settings: Settings, provider: Provider, keys: Keys) -> None:
    verifier = OidcVerifier(settings)
    clock = FakeClock()
    verifier._clock = clock
    token = sign(claims(provider), keys.rsa, "rsa-1")
    assert verifier.verify(token).subject == "user-1"
    provider.publish(ec_jwk(keys.ec, "ec-1"))
    clock.now += 60
    assert verifier.verify(token).subject == "user-1"  # cached keys are fresh enough
    clock.now += 3600
    assert refused(verifier, token) == "the token's key is unknown"
    assert provider.fetches() == 2


def test_a_kid_flood_refetches_at_most_once_per_interval(
        settings: Settings, provider: Provider, keys: Keys) -> None:
    verifier = OidcVerifier(settings, min_refetch_interval_s=10)
    clock = FakeClock()
    verifier._clock = clock
    assert verifier.verify(sign(claims(provider), keys.rsa, "rsa-1")).subject == "user-1"
    flood = [sign(claims(provider), keys.rsa, uuid.uuid4().hex) for _ in range(64)]
    provider.publish(rsa_jwk(keys.rsa, "rsa-1"), rsa_jwk(keys.rsa_next, "rsa-2"))

    def reasons() -> set[str]:
        with ThreadPoolExecutor(8) as pool:
            return set(pool.map(lambda t: refused(verifier, t), flood))

    assert reasons() == {"the token's key is unknown"}
    assert provider.fetches() == 1  # within 10 s of the first fetch: no refetch at all
    new = sign(claims(provider, sub="new"), keys.rsa_next, "rsa-2")
    assert refused(verifier, new) == "the token's key is unknown"
    assert provider.fetches() == 1

    clock.now += 10
    assert reasons() == {"the token's key is unknown"}
    assert provider.fetches() == 2  # one refetch for the whole flood
    assert verifier.verify(new).subject == "new"  # and it brought the rotated key
    assert provider.fetches() == 2


def test_jwks_unreachable(settings: Settings, provider: Provider, keys: Keys) -> None:
    warm = OidcVerifier(settings, min_refetch_interval_s=0)
    token = sign(claims(provider), keys.rsa, "rsa-1")
    assert warm.verify(token).subject == "user-1"
    provider.stop()
    cold = OidcVerifier(settings, min_refetch_interval_s=0)
    assert refused(cold, token) == "the identity provider's keys could not be fetched"
    assert warm.verify(token).subject == "user-1"  # cached keys outlive a provider outage
    assert refused(warm, sign(claims(provider), keys.rsa_next, "rsa-2")) == \
        "the identity provider's keys could not be fetched"
