"""The AsyncAPI document of the topic is generated from the catalog, committed, and describes
exactly the CloudEvents the relay writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from services.common.asyncapi import (
    DEFAULT_PATH,
    asyncapi_document,
    check_asyncapi,
    render,
    write_asyncapi,
)
from services.common.audit_chain.checkpoints import RECHAIN, sign
from services.common.audit_chain.keys import SigningKey, key_id_of
from services.common.audit_chain.tables import ChainHead
from services.common.cloudevents import to_cloud_event
from services.common.events.catalog import PUBLISHED_EVENT_CLASSES
from services.common.events.envelope import CrmEvent
from services.common.events.lead import LeadStageChanged
from services.common.schemas import DEFAULT_DIR
from tests.unit.event_examples import catalog_events

BASE = DEFAULT_PATH.resolve().as_uri()


def event_messages(document: dict[str, Any]) -> dict[str, Any]:
    """The messages of the event topic (the checkpoint topic has one of its own)."""
    return {name: message for name, message in document["components"]["messages"].items()
            if name != "AuditCheckpoint"}


def test_committed_asyncapi_matches_the_catalog() -> None:
    assert check_asyncapi(DEFAULT_PATH) == [], "run `crm schemas asyncapi` and commit the result"


def test_check_reports_a_stale_or_missing_document(tmp_path: Path) -> None:
    path = tmp_path / "asyncapi.json"
    assert check_asyncapi(path) == ["missing asyncapi.json"]
    assert write_asyncapi(path) is True
    assert write_asyncapi(path) is False
    assert check_asyncapi(path) == []
    stale = json.loads(path.read_text())
    stale["components"]["messages"].popitem()
    path.write_text(render(stale))
    assert check_asyncapi(path) == ["out of date asyncapi.json"]


def test_one_message_per_published_event_on_the_keyed_topic() -> None:
    document = asyncapi_document()
    assert document["asyncapi"].startswith("3.")
    channel = document["channels"]["crmEvents"]
    assert channel["address"] == "crm.events"
    messages = event_messages(document)
    assert {m["name"] for m in messages.values()} == {c.event_type for c in PUBLISHED_EVENT_CLASSES}
    assert set(channel["messages"]) == set(messages)
    operation = document["operations"]["publishCrmEvents"]
    assert len(operation["messages"]) == len(messages)
    key = document["components"]["messageBindings"]["keyedByCustomer"]["kafka"]["key"]
    assert key["format"] == "uuid" and "customer_id" in key["description"]
    for message in messages.values():
        assert message["bindings"] == {"$ref": "#/components/messageBindings/keyedByCustomer"}


def test_every_reference_points_at_a_committed_event_schema() -> None:
    refs: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str) and not node["$ref"].startswith("#"):
                refs.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(asyncapi_document())
    assert refs
    for ref in refs:
        file, _, pointer = ref.partition("#")
        schema = json.loads((DEFAULT_PATH.parent / file).read_text())
        for part in filter(None, pointer.split("/")):
            schema = schema[part]  # KeyError: a dangling reference


def test_the_data_of_each_message_is_the_schema_its_dataschema_names() -> None:
    for name, message in event_messages(asyncapi_document()).items():
        own = message["payload"]["allOf"][1]["properties"]
        data = json.loads((DEFAULT_PATH.parent / own["data"]["$ref"]).read_text())
        whole = json.loads((DEFAULT_PATH.parent / message["x-event-schema"]["$ref"]).read_text())
        assert data["$id"] == own["dataschema"]["const"], name
        assert whole["$id"] == own["dataschema"]["const"] + ":event", name


# -- the document describes the real messages -------------------------------------------------


def _registry() -> Registry:
    # The AsyncAPI document declares no JSON Schema dialect; its schemas are read as 2020-12.
    resources = [(BASE, DRAFT202012.create_resource(asyncapi_document()))]
    for path in DEFAULT_DIR.glob("*/v*.schema.json"):
        resource = Resource.from_contents(json.loads(path.read_text()))
        # Reachable by the relative file reference and by its own `$id`.
        resources += [(path.resolve().as_uri(), resource), (resource.contents["$id"], resource)]
    return Registry().with_resources(resources)


REGISTRY = _registry()
MESSAGE_OF = {m["name"]: name for name, m in event_messages(asyncapi_document()).items()}


def _payload_validator(event_type: str) -> Draft202012Validator:
    pointer = f"{BASE}#/components/messages/{MESSAGE_OF[event_type]}/payload"
    return Draft202012Validator({"$ref": pointer}, registry=REGISTRY,
                                format_checker=FormatChecker())


@given(event=catalog_events(), position=st.integers(1, 2**53))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_cloud_event_the_relay_writes_validates_against_its_message(
    event: CrmEvent, position: int
) -> None:
    document = to_cloud_event(event, position)
    errors = list(_payload_validator(event.event_type).iter_errors(document))
    assert errors == [], [e.message for e in errors]


def test_the_checkpoint_topic_and_its_message_describe_a_real_signed_checkpoint() -> None:
    document = asyncapi_document()
    channel = document["channels"]["auditCheckpoints"]
    assert channel["address"] == "crm.audit.checkpoints"
    private = Ed25519PrivateKey.generate()
    key = SigningKey(private, key_id_of(private.public_key()), Path("unused"))
    head = ChainHead(position=14, seq=12, chain=bytes(range(32)))
    schema = {"$ref": f"{BASE}#/components/messages/AuditCheckpoint/payload"}
    for record in (sign(key, head), sign(key, head, kind=RECHAIN, reason="sealed old events")):
        errors = list(Draft202012Validator(schema, registry=REGISTRY,
                                           format_checker=FormatChecker())
                      .iter_errors(record.as_json()))
        assert errors == [], [e.message for e in errors]
    forged = {**sign(key, head).as_json(), "chain_hash": "not hex"}
    assert list(Draft202012Validator(schema, registry=REGISTRY).iter_errors(forged))


def _example_document() -> dict[str, Any]:
    event = LeadStageChanged(
        event_id=uuid4(), aggregate_id=uuid4(), aggregate_version=2, customer_id=uuid4(),
        tenant_id="default", actor="rep-1", occurred_at=datetime.now(UTC),
        recorded_at=datetime.now(UTC), correlation_id=uuid4(),
        from_stage="new", to_stage="contacted",
    )
    return to_cloud_event(event, 1)


@pytest.mark.parametrize("change", [
    lambda d: d["data"].update(unexpected="field"),
    lambda d: d["data"].pop("to_stage"),
    lambda d: d["data"].update(from_stage=7),
    lambda d: d.update(type="crm.lead.won"),
    lambda d: d.update(dataschema=d["dataschema"] + "0"),  # v1 -> v10, v2 -> v20
    lambda d: d.pop("position"),
    lambda d: d.update(customerid="not-a-uuid"),
    lambda d: d.update(colour="red"),
], ids=["extra data field", "missing data field", "retyped data field", "other type",
        "other version", "no position", "customerid not a uuid", "unknown attribute"])
def test_a_message_that_breaks_the_contract_does_not_validate(change: Any) -> None:
    document = _example_document()
    validator = _payload_validator("crm.lead.stage_changed")
    assert validator.is_valid(document)
    change(document)
    assert not validator.is_valid(document)
