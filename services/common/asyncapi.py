"""The AsyncAPI 3.0 document of the event topic, generated from the catalog.

One message per published event type and schema version. A message's payload is the CloudEvent
the relay writes: the envelope attributes (documented once, in `components.schemas`) and
`data`, which is a `$ref` to the committed JSON Schema of that version's data
(`schemas/events/<type>/v<N>.schema.json`, the `$id` its `dataschema` names), so the event
contract has one source of truth and this document cannot drift from it. Each message also
points at the whole-event schema (`x-event-schema`): `data` plus the envelope fields carried by
the attributes listed in `ENVELOPE_ATTRIBUTES`. A second channel carries the signed audit
checkpoints of the hash-chained log (docs/privacy.md "Tamper evidence").
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
from services.common.schemas import REPO_ROOT, schema_file

DEFAULT_PATH = REPO_ROOT / "schemas" / "asyncapi.json"
DEFAULT_TOPIC = "crm.events"
DEFAULT_CHECKPOINT_TOPIC = "crm.audit.checkpoints"
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
        "Field `X` of a whole-event schema (`x-event-schema`) is carried by the attribute "
        "given here: "
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
            "`$id` of the JSON Schema that `data` adheres to, "
            "urn:chronicle-crm:event:<type>:v<N> (committed as "
            "schemas/events/<type>/v<N>.schema.json); N is the schema version of this event.")},
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
        "data": {"type": "object", "description": (
            "The event's own fields; valid against the schema `dataschema` names.")},
    },
}


_HEX_HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$"}

_CHECKPOINT_PAYLOAD: dict[str, Any] = {
    "type": "object",
    "description": (
        "A signed checkpoint of the hash-chained event log: it vouches that the chain up to "
        "`position` holds `count` events and ends in `chain_hash`. The Ed25519 signature covers "
        "the UTF-8 text `chronicle-crm audit <checkpoint|rechain> v1\\nposition <position>\\n"
        "count <count>\\nchain <chain_hash>\\ntime <created_at>\\n` (a re-chain adds "
        "`reason <reason>\\n`); check it with the CRM's verification key. The same JSON is "
        "appended to the checkpoint file."),
    "required": ["type", "version", "position", "count", "chain_hash", "created_at",
                 "algorithm", "key_id", "signature"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["crm.audit.checkpoint", "crm.audit.rechain"], "description": (
            "`crm.audit.rechain`: the chain was rebuilt on purpose after a sanctioned rewrite "
            "(its `reason` says which); checkpoints signed before it are superseded.")},
        "version": {"const": 1},
        "position": {"type": "integer", "minimum": 1,
                     "description": "The event-store position of the chain head vouched for."},
        "count": {"type": "integer", "minimum": 1,
                  "description": "How many events the chain holds up to `position`."},
        "chain_hash": {**_HEX_HASH, "description": "SHA-256 chain hash at `position`, hex."},
        "created_at": {**_TIME, "description": "When it was signed."},
        "algorithm": {"const": "Ed25519"},
        "key_id": {"type": "string", "description": "Names the signing key."},
        "signature": {"type": "string", "contentEncoding": "base64"},
        "reason": {"type": "string", "description": "Only on a re-chain: why."},
    },
}


def _message_name(cls: type[CrmEvent], version: int) -> str:
    return cls.__name__ if version == cls.schema_version else f"{cls.__name__}V{version}"


def _schema_ref(cls: type[CrmEvent], version: int, *, whole_event: bool = False) -> dict[str, str]:
    """A reference to a committed schema file, relative to this document."""
    return {"$ref": f"events/{schema_file(cls, version, whole_event=whole_event)}"}


def _message(cls: type[CrmEvent], version: int) -> dict[str, Any]:
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
                "data": _schema_ref(cls, version),
            }},
        ]},
        "correlationId": {"$ref": "#/components/correlationIds/correlationid"},
        "bindings": {"$ref": "#/components/messageBindings/keyedByCustomer"},
        "x-event-schema": _schema_ref(cls, version, whole_event=True),
    }


def asyncapi_document(topic: str = DEFAULT_TOPIC,
                      checkpoint_topic: str = DEFAULT_CHECKPOINT_TOPIC) -> dict[str, Any]:
    """The AsyncAPI document of `topic` (and of the checkpoint topic) as the code defines it
    today."""
    # Every version is still on the topic (it keeps everything), so each has its message.
    messages = {_message_name(cls, version): _message(cls, version)
                for cls in PUBLISHED_EVENT_CLASSES for version in range(1, cls.schema_version + 1)}
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
                "older versions stay on the topic. Personal values (`data.personal`) are sealed "
                "(AES-256-GCM under the customer's key, see the `SealedPersonal` schema): "
                "subscribers read them from the API. How to subscribe: docs/subscribing.md."
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
            "auditCheckpoints": {
                "address": checkpoint_topic,
                "description": "Signed checkpoints of the hash-chained event log, to keep "
                               "off the database host (CRM_AUDIT_CHECKPOINT_TOPIC).",
                "messages": {"AuditCheckpoint": {
                    "$ref": "#/components/messages/AuditCheckpoint"}},
                "bindings": {"kafka": {
                    "topic": checkpoint_topic, "partitions": 1,
                    "topicConfiguration": {"retention.ms": -1, "retention.bytes": -1,
                                           "cleanup.policy": ["delete"]},
                    "bindingVersion": BINDING_VERSION,
                }},
            },
        },
        "operations": {
            "publishAuditCheckpoints": {
                "action": "send",
                "summary": "Every server signs a checkpoint after each "
                           "CRM_AUDIT_CHECKPOINT_EVERY_EVENTS events and at least every "
                           "CRM_AUDIT_CHECKPOINT_INTERVAL_S while events arrive; kept in the "
                           "store first, sent when the broker is reachable.",
                "channel": {"$ref": "#/channels/auditCheckpoints"},
                "messages": [{"$ref": "#/channels/auditCheckpoints/messages/AuditCheckpoint"}],
            },
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
            "messages": {**messages, "AuditCheckpoint": {
                "name": "crm.audit.checkpoint",
                "title": "Audit checkpoint",
                "summary": "A signed checkpoint (or re-chain record) of the event log's chain.",
                "contentType": "application/json",
                "payload": _CHECKPOINT_PAYLOAD,
                "bindings": {"kafka": {"key": {"const": "checkpoint"},
                                       "bindingVersion": BINDING_VERSION}},
            }},
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
    text = render(asyncapi_document())
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def check_asyncapi(path: Path = DEFAULT_PATH) -> list[str]:
    """Differences between the committed document and the code (empty: in sync)."""
    if not path.exists():
        return [f"missing {path.name}"]
    if json.loads(path.read_text()) != asyncapi_document():
        return [f"out of date {path.name}"]
    return []
