"""One way to write a projection: handlers by event type, declared reads, and a class that says
what it does with every published event type or fails as it is created."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from uuid import uuid4

import pytest

from services.common.events.catalog import PUBLISHED_EVENT_CLASSES
from services.common.events.customer import CustomerTagged, CustomerUntagged
from services.projections import registry
from services.projections.model import (
    ConsumedEvent,
    Projection,
    ProjectionDefinitionError,
    Rows,
    Table,
    handler,
)
from services.projections.timeline.projection import RECORDS, TimelineProjection
from tests.contract.projection_runner import tagged

TAGS = Table("framework_tags", {"id": "text", "tags": "json"})
EVERYTHING_BUT_TAGS = frozenset(PUBLISHED_EVENT_CLASSES) - {CustomerTagged, CustomerUntagged}


@pytest.mark.parametrize("model", registry.MODELS, ids=registry.NAMES)
def test_every_read_model_handles_or_ignores_each_published_event_type_once(
        model: type[Projection]) -> None:
    handled = set(model.handlers)
    assert not handled & model.ignored
    assert handled | model.ignored == set(PUBLISHED_EVENT_CLASSES)


@pytest.mark.parametrize("model", registry.MODELS, ids=registry.NAMES)
def test_every_declared_read_names_a_table_of_the_model(model: type[Projection]) -> None:
    tables = {table.name for table in model.tables}
    for event_type, found in model.handlers.items():
        for read in found.reads:
            assert read.table in tables, (model.name, event_type.__name__, read)
            assert read.key in event_type.model_fields, (model.name, event_type.__name__, read)


def test_a_projection_missing_a_handler_fails_when_its_class_is_created() -> None:
    with pytest.raises(ProjectionDefinitionError, match="neither handled nor ignored: "
                       "CustomerUntagged"):
        class Forgetful(Projection):  # noqa: F841 - defining it is the test
            name = "forgetful"
            tables = (TAGS,)
            ignored = EVERYTHING_BUT_TAGS

            @handler
            def tagged(self, rows: Rows, event: CustomerTagged, position: int) -> None: ...


def test_a_misspelt_event_type_fails_when_its_class_is_created() -> None:
    with pytest.raises(ProjectionDefinitionError, match="unknown event type"):
        class Misspelt(Projection):  # noqa: F841
            name = "misspelt"
            tables = (TAGS,)
            ignored = EVERYTHING_BUT_TAGS

            @handler
            def tagged(self, rows: Rows, event: CustomerTaged, position: int) -> None: ...  # type: ignore[name-defined] # noqa: F821


def test_an_event_both_handled_and_ignored_fails() -> None:
    with pytest.raises(ProjectionDefinitionError, match="both handled and ignored: CustomerTagged"):
        class Undecided(Projection):  # noqa: F841
            name = "undecided"
            tables = (TAGS,)
            ignored = EVERYTHING_BUT_TAGS | {CustomerTagged, CustomerUntagged}

            @handler
            def tagged(self, rows: Rows, event: CustomerTagged, position: int) -> None: ...


def test_two_handlers_of_one_event_type_fail() -> None:
    with pytest.raises(ProjectionDefinitionError, match="CustomerTagged has two handlers"):
        class Twice(Projection):  # noqa: F841
            name = "twice"
            tables = (TAGS,)
            ignored = EVERYTHING_BUT_TAGS

            @handler
            def tagged(self, rows: Rows, event: CustomerTagged | CustomerUntagged,
                       position: int) -> None: ...

            @handler
            def tagged_again(self, rows: Rows, event: CustomerTagged, position: int) -> None: ...


def test_a_handler_with_another_signature_fails() -> None:
    with pytest.raises(ProjectionDefinitionError, match=r"takes \(self, rows, event, position\)"):
        class OldStyle(Projection):  # noqa: F841
            name = "old_style"
            tables = (TAGS,)
            ignored = EVERYTHING_BUT_TAGS

            @handler
            def tagged(self, rows: Rows, consumed: CustomerTagged | CustomerUntagged) -> None: ...


def test_a_module_with_a_missing_handler_fails_to_import(tmp_path: Path) -> None:
    source = tmp_path / "forgetful_model.py"
    source.write_text(textwrap.dedent('''
        from services.common.events.catalog import PUBLISHED_EVENT_CLASSES
        from services.common.events.customer import CustomerTagged, CustomerUntagged
        from services.projections.model import Projection, Rows, Table, handler

        class ForgetfulModel(Projection):
            name = "forgetful_model"
            tables = (Table("forgetful_model", {"id": "text"}),)
            ignored = frozenset(PUBLISHED_EVENT_CLASSES) - {CustomerTagged, CustomerUntagged}

            @handler
            def tagged(self, rows: Rows, event: CustomerTagged, position: int) -> None:
                pass
    '''))
    spec = importlib.util.spec_from_file_location("forgetful_model", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        with pytest.raises(ProjectionDefinitionError, match="CustomerUntagged"):
            spec.loader.exec_module(module)
    finally:
        sys.modules.pop("forgetful_model", None)


def test_the_rows_a_batch_loads_come_from_the_handlers_declared_reads() -> None:
    customer = uuid4()
    event = tagged(customer, "vip", 1)
    assert TimelineProjection().keys(event) == []  # a tag names no lead or ticket
    lead_event_handler = TimelineProjection.handlers[next(
        t for t in TimelineProjection.handlers if t.__name__ == "LeadStageChanged")]
    assert [read.table for read in lead_event_handler.reads] == [RECORDS.name]


def test_a_handler_reading_an_undeclared_row_is_refused() -> None:
    class Sneaky(Projection):
        name = "sneaky"
        tables = (TAGS,)
        ignored = EVERYTHING_BUT_TAGS

        @handler
        def tagged(self, rows: Rows, event: CustomerTagged | CustomerUntagged,
                   position: int) -> None:
            rows.get(TAGS, str(event.customer_id))

    event = tagged(uuid4(), "vip", 1)
    with pytest.raises(KeyError, match="reads="):
        Sneaky().apply(Rows(), ConsumedEvent(0, 0, 1, event))
