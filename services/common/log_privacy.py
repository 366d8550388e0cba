"""What the logs must not hold: personal data from query strings, request bodies and error
messages (DESIGN.md §11).

- The server's access log (uvicorn's `"GET /v1/customers?q=ada@example.com HTTP/1.1" 200`)
  keeps the path and the names of the query parameters, but only the values of a few
  parameters that never carry personal data (`SAFE_QUERY_PARAMETERS`), and only on a request
  the API accepted (so the value passed its validation: a number, a moment, an id, one of an
  enumeration's words): every other value is `[redacted]`. An allow-list, so a parameter
  added later is redacted until someone decides otherwise. `cursor` is not on it: a page
  cursor of the customer list sorted by name holds the last name on the page.
- A failed request's traceback keeps the exception types and where they were raised, never
  their messages (a message may quote the request: a pydantic error names its `input_value`,
  a database error its `DETAIL: Key (email)=(…)`). Request bodies are logged nowhere.
- Elsewhere (relay, projectors, policies) messages stay, as outages need them, except those
  of errors that quote data: validation errors keep their locations and types, database data
  and integrity errors their class.

The filters go on the log handlers (`install`, `uvicorn_log_config`), so they see every record
whichever logger made it.
"""

from __future__ import annotations

import copy
import logging
import re
import traceback
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

REDACTED = "[redacted]"

SAFE_QUERY_PARAMETERS = frozenset({
    "limit", "sort", "order", "min_position", "after_position",
    "as_of", "as_of_recorded", "from", "to",
    "kind", "status", "lifecycle_stage", "cohort", "activity", "period", "group_by",
    "customer_id", "subject_id",
})
"""Query parameters whose values are logged: numbers, moments, enumerations and ids. Anything
free-form (`q`, `subject`, `owner`, `region`, `source`, `tag`, `cursor`, …) is redacted."""

_PARAMETER_NAME = re.compile(r"^[A-Za-z0-9_.\-\[\]]{1,64}$")
"""A name shaped like a parameter; anything else in the name position is treated as a value."""
_HARMLESS_VALUE = re.compile(r"^[A-Za-z0-9_.:+\-]{0,64}$")
"""The shape of the values kept (numbers, moments, ids, enumeration words): no `@`, no space."""

MESSAGES_WITHHELD_FROM = ("uvicorn", "chronicle.http")
"""Loggers of request handling: their tracebacks never show exception messages."""


def redact_query(target: str, *, accepted: bool = True) -> str:
    """A request target (`/path?a=1&q=x`) with the values of unsafe parameters redacted; every
    value when the request was not `accepted` (it may have been refused for one)."""
    path, sep, query = target.partition("?")
    if not sep or not query:
        return target
    pairs = (_redact_pair(pair, accepted) for pair in query.split("&"))
    return f"{path}?{'&'.join(pairs)}"


def _redact_pair(pair: str, accepted: bool) -> str:
    raw_name, has_value, raw_value = pair.partition("=")
    name = unquote_plus(raw_name)
    if not _PARAMETER_NAME.match(name):
        return REDACTED
    if not has_value or (accepted and name in SAFE_QUERY_PARAMETERS
                         and _HARMLESS_VALUE.match(unquote_plus(raw_value))):
        return pair
    return f"{raw_name}={REDACTED}"


class RedactQueryStrings(logging.Filter):
    """Redacts the request target of uvicorn's access-log records (client, method, target,
    HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) \
                and "?" in args[2]:
            accepted = isinstance(args[4], int) and args[4] < 400
            record.args = (*args[:2], redact_query(args[2], accepted=accepted), *args[3:])
        return True


def describe(exc: BaseException, *, with_message: bool) -> str:
    """`Type: message`, the message replaced where it may hold personal data."""
    name = _qualified_name(type(exc))
    summary = _validation_summary(exc)
    if summary is not None:
        return f"{name}: {summary}"
    if not with_message or _quotes_data(exc):
        return f"{name}: [message withheld: it may quote personal data]"
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def format_without_personal_data(exc: BaseException, *, with_messages: bool) -> str:
    """A traceback like Python's (the whole chain, oldest first), with each exception
    described by `describe`. Frames show code, never values."""
    parts: list[str] = []
    for each, link in _chain(exc):
        if link:
            parts.append(f"\n{link}\n\n")
        if each.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_tb(each.__traceback__))
        parts.append(describe(each, with_message=with_messages) + "\n")
    return "".join(parts).rstrip("\n")


class RedactExceptionValues(logging.Filter):
    """Rewrites a record's traceback (and exceptions among its arguments) without what may be
    personal data: see the module's docstring for which messages go."""

    def filter(self, record: logging.LogRecord) -> bool:
        with_messages = not record.name.startswith(MESSAGES_WITHHELD_FROM)
        if record.exc_info and record.exc_info[1] is not None:
            # The formatter prints `exc_text` when set, instead of formatting exc_info again.
            record.exc_text = format_without_personal_data(record.exc_info[1],
                                                           with_messages=with_messages)
        if isinstance(record.args, tuple) and any(isinstance(a, BaseException)
                                                  for a in record.args):
            record.args = tuple(describe(a, with_message=with_messages)
                                if isinstance(a, BaseException) else a for a in record.args)
        return True


def install(handler: logging.Handler) -> None:
    """Put both filters on a handler (once)."""
    for kind in (RedactQueryStrings, RedactExceptionValues):
        if not any(isinstance(f, kind) for f in handler.filters):
            handler.addFilter(kind())


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's own logging configuration, with the filters on both of its handlers."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {
        "query_strings": {"()": RedactQueryStrings},
        "exception_values": {"()": RedactExceptionValues},
    }
    for handler in config["handlers"].values():
        handler["filters"] = ["query_strings", "exception_values"]
    for logger in config["loggers"].values():
        logger["level"] = level.upper()
    return config


def _chain(exc: BaseException) -> Iterator[tuple[BaseException, str | None]]:
    """The exception and its causes or contexts, oldest first as Python prints them, each with
    the line printed before it (how it follows the one above)."""
    newest_first: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        older: BaseException | None = None
        link: str | None = None
        if current.__cause__ is not None:
            older, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            older, link = current.__context__, _CONTEXT
        newest_first.append((current, link if older is not None else None))
        current = older
    return reversed(newest_first)


_CAUSE = "The above exception was the direct cause of the following exception:"
_CONTEXT = "During handling of the above exception, another exception occurred:"


def _qualified_name(cls: type[BaseException]) -> str:
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def _validation_summary(exc: BaseException) -> str | None:
    """A pydantic validation error by location and type only (its text quotes the input)."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return None
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    where = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['type']}"
                      for e in errors[:20])
    return f"{exc.error_count()} validation error(s) for {exc.title}: {where}"


def _quotes_data(exc: BaseException) -> bool:
    """Errors whose messages quote the data they were given (a key's value, an input)."""
    import psycopg
    from eventsourcing import persistence

    return isinstance(exc, psycopg.DataError | psycopg.IntegrityError | persistence.DataError
                      | persistence.IntegrityError)
