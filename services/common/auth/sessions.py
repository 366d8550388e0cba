"""Browser sessions of local accounts, and the CSRF defence of cookie-authenticated writes.

`POST /v1/session` checks an account's password and opens a session: its id is 256 random
bits, sent to the browser in the `crm_session` cookie (HttpOnly, SameSite=Strict, Path=/,
Secure over TLS); only its SHA-256 digest is kept, in a table beside the events
(`crm_sessions`), so any replica of the API recognises it. A session ends when unused for
`session_idle_s`, `session_max_s` after the sign-in, at sign-out, and when its account is
disabled or given a new password. Its principal is read from the account at each request:
roles and teams are the account's as they are now. A session opened by the identity provider
(oidc_login.py) has no local account: its principal, as the ID token gave it, is kept with it
(`crm_session_principals`) and lasts as long as the session.

A request authenticated by the cookie that may change something (POST, PUT, PATCH, DELETE)
must carry the session's CSRF token in `X-CSRF-Token`. The token is an HMAC of the session id,
so it is bound to the session and needs no storage; the sign-in answers it and also sets it in
the `crm_csrf` cookie, which the page's script reads (double submit). Such requests are also
refused when `Sec-Fetch-Site` says cross-site, or `Origin` names another origin than the one
the request was sent to. A request with an `Authorization` header is never cookie-authenticated
and needs no CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from services.common.auth.principal import TENANT_ID, Principal, check_actor, is_reserved
from services.common.auth.users import UserDirectory, UserRecord, verify_password
from services.common.clock import Clock, SystemClock
from services.common.event_store import ChronicleStore, side_table
from services.common.settings import Settings

SESSION_COOKIE = "crm_session"
CSRF_COOKIE = "crm_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_PREFIX = "crm_ss_"
_SESSION = re.compile(r"^crm_ss_[A-Za-z0-9_-]{43}$")
TABLE = "crm_sessions"
PRINCIPALS_TABLE = "crm_session_principals"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SIGN_IN_FAILURES = 5
"""Failed sign-ins of one name from one address within `SIGN_IN_WINDOW` before 429."""
ADDRESS_FAILURES = 100
"""Failed sign-ins of any names from one address within `SIGN_IN_WINDOW` before 429."""
SIGN_IN_WINDOW = timedelta(minutes=15)
HASHING_AT_ONCE = 4
"""Password checks one process runs at once (argon2id takes 64 MiB each); more sign-ins wait."""
TOUCH_EVERY = timedelta(seconds=60)
"""How stale a session's last use may be written down (one write a minute per session, not
one per request); the idle timeout is exact to within this."""


class InvalidCredentials(Exception):
    """The name, the password or the account is not good: one answer for all."""


class TooManySignIns(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__("too many failed sign-ins")
        self.retry_after_s = retry_after_s


class InvalidSession(Exception):
    """Why a session cookie was refused, safe to show the caller."""


class CsrfFailed(Exception):
    """Why a cookie-authenticated write was refused, safe to show the caller."""


@dataclass(frozen=True)
class SignedIn:
    token: str
    """The session id, for the cookie only."""
    csrf_token: str
    user: UserRecord
    expires_at: datetime
    """The absolute end of the session (it ends earlier when idle)."""


@dataclass(frozen=True)
class Opened:
    """A session opened for a principal without a local account."""

    token: str
    """The session id, for the cookie only."""
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class Session:
    tenant_id: str
    name: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    principal: Principal | None = None
    """Set for a session of the identity provider (no local account); credential `session`."""


def csrf_token_of(session_token: str) -> str:
    """The CSRF token bound to a session."""
    mac = hmac.new(session_token.encode(), b"chronicle-crm csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def check_csrf(method: str, headers: Mapping[str, str], session_token: str) -> None:
    """CsrfFailed unless a cookie-authenticated request is safe, or carries its session's
    CSRF token and comes from this origin."""
    if method.upper() not in UNSAFE_METHODS:
        return
    check_same_origin(headers)
    sent = headers.get(CSRF_HEADER) or ""
    if not hmac.compare_digest(sent.encode(), csrf_token_of(session_token).encode()):
        raise CsrfFailed("a write with the session cookie needs the session's CSRF token in "
                         "X-CSRF-Token (the sign-in's csrf_token, also in the crm_csrf cookie)")


def check_same_origin(headers: Mapping[str, str]) -> None:
    """CsrfFailed when the browser says the request is cross-site, or its Origin is not the
    origin it was sent to (checked only when the headers are present)."""
    site = headers.get("sec-fetch-site")
    if site is not None and site.lower() not in ("same-origin", "none"):
        raise CsrfFailed("cross-site requests may not use the session cookie")
    origin = headers.get("origin")
    if origin is None:
        return
    try:
        sent_to = urlsplit("//" + (headers.get("host") or ""))
        came_from = urlsplit(origin)
        default = {"http": 80, "https": 443}.get(came_from.scheme)
        same = (came_from.hostname is not None
                and came_from.hostname == sent_to.hostname
                and (came_from.port or default) == (sent_to.port or default))
    except ValueError:  # a malformed port
        same = False
    if not same:
        raise CsrfFailed("the request's Origin is not this server")


class SignInLimiter:
    """Failed sign-ins per (tenant, name, client address) in a sliding window, in this
    process: past `SIGN_IN_FAILURES`, every attempt is refused until the oldest failure leaves
    the window."""

    def __init__(self, clock: Clock, failures: int = SIGN_IN_FAILURES,
                 window: timedelta = SIGN_IN_WINDOW, max_entries: int = 100_000) -> None:
        self.clock = clock
        self.failures, self.window, self.max_entries = failures, window, max_entries
        self._seen: dict[tuple[str, str, str], deque[datetime]] = {}
        self._lock = threading.Lock()

    def check(self, key: tuple[str, str, str], failures: int | None = None) -> None:
        now = self.clock.now()
        with self._lock:
            failed = self._recent(key, now)
            if len(failed) >= (failures or self.failures):
                wait = failed[0] + self.window - now
                raise TooManySignIns(max(1, int(wait.total_seconds()) + 1))

    def failed(self, key: tuple[str, str, str]) -> None:
        now = self.clock.now()
        with self._lock:
            if len(self._seen) >= self.max_entries:
                self._seen = {k: v for k, v in self._seen.items()
                              if v and v[-1] > now - self.window}
            self._recent(key, now).append(now)

    def succeeded(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            self._seen.pop(key, None)

    def _recent(self, key: tuple[str, str, str], now: datetime) -> deque[datetime]:
        failed = self._seen.setdefault(key, deque())
        while failed and failed[0] <= now - self.window:
            failed.popleft()
        return failed


class Sessions:
    """Opens, checks and ends browser sessions, kept beside the event store's events (in
    memory for the in-memory store)."""

    def __init__(self, store: ChronicleStore, settings: Settings,
                 users: UserDirectory | None = None, clock: Clock | None = None) -> None:
        self.users = users or UserDirectory(store)
        self.clock: Clock = clock or SystemClock()
        self.idle = timedelta(seconds=settings.session_idle_s)
        self.longest = timedelta(seconds=settings.session_max_s)
        self.cookie_secure = settings.session_cookie_secure
        self.limiter = SignInLimiter(_Delegate(self))
        self._table = side_table(store, TABLE)
        self._table.create("digest TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, "
                           "name TEXT NOT NULL, created_at TEXT NOT NULL, "
                           "last_seen_at TEXT NOT NULL, expires_at TEXT NOT NULL")
        self._principals = side_table(store, PRINCIPALS_TABLE)
        self._principals.create("digest TEXT PRIMARY KEY, principal TEXT NOT NULL, "
                                "expires_at TEXT NOT NULL")
        # The in-memory store's sessions, shared by every Sessions object on that store.
        self._memory: dict[str, Session] = store.__dict__.setdefault("_crm_sessions", {})
        self._lock = threading.Lock()
        self._hashing = threading.BoundedSemaphore(HASHING_AT_ONCE)

    # -- signing in and out ---------------------------------------------------------------

    def sign_in(self, tenant_id: str, name: str, password: str, client: str) -> SignedIn:
        """A new session for the account; InvalidCredentials (whether the account exists or
        not, in about the same time), TooManySignIns past the limit."""
        key, address = (tenant_id, name.lower(), client), ("", "", client)
        self.limiter.check(key)
        self.limiter.check(address, ADDRESS_FAILURES)
        record = self.users.get(tenant_id, name, fresh=True) if _well_formed(
            tenant_id, name) else None
        stored = None
        if record is not None and record.disabled_at is None:
            stored = self.users.passwords.get(tenant_id, name)
        with self._hashing:  # each check takes 64 MiB and tens of milliseconds
            matches = verify_password(stored, password)
        if not matches:
            self.limiter.failed(key)
            self.limiter.failed(address)
            raise InvalidCredentials()
        assert record is not None
        self.limiter.succeeded(key)
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        now = self.clock.now()
        session = Session(tenant_id, name, now, now, now + self.longest)
        self._save(_digest(token), session, now)
        return SignedIn(token, csrf_token_of(token), record, session.expires_at)

    def open_for(self, principal: Principal) -> Opened:
        """A new session for a principal the identity provider vouched for (no local
        account); it ends like any other, by its timeouts or at sign-out."""
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        now = self.clock.now()
        kept = Principal(subject=principal.subject, tenants=principal.tenants,
                         roles=principal.roles, teams=principal.teams,
                         display_name=principal.display_name, credential="session")
        session = Session(principal.tenants[0], principal.subject, now, now,
                          now + self.longest, kept)
        self._save(_digest(token), session, now)
        return Opened(token, csrf_token_of(token), session.expires_at)

    def sign_out(self, token: str) -> Session | None:
        """End the session (the one it was, or None when there was none)."""
        if not _SESSION.fullmatch(token):
            return None
        return self._delete(_digest(token))

    def end_all(self, tenant_id: str, name: str) -> None:
        """End every session of an account (disabled, or given a new password)."""
        if self._table.datastore is None:
            with self._lock:
                for digest in [k for k, s in self._memory.items()
                               if (s.tenant_id, s.name) == (tenant_id, name)]:
                    self._memory.pop(digest, None)
            return
        self._table.execute("DELETE FROM {t} WHERE tenant_id = ? AND name = ?",
                            (tenant_id, name))

    # -- checking a session ---------------------------------------------------------------

    def check(self, token: str) -> tuple[Session, UserRecord | None]:
        """The session of a cookie and its account as it is now (None for a session of the
        identity provider); InvalidSession otherwise (an ended session is deleted)."""
        if not _SESSION.fullmatch(token):
            raise InvalidSession("the session cookie is malformed: sign in again")
        digest = _digest(token)
        session = self._load(digest)
        if session is None:
            raise InvalidSession("the session is not valid or has ended: sign in again")
        now = self.clock.now()
        if now >= session.expires_at or now - session.last_seen_at >= self.idle:
            self._delete(digest)
            raise InvalidSession("the session has ended: sign in again")
        record = None
        if session.principal is None:
            record = self.users.get(session.tenant_id, session.name)
            if record is None or record.disabled_at is not None:
                self._delete(digest)
                raise InvalidSession("the account is disabled")
        if now - session.last_seen_at >= TOUCH_EVERY:
            self._touch(digest, now)
        return session, record

    def alive(self, token: str) -> bool:
        """Whether a session is still neither ended, idle nor of a disabled account, without
        counting as a use (what a long-lived request, such as an event stream, asks again
        now and then)."""
        session = self._load(_digest(token)) if _SESSION.fullmatch(token) else None
        if session is None:
            return False
        now = self.clock.now()
        if not (now < session.expires_at and now - session.last_seen_at < self.idle):
            return False
        if session.principal is not None:
            return True
        record = self.users.get(session.tenant_id, session.name)
        return record is not None and record.disabled_at is None

    def principal(self, token: str) -> Principal:
        session, record = self.check(token)
        if session.principal is not None:
            return session.principal
        assert record is not None
        return record.principal()

    # -- the table --------------------------------------------------------------------------

    def _save(self, digest: str, session: Session, now: datetime) -> None:
        if self._table.datastore is None:
            with self._lock:
                for ended in [k for k, s in self._memory.items() if s.expires_at <= now]:
                    self._memory.pop(ended, None)
                self._memory[digest] = session
            return
        # Ended sessions go as new ones come: the table holds about the live ones.
        self._table.execute("DELETE FROM {t} WHERE expires_at < ?", (_text(now),))
        if session.principal is not None:
            self._principals.execute("DELETE FROM {t} WHERE expires_at < ?", (_text(now),))
            self._principals.execute(
                "INSERT INTO {t} (digest, principal, expires_at) VALUES (?, ?, ?)",
                (digest, _principal_text(session.principal), _text(session.expires_at)))
        self._table.execute(
            "INSERT INTO {t} (digest, tenant_id, name, created_at, last_seen_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (digest, session.tenant_id, session.name, _text(session.created_at),
             _text(session.last_seen_at), _text(session.expires_at)))

    def _load(self, digest: str) -> Session | None:
        if self._table.datastore is None:
            with self._lock:
                return self._memory.get(digest)
        rows = self._table.rows(
            "SELECT s.tenant_id, s.name, s.created_at, s.last_seen_at, s.expires_at, "
            f"p.principal FROM {{t}} s LEFT JOIN {self._principals.name} p "
            "ON p.digest = s.digest WHERE s.digest = ?", (digest,))
        if not rows:
            return None
        tenant_id, name, created, seen, ends, principal = rows[0]
        return Session(str(tenant_id), str(name), _moment(created), _moment(seen),
                       _moment(ends), _principal_of(principal))

    def _touch(self, digest: str, now: datetime) -> None:
        if self._table.datastore is None:
            with self._lock:
                found = self._memory.get(digest)
                if found is not None:
                    self._memory[digest] = Session(found.tenant_id, found.name,
                                                   found.created_at, now, found.expires_at,
                                                   found.principal)
            return
        self._table.execute("UPDATE {t} SET last_seen_at = ? WHERE digest = ?",
                            (_text(now), digest))

    def _delete(self, digest: str) -> Session | None:
        found = self._load(digest)
        if self._table.datastore is None:
            with self._lock:
                self._memory.pop(digest, None)
        else:
            self._table.execute("DELETE FROM {t} WHERE digest = ?", (digest,))
            if found is not None and found.principal is not None:
                self._principals.execute("DELETE FROM {t} WHERE digest = ?", (digest,))
        return found


class _Delegate:
    """The sessions' clock, for the limiter (so a clock set on the sessions reaches both)."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def now(self) -> datetime:
        return self._sessions.clock.now()


def _well_formed(tenant_id: str, name: str) -> bool:
    try:
        check_actor(name)
    except ValueError:
        return False
    return bool(TENANT_ID.fullmatch(tenant_id)) and not is_reserved(name)


def _principal_text(principal: Principal) -> str:
    return json.dumps({"subject": principal.subject, "tenants": list(principal.tenants),
                       "roles": sorted(principal.roles), "teams": sorted(principal.teams),
                       "display_name": principal.display_name})


def _principal_of(value: object) -> Principal | None:
    if value is None:
        return None
    kept = json.loads(str(value))
    return Principal(subject=kept["subject"], tenants=tuple(kept["tenants"]),
                     roles=frozenset(kept["roles"]), teams=frozenset(kept["teams"]),
                     display_name=kept["display_name"], credential="session")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _moment(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
