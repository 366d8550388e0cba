"""The principal: who makes a request, for which tenants, in which roles.

Every event's `actor` is a principal's subject. Subjects with a reserved prefix belong to the
system (`rule:` the policy engine, `cli:` the command line, `import:` an import run, `system:`
anything else of ours); no API key or token may carry one.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass
from typing import Literal

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
TENANT_ID_RULE = "1-64 lowercase letters, digits, _ or -"
ACTOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+|-]{0,127}$")
ACTOR_RULE = "1-128 letters, digits and . _ : @ / + | -"


def check_tenant_id(value: str) -> str:
    """A tenant id (`X-Tenant-ID`, `--tenant`), or ValueError saying what one is."""
    if not TENANT_ID.fullmatch(value):
        raise ValueError(f"a tenant id is {TENANT_ID_RULE}")
    return value


def check_actor(value: str) -> str:
    """Who issues a command (`X-Actor`, `--actor`), or ValueError saying what one is."""
    if not ACTOR.fullmatch(value):
        raise ValueError(f"an actor is {ACTOR_RULE}")
    return value


RESERVED_PREFIXES: tuple[str, ...] = ("rule:", "cli:", "import:", "system:")
ANONYMOUS = "anonymous"
"""The actor of every request when authentication is off (`--insecure-no-auth`)."""
ANY_TENANT = "*"
"""In `Principal.tenants`: every tenant (only without authentication, and for the system)."""

Credential = Literal["api_key", "oidc", "session", "none", "system"]


def is_reserved(subject: str) -> bool:
    return subject.lower().startswith(RESERVED_PREFIXES) or subject == ANONYMOUS


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `tenants` lists the tenants it may act in (the first is the
    default); `scopes` narrow an `integration` principal to named capabilities."""

    subject: str
    tenants: tuple[str, ...]
    roles: frozenset[str]
    teams: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    display_name: str | None = None
    credential: Credential = "api_key"
    key_id: str | None = None

    def may_act_in(self, tenant_id: str) -> bool:
        return ANY_TENANT in self.tenants or tenant_id in self.tenants


def cli_actor() -> str:
    """The actor of a write made from the command line: `cli:<operating-system user>`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = "unknown"
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in user)[:100]
    return f"cli:{cleaned or 'unknown'}"
