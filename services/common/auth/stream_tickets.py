"""Stream tickets: how a browser opens the live event stream without putting a credential in
a URL.

A browser's `EventSource` cannot send an `Authorization` header, and an API key or an access
token in a query string would reach proxy and server logs. So a page asks for a ticket with
its credentials (`POST /v1/stream/tickets`) and opens `GET /v1/stream?ticket=…` with it. A
ticket is 256 random bits, opens one stream, once, within `TICKET_TTL_S` of being issued, for
the principal and tenant it was issued to; only its SHA-256 digest is kept, in a table of the
event store's database (so any replica of the query API can redeem it), and redeeming deletes
it. A ticket that reaches a log is spent or about to expire.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from services.common.auth.principal import Credential, Principal
from services.common.event_store import ChronicleStore, side_table

TICKET_TTL_S = 30
"""Long enough for a page to open its stream after asking; short enough to be spent soon."""
STREAM_PATH = "/v1/stream"
TICKET_PREFIX = "crm_st_"
_TICKET = re.compile(r"^crm_st_[A-Za-z0-9_-]{43}$")
TABLE = "crm_stream_tickets"


class InvalidTicket(Exception):
    """Why a ticket was refused, safe to show the caller."""


@dataclass(frozen=True)
class IssuedTicket:
    ticket: str
    """Shown once."""
    expires_at: datetime


def ticket_of(scope: Any) -> str | None:
    """The `ticket` query parameter of a `GET /v1/stream` request (None for any other)."""
    if scope.get("method") not in ("GET", "HEAD") or scope.get("path") != STREAM_PATH:
        return None
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("ticket")
    return values[-1] if values else None


class StreamTickets:
    """Issues and redeems stream tickets, kept beside the event store's events (in memory for
    the in-memory store)."""

    def __init__(self, store: ChronicleStore, ttl_s: float = TICKET_TTL_S) -> None:
        self._ttl = timedelta(seconds=ttl_s)
        self._table = side_table(store, TABLE)
        self._table.create("digest TEXT PRIMARY KEY, principal TEXT NOT NULL, "
                           "tenant_id TEXT NOT NULL, expires_at TEXT NOT NULL")
        self._memory: dict[str, tuple[str, str, str]] = {}
        self._lock = threading.Lock()

    def issue(self, principal: Principal, tenant_id: str,
              now: datetime | None = None) -> IssuedTicket:
        """A new ticket for `principal` acting in `tenant_id`."""
        now = now or datetime.now(UTC)
        ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
        expires_at = now + self._ttl
        row = (_digest(ticket), json.dumps(_principal_state(principal)), tenant_id,
               expires_at.isoformat())
        if self._table.datastore is None:
            with self._lock:
                self._memory = {k: v for k, v in self._memory.items()
                                if datetime.fromisoformat(v[2]) > now}
                self._memory[row[0]] = row[1:]
        else:
            # Spent-but-unredeemed tickets go as new ones come: the table stays tiny.
            self._table.execute("DELETE FROM {t} WHERE expires_at < ?", (now.isoformat(),))
            self._table.execute("INSERT INTO {t} (digest, principal, tenant_id, expires_at) "
                                "VALUES (?, ?, ?, ?)", row)
        return IssuedTicket(ticket, expires_at)

    def redeem(self, ticket: str, now: datetime | None = None) -> Principal:
        """The principal a ticket was issued to, acting only in the ticket's tenant; the
        ticket is spent. InvalidTicket for a malformed, unknown, spent or expired one."""
        if not _TICKET.fullmatch(ticket):
            raise InvalidTicket("the stream ticket is malformed")
        digest = _digest(ticket)
        if self._table.datastore is None:
            with self._lock:
                found = self._memory.pop(digest, None)
        else:
            found = self._take(digest)
        if found is None:
            raise InvalidTicket("the stream ticket is not valid (each opens one stream, once)")
        state, tenant_id, expires_at = found
        if (now or datetime.now(UTC)) >= datetime.fromisoformat(expires_at):
            raise InvalidTicket("the stream ticket has expired")
        return _principal(json.loads(state), tenant_id)

    def _take(self, digest: str) -> tuple[str, str, str] | None:
        """Delete the ticket's row and return it: one statement, so two requests with the same
        ticket cannot both have it."""
        datastore, mark = self._table.datastore, self._table.mark
        assert datastore is not None
        with datastore.transaction(commit=True) as cursor:
            cursor.execute(f"DELETE FROM {self._table.name} WHERE digest = {mark} "
                           "RETURNING principal, tenant_id, expires_at", (digest,))
            row = cursor.fetchone()
        if row is None:
            return None
        values = tuple(row.values()) if isinstance(row, dict) else tuple(row)
        return str(values[0]), str(values[1]), str(values[2])


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def _principal_state(principal: Principal) -> dict[str, Any]:
    return {"subject": principal.subject, "roles": sorted(principal.roles),
            "teams": sorted(principal.teams), "scopes": sorted(principal.scopes),
            "display_name": principal.display_name, "credential": principal.credential,
            "key_id": principal.key_id}


def _principal(state: dict[str, Any], tenant_id: str) -> Principal:
    credential: Credential = state["credential"]
    return Principal(subject=state["subject"], tenants=(tenant_id,),
                     roles=frozenset(state["roles"]), teams=frozenset(state["teams"]),
                     scopes=frozenset(state["scopes"]), display_name=state["display_name"],
                     credential=credential, key_id=state["key_id"])
