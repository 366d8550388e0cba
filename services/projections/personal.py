"""Personal values in read models: sealed under the customer's key, searched by blind tokens.

A projection that keeps personal values (customer-360, timeline) seals them with the store's
vault before they reach a row, and the query side opens them for each response. Once the
customer's key is destroyed they open to nothing, wherever a copy survives: a dead row, a
write-ahead log, a backup. Folded in memory (as-of views), with no vault, values stay as they
are: nothing of that is written anywhere.

Search works without clear text: each name word and its prefixes, the e-mail address and its
parts, and the phone's digits and their endings become keyed hashes (HMAC-SHA256 under the
tenant's search key, truncated), stored in one column; a query's words are hashed the same way
and matched whole.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any

from services.common.privacy.vault import CustomerForgotten, PersonalDataVault, is_sealed

MIN_PREFIX, MAX_PREFIX = 2, 16
TOKEN_HEX = 20
_WORDS = re.compile(r"[\s,;/()\"]+")


def seal_values(vault: PersonalDataVault | None, customer_id: str, context_id: str,
                values: Mapping[str, Any]) -> Any:
    """What a row keeps of `values`: sealed (with a vault), or the values themselves (folded in
    memory). None when there is nothing to keep."""
    kept = {k: v for k, v in values.items() if v is not None}
    if not kept:
        return None
    if vault is None:
        return kept
    try:
        return vault.seal(customer_id, context_id, kept)
    except CustomerForgotten:
        # Erased since (a rebuild replays the log from before the erasure): nothing of the
        # person is kept, and the row keeps its figures.
        return None


def open_values(vault: PersonalDataVault | None, customer_id: str, context_id: str,
                stored: Any) -> dict[str, Any] | None:
    """The values a row keeps: {} when it keeps none, None when they cannot be opened (the
    customer was erased, or the reader has no vault)."""
    if stored is None:
        return {}
    if not is_sealed(stored):
        return dict(stored)
    if vault is None:
        return None
    opened = vault.open(customer_id, context_id, stored)
    return dict(opened) if isinstance(opened, dict) else None


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _words(text: str) -> list[str]:
    return [w for w in _WORDS.split(_normal(text)) if w]


def plain_tokens(personal: Mapping[str, Any]) -> set[str]:
    """What a search can match for these personal values (before hashing)."""
    tokens: set[str] = set()
    name = personal.get("name")
    if isinstance(name, str) and name.strip():
        tokens.add(_normal(name))
        for word in _words(name):
            for part in {word, *word.split("-")}:
                tokens.update(part[:n] for n in range(MIN_PREFIX, min(len(part), MAX_PREFIX) + 1))
                tokens.add(part)
    email = personal.get("email")
    if isinstance(email, str) and "@" in email:
        address = email.strip().lower()
        local, _, domain = address.partition("@")
        tokens.update({address, local, domain})
        tokens.update(local[:n] for n in range(MIN_PREFIX, min(len(local), MAX_PREFIX) + 1))
    phone = personal.get("phone")
    if isinstance(phone, str):
        digits = re.sub(r"\D", "", phone)
        # Every ending of 4 digits or more: a number is found by however much of its end
        # is typed, with or without its country code.
        tokens.update(digits[-n:] for n in range(4, len(digits) + 1))
    return {token for token in tokens if token}


def _hashed(key: bytes, token: str) -> str:
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()[:TOKEN_HEX]


def search_column(vault: PersonalDataVault | None, tenant_id: str,
                  personal: Mapping[str, Any]) -> str | None:
    """The search column's value: the values' blind tokens, space-separated and space-framed."""
    if vault is None:
        return None
    tokens = plain_tokens(personal)
    if not tokens:
        return None
    key = vault.search_key(tenant_id)
    return " " + " ".join(sorted(_hashed(key, t) for t in tokens)) + " "


def query_tokens(vault: PersonalDataVault | None, tenant_id: str, query: str
                 ) -> tuple[str, list[str]] | None:
    """(the whole query's token, each word's token) to look for, or None without a vault."""
    if vault is None:
        return None
    key = vault.search_key(tenant_id)
    whole = query.strip().lower()
    digits = re.sub(r"\D", "", whole)
    if digits and len(digits) >= 4 and not re.search(r"[a-z@]", whole):
        whole = digits
    return _hashed(key, _normal(whole)), [_hashed(key, w) for w in _words(query)]


def substitute(summary: str, values: Iterable[tuple[str, str | None]]) -> str:
    """`summary` with each ⟨marker⟩ replaced by its value, or by "[erased]"."""
    for marker, value in values:
        summary = summary.replace(marker, value if value is not None else ERASED)
    return summary


ERASED = "[erased]"
