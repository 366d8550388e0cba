"""The Kafka wire format: CloudEvents 1.0 structured mode, exactly reversible, strict on input."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common import cloudevents
from services.common.cloudevents import (
    InvalidCloudEvent,
    decode,
    encode,
    partition_key,
    to_cloud_event,
)
from services.common.event_store import ChronicleStore
from services.common.events import catalog
from services.common.events.catalog import PUBLISHED_EVENT_CLASSES
from services.common.events.customer import CustomerPersonal, CustomerRegistered
from services.common.events.envelope import CrmEvent
from services.common.events.internal import CommandRecorded
from services.common.events.lead import LeadStageChanged
from services.common.schemas import data_schema
from tests.unit.event_examples import catalog_events, events_of

STORE = ChronicleStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
VAULT = STORE.vault


def _example() -> LeadStageChanged:
    return LeadStageChanged(
        event_id=uuid4(), aggregate_id=uuid4(), aggregate_version=3, customer_id=uuid4(),
        tenant_id="acme", actor="rep-7", occurred_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        recorded_at=datetime(2026, 3, 1, 9, 30, 1, 250000, tzinfo=UTC),
        correlation_id=uuid4(), causation_id=uuid4(),
        from_stage="contacted", to_stage="qualified", budget_confirmed=True,
    )


# -- the round trip ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", PUBLISHED_EVENT_CLASSES, ids=lambda c: c.event_type)
@given(data=st.data(), position=st.integers(1, 2**53))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_decode_reverses_encode_for_every_catalog_event(
    cls: type[CrmEvent], data: st.DataObject, position: int
) -> None:
    event = data.draw(events_of(cls))
    assert decode(encode(event, position, VAULT), VAULT) == (position, event)


# -- the attributes ---------------------------------------------------------------------------


def test_envelope_fields_become_cloudevents_attributes_and_data_is_the_rest() -> None:
    event = _example()
    document = to_cloud_event(event, 42)
    assert document == {
        "specversion": "1.0",
        "id": str(event.event_id),
        "source": "/chronicle-crm/acme",
        "type": "crm.lead.stage_changed",
        "dataschema": data_schema(LeadStageChanged)["$id"],
        "subject": str(event.aggregate_id),
        "time": "2026-03-01T09:30:00Z",
        "datacontenttype": "application/json",
        "customerid": str(event.customer_id),
        "tenantid": "acme",
        "actor": "rep-7",
        "position": 42,
        "correlationid": str(event.correlation_id),
        "causationid": str(event.causation_id),
        "aggregateid": str(event.aggregate_id),
        "aggregateversion": 3,
        "recordedat": "2026-03-01T09:30:01.250000Z",
        "data": event.data(),
    }
    extensions = set(document) - {"specversion", "id", "source", "type", "dataschema",
                                  "subject", "time", "datacontenttype", "data"}
    assert all(name.isalnum() and name == name.lower() for name in extensions)


def test_encoded_value_is_compact_json_and_key_is_the_customer_id() -> None:
    event = _example()
    value = encode(event, 7)
    assert json.loads(value) == to_cloud_event(event, 7)
    assert b": " not in value and b", " not in value
    assert partition_key(event) == str(event.customer_id).encode()


def test_causationid_is_omitted_when_there_is_none() -> None:
    event = _example().model_copy(update={"causation_id": None})
    document = to_cloud_event(event, 1)
    assert "causationid" not in document
    assert decode(encode(event, 1)) == (1, event)


def test_personal_data_travels_sealed_under_data_personal_or_not_at_all() -> None:
    event = CustomerRegistered(
        event_id=uuid4(), aggregate_id=(cid := uuid4()), aggregate_version=1, customer_id=cid,
        tenant_id="default", actor="rep-1", occurred_at=datetime.now(UTC),
        recorded_at=datetime.now(UTC), correlation_id=uuid4(),
        personal=CustomerPersonal(name="Ada Lovelace", email="ada@example.com"),
        company="Analytical Engines",
    )
    sealed = to_cloud_event(event, 1, VAULT)
    assert set(sealed["data"]["personal"]) == {"alg", "kid", "iv", "ct"}
    assert sealed["data"]["company"] == "Analytical Engines"
    assert "Ada" not in json.dumps(sealed) and "ada@example.com" not in json.dumps(sealed)
    assert to_cloud_event(event, 1)["data"]["personal"] is None  # no vault: withheld
    _, opened = decode(json.dumps(sealed).encode(), VAULT)
    assert opened == event
    _, unopened = decode(json.dumps(sealed).encode())  # a subscriber without the key
    assert isinstance(unopened, CustomerRegistered) and unopened.personal is None


def test_internal_events_cannot_be_encoded() -> None:
    internal = CommandRecorded(
        event_id=uuid4(), aggregate_id=uuid4(), aggregate_version=1, customer_id=uuid4(),
        tenant_id="default", actor="rep-1", occurred_at=datetime.now(UTC),
        recorded_at=datetime.now(UTC), correlation_id=uuid4(), key="k",
        request_fingerprint="f", status_code=201, response={},
    )
    with pytest.raises(ValueError, match="internal"):
        encode(internal, 1)


# -- malformed input --------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], Any]


def _without(name: str) -> Mutation:
    return lambda d: {k: v for k, v in d.items() if k != name}


def _with(name: str, value: Any) -> Mutation:
    return lambda d: {**d, name: value}


def _with_data(**changes: Any) -> Mutation:
    return lambda d: {**d, "data": {**d["data"], **changes}}


MALFORMED: dict[str, Mutation] = {
    "array instead of object": lambda d: [d],
    "missing specversion": _without("specversion"),
    "specversion 0.3": _with("specversion", "0.3"),
    "missing id": _without("id"),
    "id not a string": _with("id", 12),
    "id not a uuid": _with("id", "not-a-uuid"),
    "unknown type": _with("type", "crm.lead.teleported"),
    "internal type": _with("type", CommandRecorded.event_type),
    "dataschema of another type": _with("dataschema", "urn:chronicle-crm:event:crm.lead.won:v1"),
    "dataschema not ours": _with("dataschema", "https://example.com/schema.json"),
    "dataschema newer than known": _with(
        "dataschema", "urn:chronicle-crm:event:crm.lead.stage_changed:v9"),
    "position missing": _without("position"),
    "position a string": _with("position", "42"),
    "position a boolean": _with("position", True),
    "position zero": _with("position", 0),
    "aggregateversion missing": _without("aggregateversion"),
    "source of another tenant": _with("source", "/chronicle-crm/other"),
    "subject not the aggregate": _with("subject", str(uuid4())),
    "datacontenttype xml": _with("datacontenttype", "application/xml"),
    "time without offset": _with("time", "2026-03-01T09:30:00"),
    "causationid a number": _with("causationid", 5),
    "data missing": _without("data"),
    "data a list": _with("data", []),
    "data repeats an envelope field": _with_data(event_id=str(uuid4())),
    "data misses a required field": lambda d: {**d, "data": {"from_stage": "new"}},
    "data has an unknown field": _with_data(colour="red"),
    "data field of the wrong type": _with_data(budget_confirmed="perhaps"),
}


@pytest.mark.parametrize("mutation", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_cloud_events_are_refused(mutation: Mutation) -> None:
    document = to_cloud_event(_example(), 42)
    value = json.dumps(mutation(document)).encode()
    with pytest.raises(InvalidCloudEvent):
        decode(value)


@pytest.mark.parametrize("value", [b"", b"not json", b"\xff\xfe{}", b"null", b'"text"', b"42",
                                   b"[" * 100_000])
def test_values_that_are_not_json_objects_are_refused(value: bytes) -> None:
    with pytest.raises(InvalidCloudEvent):
        decode(value)


def test_a_refusal_names_the_field_and_the_error_but_never_the_value() -> None:
    document = _with_data(budget_confirmed="call Ada on +44 7700 900123")(
        to_cloud_event(_example(), 42))
    with pytest.raises(InvalidCloudEvent) as refused:
        decode(json.dumps(document).encode())
    message = str(refused.value)  # kept in dead letters and logs
    assert "budget_confirmed" in message and "bool" in message
    assert "Ada" not in message and "7700" not in message


def test_invalid_cloud_event_is_a_value_error() -> None:
    assert issubclass(InvalidCloudEvent, ValueError)


# -- older schema versions --------------------------------------------------------------------


class NoteAddedV2(CrmEvent):
    """A test event whose v1 had `text`, renamed to `body` in v2."""

    event_type: ClassVar[str] = "crm.test.note_added"
    schema_version: ClassVar[int] = 2
    body: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["body"] = state.pop("text")


@pytest.fixture
def note_added_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(catalog.BY_TYPE, NoteAddedV2.event_type, NoteAddedV2)


def _note_v1_document() -> dict[str, Any]:
    aggregate_id = str(uuid4())
    return {
        "specversion": "1.0", "id": str(uuid4()), "source": "/chronicle-crm/default",
        "type": "crm.test.note_added", "dataschema": "urn:chronicle-crm:event:crm.test.note_added:v1",
        "subject": aggregate_id, "time": "2026-01-01T00:00:00Z",
        "datacontenttype": "application/json", "customerid": str(uuid4()),
        "tenantid": "default", "actor": "rep-1", "position": 5,
        "correlationid": str(uuid4()), "aggregateid": aggregate_id, "aggregateversion": 1,
        "recordedat": "2026-01-01T00:00:01Z", "data": {"text": "hello"},
    }


@pytest.mark.usefixtures("note_added_registered")
def test_an_older_version_is_upcast_when_decoded() -> None:
    document = _note_v1_document()
    position, event = decode(json.dumps(document).encode())
    assert position == 5
    assert isinstance(event, NoteAddedV2) and event.body == "hello"
    assert event.event_id == UUID(document["id"])
    reencoded = to_cloud_event(event, 5)
    assert reencoded["dataschema"] == "urn:chronicle-crm:event:crm.test.note_added:v2"
    assert reencoded["data"] == {"body": "hello"}


@pytest.mark.usefixtures("note_added_registered")
def test_an_older_version_that_cannot_be_upcast_is_refused() -> None:
    document = _note_v1_document()
    document["data"] = {"body": "already renamed, but claims v1"}
    with pytest.raises(InvalidCloudEvent):
        decode(json.dumps(document).encode())


def test_dataschema_is_the_id_of_the_schema_of_data_of_every_published_event() -> None:
    for cls in PUBLISHED_EVENT_CLASSES:
        assert cloudevents.dataschema_uri(cls) == data_schema(cls)["$id"]


@given(event=catalog_events(), position=st.integers(min_value=1, max_value=2**53))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_encoding_the_stored_json_gives_the_same_message_as_encoding_the_event(
    event: CrmEvent, position: int
) -> None:
    from services.common.cloudevents import encode_stored

    stored = STORE.mapper.to_stored_event(event).state  # what the event store holds
    fast = encode_stored(type(event), stored, position)
    assert fast is not None and fast[0] == partition_key(event)
    assert decode(fast[1], VAULT) == (position, event)
    # Apart from the sealed values' fresh nonces, byte for byte the message `encode` gives.
    slow = json.loads(encode(event, position, VAULT))
    quick = json.loads(fast[1])
    for document in (slow, quick):
        if isinstance(document["data"].get("personal"), dict):
            document["data"]["personal"] = "sealed"
    assert quick == slow
