"""The AsyncAPI 3.0 document of the event topic, generated from the catalog.

One message per published event type and schema version. A message's payload is the CloudEvent
the relay writes: the envelope attributes (documented once, in `components.schemas`) and
`data`, whose properties are `$ref`s into the committed JSON Schema of that event version, so
the event contract has one source of truth (`schemas/events/<type>/v<N>.schema.json`) and this
document cannot drift from it. The event schemas describe the whole event; an event is
`data` plus the envelope fields carried by the attributes listed in `ENVELOPE_ATTRIBUTES`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.common.cloudevents import (
    CONTENT_TYPE,
    DATACONTENTTYPE,
    SOURCE_PREFIX,
    SPECVERSION,
    dataschema_uri,
)
from services.common.events.catalog import PUBLISHED_EVENT_CLASSES
from services.common.events.envelope import ENVELOPE_FIELDS, CrmEvent
from services.common.schemas import DEFAULT_DIR, REPO_ROOT, event_schema

DEFAULT_PATH = REPO_ROOT / "schemas" / "asyncapi.json"
DEFAULT_TOPIC = "crm.events"
BINDING_VERSION = "0.5.0"

ENVELOPE_ATTRIBUTES: dict[str, str] = {
    "event_id": "id",
    "aggregate_id": "aggregateid (also subject)",
    "aggregate_version": "aggregateversion",
    "customer_id": "customerid",
    "tenant_id": "tenantid",
    "actor": "actor",
    "occurred_at": "time",
    "recorded_at": "recordedat",
    "correlation_id": "correlationid",
    "causation_id": "causationid (absent when none)",
}
assert set(ENVELOPE_ATTRIBUTES) == ENVELOPE_FIELDS

_UUID = {"type": "string", "format": "uuid"}
_TIME = {"type": "string", "format": "date-time"}

_CLOUD_EVENT: dict[str, Any] = {
    "type": "object",
    "description": (
        "A CloudEvents 1.0 document in structured mode (Kafka header content-type "
        f"`{CONTENT_TYPE}`). Extension attributes are lowercase alphanumerics, per the spec. "
        "Field `X` of an event schema is carried by the attribute given here: "
        + ", ".join(f"{field} -> {attr}" for field, attr in ENVELOPE_ATTRIBUTES.items())
        + "; every other field is in `data`."
    ),
    "required": ["specversion", "id", "source", "type", "dataschema", "subject", "time",
                 "datacontenttype", "customerid", "tenantid", "actor", "position",
                 "correlationid", "aggregateid", "aggregateversion", "recordedat", "data"],
    "additionalProperties": False,
    "properties": {
        "specversion": {"const": SPECVERSION},
        "id": {**_UUID, "description": "The event_id. Unique per event: dedupe on it."},
        "source": {"type": "string", "pattern": f"^{SOURCE_PREFIX}",
                   "description": f"`{SOURCE_PREFIX}<tenant_id>`."},
        "type": {"type": "string", "description": "Wire type, crm.<aggregate>.<fact>."},
        "dataschema": {"type": "string", "description": (
            "`$id` of the event's JSON Schema, urn:chronicle-crm:event:<type>:v<N>; N is the "
            "schema version of this event.")},
        "subject": {**_UUID, "description": "The aggregate (customer, lead, ...) id."},
        "time": {**_TIME, "description": "occurred_at: business time, RFC 3339."},
        "datacontenttype": {"const": DATACONTENTTYPE},
        "customerid": {**_UUID, "description": "The customer; also the Kafka message key."},
        "tenantid": {"type": "string", "minLength": 1, "maxLength": 64},
        "actor": {"type": "string", "minLength": 1, "maxLength": 128,
                  "description": "Who caused it: a user, `import:<run>` or `rule:<id>`."},
        "position": {"type": "integer", "minimum": 1, "description": (
            "Global position in the event store. Increases along each partition in first "
            "delivery; a redelivered event repeats a position already seen.")},
        "correlationid": _UUID,
        "causationid": {**_UUID, "description": "The event or command that caused this one."},
        "aggregateid": _UUID,
        "aggregateversion": {"type": "integer", "minimum": 1},
        "recordedat": {**_TIME, "description": "System time the store recorded the event."},
        "data": {"type": "object", "description": "The event's own fields."},
    },
}


def _message_name(cls: type[CrmEvent], version: int) -> str:
    return cls.__name__ if version == cls.schema_version else f"{cls.__name__}V{version}"


def _versions(cls: type[CrmEvent], schema_dir: Path) -> list[tuple[int, dict[str, Any]]]:
    """Every version still on the topic: the current one from the code, older ones from the
    committed files (they stay readable forever: the topic keeps everything)."""
    found = []
    for version in range(1, cls.schema_version):
        path = schema_dir / cls.event_type / f"v{version}.schema.json"
        found.append((version, json.loads(path.read_text())))
    found.append((cls.schema_version, event_schema(cls)))
    return found


def _data_schema(cls: type[CrmEvent], version: int, schema: dict[str, Any]) -> dict[str, Any]:
    file = f"events/{cls.event_type}/v{version}.schema.json"  # relative to this document
    own = sorted(name for name in schema["properties"] if name not in ENVELOPE_FIELDS)
    return {
        "type": "object",
        "properties": {name: {"$ref": f"{file}#/properties/{name}"} for name in own},
        "required": [name for name in schema.get("required", ()) if name not in ENVELOPE_FIELDS],
        "additionalProperties": False,
    }


def _message(cls: type[CrmEvent], version: int, schema: dict[str, Any]) -> dict[str, Any]:
    doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    return {
        "name": cls.event_type,
        "title": f"{cls.__name__} v{version}",
        "summary": doc or f"{cls.event_type}, schema version {version}.",
        "contentType": CONTENT_TYPE.split(";")[0],
        "headers": {"$ref": "#/components/schemas/KafkaHeaders"},
        "payload": {"allOf": [
            {"$ref": "#/components/schemas/CloudEvent"},
            {"type": "object", "properties": {
                "type": {"const": cls.event_type},
                "dataschema": {"const": dataschema_uri(cls, version)},
                "data": _data_schema(cls, version, schema),
            }},
        ]},
        "correlationId": {"$ref": "#/components/correlationIds/correlationid"},
        "bindings": {"$ref": "#/components/messageBindings/keyedByCustomer"},
        "x-event-schema": {"$ref": f"events/{cls.event_type}/v{version}.schema.json"},
    }


def asyncapi_document(schema_dir: Path = DEFAULT_DIR, topic: str = DEFAULT_TOPIC) -> dict[str, Any]:
    """The AsyncAPI document of `topic` as the code defines it today."""
    messages: dict[str, Any] = {}
    for cls in PUBLISHED_EVENT_CLASSES:
        for version, schema in _versions(cls, schema_dir):
            messages[_message_name(cls, version)] = _message(cls, version, schema)
    refs = {name: {"$ref": f"#/components/messages/{name}"} for name in messages}
    return {
        "asyncapi": "3.0.0",
        "id": "urn:chronicle-crm:asyncapi:events",
        "info": {
            "title": "Chronicle CRM customer events",
            "version": "1.0.0",
            "description": (
                "Every published fact of the CRM, once per event at least (dedupe on the "
                "CloudEvents `id` or on `position`), ordered per customer. One topic; the "
                "message key is the customer id (murmur2 partitioning, as the Java client), so "
                "a customer's events share one partition. Infinite retention: replay from "
                "offset 0. A new shape of an event is a new schema version (see `dataschema`); "
                "older versions stay on the topic. How to subscribe: docs/subscribing.md."
            ),
        },
        "defaultContentType": CONTENT_TYPE.split(";")[0],
        "channels": {
            "crmEvents": {
                "address": topic,
                "description": "The customer event stream (topic name configurable, "
                               "CRM_KAFKA_TOPIC).",
                "messages": refs,
                "bindings": {"kafka": {
                    "topic": topic,
                    "topicConfiguration": {"retention.ms": -1, "retention.bytes": -1,
                                           "cleanup.policy": ["delete"]},
                    "bindingVersion": BINDING_VERSION,
                }},
            },
        },
        "operations": {
            "publishCrmEvents": {
                "action": "send",
                "summary": "The relay publishes every stored event after the broker acknowledged "
                           "the previous batch (acks=all, idempotent producer).",
                "channel": {"$ref": "#/channels/crmEvents"},
                "messages": [{"$ref": f"#/channels/crmEvents/messages/{name}"} for name in messages],
            },
        },
        "components": {
            "schemas": {
                "CloudEvent": _CLOUD_EVENT,
                "KafkaHeaders": {"type": "object", "properties": {
                    "content-type": {"const": CONTENT_TYPE}}},
            },
            "messages": messages,
            "correlationIds": {"correlationid": {
                "description": "Shared by every event of one request or workflow.",
                "location": "$message.payload#/correlationid",
            }},
            "messageBindings": {"keyedByCustomer": {"kafka": {
                "key": {**_UUID, "description": "customer_id (UTF-8 text of the UUID)."},
                "bindingVersion": BINDING_VERSION,
            }}},
        },
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write_asyncapi(path: Path = DEFAULT_PATH) -> bool:
    """Write the document; return whether the file changed."""
    text = render(asyncapi_document(path.parent / "events"))
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def check_asyncapi(path: Path = DEFAULT_PATH) -> list[str]:
    """Differences between the committed document and the code (empty: in sync)."""
    if not path.exists():
        return [f"missing {path.name}"]
    if json.loads(path.read_text()) != asyncapi_document(path.parent / "events"):
        return [f"out of date {path.name}"]
    return []
