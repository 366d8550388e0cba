"""FastAPI dependencies of the query API: the read models, the tenant, read-your-writes."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Response
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, WithJsonSchema
from starlette.concurrency import run_in_threadpool

from services.common.auth.http import Caller, CallerDep
from services.common.limited import expensive_read_slot
from services.common.times import parse_moment
from services.common.web import ApiError
from services.projections import registry
from services.query.access_log import AccessLogUnavailable, What
from services.query.read_models import ReadModels

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _sensible_moment(value: datetime) -> datetime:
    """In UTC, and far enough from the ends of the calendar that ranges and UTC conversion
    around it cannot overflow (year 1 at +14:00 has no UTC equivalent)."""
    problem = f"must be between the years {EARLIEST.year} and {LATEST.year - 1} (UTC)"
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(problem) from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(problem)
    return utc


def _typed_moment(value: object) -> object:
    """A date or timestamp as a person types it (`2026-01-01` is its start, UTC; a timestamp
    without an offset is UTC), as the command line and the import read them."""
    return parse_moment(value) if isinstance(value, str) else value


Moment = Annotated[AwareDatetime, BeforeValidator(_typed_moment),
                   AfterValidator(_sensible_moment)]
"""A date or time query parameter: an ISO 8601 date (its start, UTC) or timestamp (UTC when
it has no offset), years 1900-8999. A range's `from` is inclusive, its `to` exclusive."""

PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
"""Text parameters hold no control characters (PostgreSQL text cannot hold NUL at all)."""
CodeParam = Annotated[str | None, Query(min_length=1, max_length=64, pattern=PRINTABLE)]
"""An owner, tag, region, source, channel or assignee to filter by."""

_DURATION = re.compile(r"^(?:(\d{1,5})d)?(?:(\d{1,5})h)?(?:(\d{1,5})m)?(?:(\d{1,5})s)?$")
LONGEST_DURATION = timedelta(days=3650)


def parse_duration(value: object) -> timedelta:
    """"7d", "4h", "1h30m", "45s", spelt as the rules file spells durations (the rules' own
    parser is the command side's; tests/unit/test_tickets.py holds the two to one reading)."""
    if isinstance(value, timedelta):
        return value
    text = value.strip() if isinstance(value, str) else ""
    match = _DURATION.match(text)
    if match is None or not any(match.groups()):
        raise ValueError(f'{value!r} is not a duration such as "7d", "4h", "1h30m" or "45s"')
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if duration <= timedelta(0):
        raise ValueError("a duration must be above zero")
    if duration > LONGEST_DURATION:
        raise ValueError("a duration must be at most 3650 days")
    return duration


Duration = Annotated[timedelta, BeforeValidator(parse_duration), WithJsonSchema({
    "type": "string", "pattern": _DURATION.pattern, "examples": ["2h", "1d12h", "45m"]})]
"""A duration query parameter, as the rules file writes one: days, hours, minutes and seconds
in that order, each optional (`7d`, `4h`, `1h30m`, `45s`), above zero, at most 3650 days."""


async def _read_models(request: Request) -> ReadModels:  # async: no thread hop
    read_models: ReadModels = request.app.state.read_models
    return read_models


async def _tenant(caller: CallerDep) -> str:
    return caller.tenant_id


ReadModelsDep = Annotated[ReadModels, Depends(_read_models)]
Tenant = Annotated[str, Depends(_tenant)]


@dataclass(frozen=True)
class AccessRecorder:
    """Records in the access log that the caller of the route being served read customers'
    personal data: `record("history", [customer_id])`."""

    read_models: ReadModels
    caller: Caller
    route: str

    def __call__(self, what: What, customer_ids: Iterable[str | None]) -> None:
        try:
            self.read_models.access_log.record(self.caller.tenant_id, self.caller.actor,
                                               customer_ids, what, self.route)
        except AccessLogUnavailable as exc:
            # Personal data is not served unlogged.
            raise ApiError(503, "access_log_unavailable", f"{exc}; try again shortly") \
                from None


async def _access_recorder(request: Request, caller: CallerDep,
                           read_models: ReadModelsDep) -> AccessRecorder:
    method = "GET" if request.method == "HEAD" else request.method
    return AccessRecorder(read_models, caller, f"{method} {request.scope['route'].path}")


RecordAccess = Annotated[AccessRecorder, Depends(_access_recorder)]


WAIT_PAUSES_S = (0.005, 0.05)
"""How often a `min_position` wait looks again: after 5 ms at first, doubling up to 50 ms."""


async def _applied(request: Request, read_models: ReadModels, models: Sequence[str],
                   position: int, timeout_s: float) -> bool:
    """Wait until `models` have applied `position` (True) or `timeout_s` passed (False).

    On the event loop, holding no worker thread: it asks how far the read models have got (a
    few reads of memory) on a short backoff. A thread per waiting request let 45 waits for a
    position that never came make a plain list take 9 s. The wait holds an expensive-read
    slot (503 when none frees), so waits cannot pile up without a bound either.
    """
    async with expensive_read_slot(request):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        pause, longest = WAIT_PAUSES_S
        while not read_models.has_applied(models, position):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(pause, remaining))
            pause = min(pause * 2, longest)
        return True


def consistent(*models: str) -> Callable[..., Awaitable[int]]:
    """A dependency for a route that reads `models` (each a model's `reads.NAME`): waits for
    `min_position` (query parameter or `X-Min-Position` header) and answers with
    `X-Projection-Position`."""
    registry.known(models)

    async def wait(
        request: Request, response: Response, read_models: ReadModelsDep,
        min_position: Annotated[int | None, Query(
            ge=0, le=2**62, description="Wait until the read models have applied this global "
            "position (returned by every command), up to `read_wait_timeout_s` (10 s by "
            "default); 504 if they have not, 422 `position_beyond_log` at once if the event "
            "store has not reached it.")] = None,
        x_min_position: Annotated[str | None, Header(
            description="Same as `min_position`.")] = None,
    ) -> int:
        wanted = min_position
        if x_min_position is not None:
            if not x_min_position.strip().isdigit() or len(x_min_position.strip()) > 18:
                raise ApiError(400, "invalid_header", "X-Min-Position must be a position number",
                               header="X-Min-Position")
            wanted = max(wanted or 0, int(x_min_position.strip()))
        timeout_s = float(request.app.state.settings.read_wait_timeout_s)
        behind = wanted is not None and wanted > 0 and read_models.position(models) < wanted
        if behind and wanted is not None:
            # A position the log has not reached can never be applied: say so at once.
            last = await run_in_threadpool(read_models.last_position)
            if last is not None and wanted > last:
                raise ApiError(422, "position_beyond_log",
                               f"min_position {wanted} is beyond the last position in the event "
                               f"store ({last}); pass a position a command returned",
                               min_position=wanted, last_position=last)
        if behind and not await _applied(request, read_models, models, wanted or 0, timeout_s):
            current = read_models.position(models)
            raise ApiError(504, "projection_timeout",
                           f"the read models have not reached position {wanted} within "
                           f"{timeout_s:g}s", min_position=wanted, position=current,
                           read_models=list(models))
        position = read_models.position(models)
        response.headers["X-Projection-Position"] = str(position)
        return position

    return wait


# -- keyset cursors ------------------------------------------------------------------------------


def encode_cursor(values: Any) -> str:
    """An opaque keyset cursor: the sort values of a page's last item."""
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise ApiError(422, "invalid_cursor", "the cursor is not one this API returned") from None
    if not isinstance(values, list) or len(values) != length:
        raise ApiError(422, "invalid_cursor", "the cursor is not one this API returned")
    return values


def moment_cursor(cursor: str, max_number: int) -> tuple[str, int]:
    """The (moment, number) a cursor of a route paging by time names (the timeline's position,
    the access log's entry id); 422 for anything else. The moment is aware and inside the
    calendar: year 1 at +14:00 has no UTC equivalent and used to overflow into a 500."""
    at, number = decode_cursor(cursor, 2)
    refused = ApiError(422, "invalid_cursor", "the cursor is not one this API returned")
    if not isinstance(at, str) or not isinstance(number, int) or isinstance(number, bool) \
            or not 0 <= number <= max_number:
        raise refused
    try:
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("no time zone")
        _sensible_moment(moment)
    except ValueError:
        raise refused from None
    return at, number
