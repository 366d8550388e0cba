"""The example subscriber in docs/examples works on the messages the relay really writes."""

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

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "subscriber.py"


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


def test_the_example_builds_its_directory_and_drops_redeliveries(example: ModuleType) -> None:
    customer, lead, events = _story()
    values = [encode(event, position) for position, event in enumerate(events, start=10)]
    directory = example.CustomerDirectory()

    applied = [directory.handle(0, value) for value in values]
    # A restart re-publishes from the relay's last recorded position: the tail comes again.
    redelivered = [directory.handle(0, value) for value in values[3:]]

    assert applied == [True, True, True, False, True, True]  # the ticket type is not used here
    assert redelivered == [False, False, False]
    assert directory.tags == {str(customer): {"emea"}}
    assert directory.lead_stage == {str(lead): "contacted"}
    assert directory.applied_up_to == {0: 15}


def test_the_example_refuses_a_newer_schema_version(example: ModuleType) -> None:
    _, _, events = _story()
    document = json.loads(encode(events[1], 1))
    document["dataschema"] = document["dataschema"].replace(":v1", ":v2")
    directory = example.CustomerDirectory()
    with pytest.raises(example.UnsupportedVersion, match="crm.customer.tagged v2"):
        directory.handle(0, json.dumps(document).encode())
    assert directory.applied_up_to == {}  # not applied, so it is retried after an upgrade


def test_the_handler_quoted_in_the_guide_is_the_one_in_the_example() -> None:
    guide = (EXAMPLE.parents[1] / "subscribing.md").read_text()
    quoted = guide.split("```python\n", 1)[1].split("```", 1)[0]
    source = EXAMPLE.read_text()
    indented = textwrap.indent(quoted, "    ")
    assert indented in source, "docs/subscribing.md quotes an outdated handle()"
