"""The wire format on Kafka: one CloudEvents 1.0 JSON document (structured mode) per event.

The envelope fields of a catalog event become CloudEvents attributes (the standard ones where
the spec has one, lowercase extension attributes otherwise); the event's own fields travel
under `data`, and `data.personal` is sealed under the customer's data key (never readable on
the topic; docs/subscribing.md). `decode` is the exact
inverse of `encode`, and reads older schema versions through the event class's upcasters, so
a subscriber replaying the topic from offset 0 gets today's shapes.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

from eventsourcing.persistence import Mapper, Notification
from pydantic import ValidationError

from services.common.events.catalog import BY_TYPE
from services.common.events.envelope import ENVELOPE_FIELDS, CrmEvent
from services.common.log_privacy import describe
from services.common.privacy.sealing import open_state, seal_state
from services.common.privacy.vault import PersonalDataVault, is_sealed

SPECVERSION = "1.0"
DATACONTENTTYPE = "application/json"
CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
"""The Kafka `content-type` header that marks structured mode (CloudEvents Kafka binding §3.1)."""
SOURCE_PREFIX = "/chronicle-crm/"

_DATASCHEMA = re.compile(r"^urn:chronicle-crm:event:(?P<type>[a-z0-9_.]+):v(?P<version>[1-9][0-9]{0,3})$")

# CloudEvents attribute -> envelope field. Attribute names are lowercase alphanumerics only,
# as the spec requires of extension attributes.
_ATTRIBUTE_OF_FIELD: dict[str, str] = {
    "event_id": "id",
    "aggregate_id": "subject",
    "occurred_at": "time",
    "customer_id": "customerid",
    "tenant_id": "tenantid",
    "actor": "actor",
    "correlation_id": "correlationid",
    "causation_id": "causationid",
    "aggregate_version": "aggregateversion",
    "recorded_at": "recordedat",
}
assert set(_ATTRIBUTE_OF_FIELD) == ENVELOPE_FIELDS, "every envelope field needs an attribute"

_STRING_ATTRIBUTES = ("id", "source", "type", "dataschema", "subject", "time", "customerid",
                      "tenantid", "actor", "correlationid", "recordedat")
_INTEGER_ATTRIBUTES = ("position", "aggregateversion")


class InvalidCloudEvent(ValueError):
    """A message that is not a CloudEvent of a published Chronicle event this code can read."""


def dataschema_uri(cls: type[CrmEvent], version: int | None = None) -> str:
    """The `$id` of the JSON Schema of this event type (at its current version by default)."""
    return f"urn:chronicle-crm:event:{cls.event_type}:v{version or cls.schema_version}"


def to_cloud_event(event: CrmEvent, position: int,
                   vault: PersonalDataVault | None = None) -> dict[str, Any]:
    """The CloudEvents document of a stored event at its global `position`. `personal` is
    sealed under the customer's key by `vault`, or withheld (null) without one: it never
    travels in plain text."""
    cls = type(event)
    if cls.internal:
        raise ValueError(f"{cls.event_type} is internal and never published")
    state = event.model_dump(mode="json")
    if state.get("personal") is not None:
        if vault is not None:
            seal_state(state, vault)
        else:
            state["personal"] = None
    return _document(cls, state, position)


def encode_stored(cls: type[CrmEvent], payload: bytes, position: int) -> tuple[bytes, bytes] | None:
    """(key, value) straight from a stored event's JSON, without building the pydantic model:
    the store holds the validated event's JSON with `personal` already sealed, the document
    `encode` gives. None when the payload is an older version (it needs upcasting, and
    perhaps sealing, first)."""
    document = stored_document(cls, payload, position)
    return None if document is None else message_of(document)


def stored_document(cls: type[CrmEvent], payload: bytes, position: int) -> dict[str, Any] | None:
    """The document `encode_stored` sends, as a dict (None in the same cases)."""
    if cls.internal:
        raise ValueError(f"{cls.event_type} is internal and never published")
    if cls.schema_version == 1 and b'"schema_version"' in payload:
        return None
    state = json.loads(payload)
    if state.pop("schema_version", 1) != cls.schema_version:
        return None
    if state.get("personal") is not None and not is_sealed(state["personal"]):
        return None
    return _document(cls, state, position)


def published_document(cls: type[CrmEvent], notification: Notification, mapper: Mapper[Any],
                       vault: PersonalDataVault | None) -> dict[str, Any]:
    """The document of a stored event as it is published (the relay's topic, the live
    stream): the stored JSON as it is when it can be (`personal` stays sealed as stored),
    else the event read through the mapper (decrypted, upcast) and sealed again by `vault`.
    `cls` (the notification's event class) must not be internal."""
    plain = mapper.cipher is None and mapper.compressor is None
    document = stored_document(cls, notification.state, notification.id) if plain else None
    if document is None:
        event = cast(CrmEvent, mapper.to_domain_event(notification))
        document = to_cloud_event(event, notification.id, vault)
    return document


def message_of(document: dict[str, Any]) -> tuple[bytes, bytes]:
    """(key, value) of the Kafka message of a document: the customer id, and compact JSON."""
    return (document["customerid"].encode(),
            json.dumps(document, separators=(",", ":")).encode())


def _document(cls: type[CrmEvent], state: dict[str, Any], position: int) -> dict[str, Any]:
    """Split an event's JSON state into CloudEvents attributes and `data` (consumes `state`)."""
    document: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": state.pop("event_id"),
        "source": SOURCE_PREFIX + state["tenant_id"],
        "type": cls.event_type,
        "dataschema": dataschema_uri(cls),
        "subject": state["aggregate_id"],
        "time": state.pop("occurred_at"),
        "datacontenttype": DATACONTENTTYPE,
        "customerid": state.pop("customer_id"),
        "tenantid": state.pop("tenant_id"),
        "actor": state.pop("actor"),
        "position": position,
        "correlationid": state.pop("correlation_id"),
    }
    causation_id = state.pop("causation_id")
    if causation_id is not None:
        document["causationid"] = causation_id
    document["aggregateid"] = state.pop("aggregate_id")
    document["aggregateversion"] = state.pop("aggregate_version")
    document["recordedat"] = state.pop("recorded_at")
    document["data"] = state
    return document


def encode(event: CrmEvent, position: int, vault: PersonalDataVault | None = None) -> bytes:
    """Compact UTF-8 JSON of `to_cloud_event`: the Kafka message value."""
    # ASCII-escaped: always valid UTF-8, whatever text the event holds.
    return json.dumps(to_cloud_event(event, position, vault), separators=(",", ":")).encode()


def partition_key(event: CrmEvent) -> bytes:
    """The Kafka message key: the customer id, so a customer's events share one partition."""
    return str(event.customer_id).encode()


def decode(value: bytes, vault: PersonalDataVault | None = None) -> tuple[int, CrmEvent]:
    """`(position, event)` from a message value; raises InvalidCloudEvent if it is not one.
    `personal` is opened with `vault`; without one, or once the customer is erased, it is
    null."""
    try:
        document = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidCloudEvent(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidCloudEvent("not a JSON object")
    cls, version = _event_class(document)
    position = document["position"]
    data = document.get("data")
    if not isinstance(data, dict):
        raise InvalidCloudEvent("data must be a JSON object")
    clash = ENVELOPE_FIELDS & data.keys()
    if clash:
        raise InvalidCloudEvent(f"data repeats envelope fields {sorted(clash)}")
    state: dict[str, Any] = dict(data)
    for field, attribute in _ATTRIBUTE_OF_FIELD.items():
        state[field] = document.get(attribute)
    try:
        open_state(state, vault)
        _upcast(cls, state, version)
        event = cls.model_validate(state)
    except (ValidationError, KeyError, TypeError, ValueError) as exc:
        # Located by field and error type only: the message would quote opened values.
        raise InvalidCloudEvent(f"{cls.event_type} v{version}: "
                                f"{describe(exc, with_message=False)}") from None
    return position, event


def _event_class(document: dict[str, Any]) -> tuple[type[CrmEvent], int]:
    """Check the attributes and return the event class and the schema version of `data`."""
    if document.get("specversion") != SPECVERSION:
        raise InvalidCloudEvent(f"specversion must be {SPECVERSION!r}")
    if document.get("datacontenttype") != DATACONTENTTYPE:
        raise InvalidCloudEvent(f"datacontenttype must be {DATACONTENTTYPE!r}")
    for name in _STRING_ATTRIBUTES:
        if not isinstance(document.get(name), str):
            raise InvalidCloudEvent(f"attribute {name!r} must be a string")
    for name in _INTEGER_ATTRIBUTES:
        value = document.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidCloudEvent(f"attribute {name!r} must be a positive integer")
    if "causationid" in document and not isinstance(document["causationid"], str):
        raise InvalidCloudEvent("attribute 'causationid' must be a string when present")
    if document["source"] != SOURCE_PREFIX + document["tenantid"]:
        raise InvalidCloudEvent("source does not name the tenant in tenantid")
    if document["subject"] != document.get("aggregateid"):
        raise InvalidCloudEvent("subject and aggregateid differ")
    cls = BY_TYPE.get(document["type"])
    if cls is None or cls.internal:
        raise InvalidCloudEvent(f"unknown event type {document['type']!r}")
    match = _DATASCHEMA.match(document["dataschema"])
    if match is None or match["type"] != cls.event_type:
        raise InvalidCloudEvent(f"dataschema {document['dataschema']!r} is not one of {cls.event_type}")
    version = int(match["version"])
    if version > cls.schema_version:
        raise InvalidCloudEvent(
            f"{cls.event_type} v{version} is newer than this code reads (v{cls.schema_version})"
        )
    return cls, version


def _upcast(cls: type[CrmEvent], state: dict[str, Any], from_version: int) -> None:
    """Bring an older version's state up to date, the way the event store's mapper does."""
    while from_version < cls.schema_version:
        getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
        from_version += 1
