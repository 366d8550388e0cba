"""Examples of every published catalog event, generated from its JSON Schema (hypothesis).

Driven by the schema rather than hand-written, so a new event type is covered the day it is
added to the catalog.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from services.common.events.catalog import PUBLISHED_EVENT_CLASSES
from services.common.events.envelope import CrmEvent
from services.common.schemas import event_schema

_TEXT = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
_OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                            timezone(timedelta(hours=-8))])
_TIMES = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                      timezones=_OFFSETS)


def _from_schema(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    """JSON values valid against the subset of JSON Schema pydantic emits for the catalog."""
    if "$ref" in schema:
        return _from_schema(root["$defs"][schema["$ref"].rsplit("/", 1)[-1]], root)
    if "anyOf" in schema:
        return st.one_of([_from_schema(option, root) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False,
                         allow_infinity=False)
    if kind == "array":
        return st.lists(_from_schema(schema.get("items", {}), root), max_size=3)
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {name: _from_schema(sub, root) for name, sub in properties.items() if name in required},
            optional={name: _from_schema(sub, root) for name, sub in properties.items()
                      if name not in required},
        )
    if kind == "string":
        if schema.get("format") == "uuid":
            return st.uuids().map(str)
        if schema.get("format") == "date-time":
            return _TIMES.map(datetime.isoformat)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return st.text(_TEXT, min_size=schema.get("minLength", 0),
                       max_size=min(schema.get("maxLength", 40), 40))
    raise AssertionError(f"no strategy for schema {schema}")


def events_of(cls: type[CrmEvent]) -> st.SearchStrategy[CrmEvent]:
    """Events of one type, with every field drawn within its schema's constraints."""
    schema = event_schema(cls)
    return _from_schema(schema, schema).map(cls.model_validate)


def catalog_events() -> st.SearchStrategy[CrmEvent]:
    """Any published event."""
    return st.one_of([events_of(cls) for cls in PUBLISHED_EVENT_CLASSES])
