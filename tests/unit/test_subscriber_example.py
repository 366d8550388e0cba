"""The example subscriber in docs/examples works on the messages the relay really writes, and
checks each message's `data` against the committed schema its `dataschema` names, the way an
outside consumer does: by `$id`, with jsonschema, and no Chronicle code in between."""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import ValidationError
from referencing.exceptions import Unresolvable

from services.common.cloudevents import encode
from services.common.events.customer import (
    CustomerPersonal,
    CustomerRegistered,
    CustomerTagged,
    CustomerUntagged,
)
from services.common.events.envelope import CrmEvent
from services.common.events.lead import LeadCreated, LeadStageChanged
from services.common.events.ticket import TicketOpened
from tests.unit.event_examples import catalog_events

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "examples" / "subscriber.py"
COMMITTED_SCHEMAS = REPO / "schemas" / "events"


@pytest.fixture(scope="module")
def example() -> Iterator[ModuleType]:
    """The example file imported as a module (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("subscriber_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


@pytest.fixture(scope="module")
def schemas(example: ModuleType) -> Any:
    """The example's registry of the committed schema files, by `$id`."""
    return example.DataSchemas(COMMITTED_SCHEMAS)


def _envelope(customer_id: UUID, aggregate_id: UUID, version: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"event_id": uuid4(), "aggregate_id": aggregate_id, "aggregate_version": version,
            "customer_id": customer_id, "tenant_id": "default", "actor": "rep-1",
            "occurred_at": now, "recorded_at": now, "correlation_id": uuid4()}


def _story() -> tuple[UUID, UUID, list[CrmEvent]]:
    customer, lead = uuid4(), uuid4()
    events: list[CrmEvent] = [
        CustomerRegistered(**_envelope(customer, customer, 1),
                           personal=CustomerPersonal(name="Ada"), tags=["vip"]),
        CustomerTagged(**_envelope(customer, customer, 2), tag="emea"),
        LeadCreated(**_envelope(customer, lead, 1), title="Engine", amount=None, currency=None),
        TicketOpened(**_envelope(customer, uuid4(), 1), subject="Help", priority="high"),
        LeadStageChanged(**_envelope(customer, lead, 2), from_stage="new", to_stage="contacted"),
        CustomerUntagged(**_envelope(customer, customer, 3), tag="vip"),
    ]
    return customer, lead, events


def test_the_example_builds_its_directory_and_drops_redeliveries(
    example: ModuleType, schemas: Any
) -> None:
    customer, lead, events = _story()
    values = [encode(event, position) for position, event in enumerate(events, start=10)]
    directory = example.CustomerDirectory(schemas)

    applied = [directory.handle(0, value) for value in values]
    # A restart re-publishes from the relay's last recorded position: the tail comes again.
    redelivered = [directory.handle(0, value) for value in values[3:]]

    assert applied == [True, True, True, False, True, True]  # the ticket type is not used here
    assert redelivered == [False, False, False]
    assert directory.tags == {str(customer): {"emea"}}
    assert directory.lead_stage == {str(lead): "contacted"}
    assert directory.applied_up_to == {0: 15}


def test_the_example_refuses_a_newer_schema_version(example: ModuleType, schemas: Any) -> None:
    _, _, events = _story()
    document = json.loads(encode(events[1], 1))
    document["dataschema"] = document["dataschema"].replace(":v1", ":v2")
    directory = example.CustomerDirectory(schemas)
    with pytest.raises(example.UnsupportedVersion, match="crm.customer.tagged v2"):
        directory.handle(0, json.dumps(document).encode())
    assert directory.applied_up_to == {}  # not applied, so it is retried after an upgrade


@given(event=catalog_events(), position=st.integers(1, 2**53))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_data_of_every_message_is_valid_against_the_schema_its_dataschema_names(
    schemas: Any, event: CrmEvent, position: int
) -> None:
    # What broke: `dataschema` named the whole-event schema, which requires event_id, actor,
    # occurred_at, ... that travel as CloudEvents attributes, so every message's `data` failed.
    document = json.loads(encode(event, position))
    schemas.validate(document["dataschema"], document["data"])


@pytest.mark.parametrize(("change", "error"), [
    (lambda d: d["data"].pop("tag"), ValidationError),
    (lambda d: d["data"].update(tag=7), ValidationError),
    (lambda d: d["data"].update(actor="rep-1"), ValidationError),  # an envelope field in data
    (lambda d: d.update(dataschema="urn:chronicle-crm:event:crm.customer.untagged:v0"),
     Unresolvable),
], ids=["missing field", "retyped field", "envelope field in data", "unknown dataschema"])
def test_the_example_stops_at_data_that_breaks_its_schema(
    example: ModuleType, schemas: Any, change: Any, error: type[Exception]
) -> None:
    _, _, events = _story()
    document = json.loads(encode(events[1], 1))
    change(document)
    directory = example.CustomerDirectory(schemas)
    with pytest.raises(error):
        directory.handle(0, json.dumps(document).encode())
    assert directory.applied_up_to == {} and directory.tags == {}


def test_the_code_quoted_in_the_guide_is_the_code_of_the_example() -> None:
    guide = (EXAMPLE.parents[1] / "subscribing.md").read_text()
    blocks = [block.split("```", 1)[0] for block in guide.split("```python\n")[1:]]
    # The guide's quotes of the example start with its definitions; other snippets do not.
    quotes = [block for block in blocks if block.startswith(("class ", "def "))]
    source = EXAMPLE.read_text()
    assert [quote.split("(", 1)[0].split(":", 1)[0] for quote in quotes] == [
        "class DataSchemas", "def handle"]
    for quoted in quotes:
        # The handler is a method: the guide quotes it dedented.
        assert quoted in source or textwrap.indent(quoted, "    ") in source, (
            "docs/subscribing.md quotes outdated code:\n" + quoted)
