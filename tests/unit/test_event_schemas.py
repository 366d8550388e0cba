"""The published JSON Schemas match the event models and never break an existing version.

Two per event type and version: the schema of `data` (`v<N>.schema.json`, the `$id` that the
CloudEvents `dataschema` attribute names) and of the whole event (`v<N>.event.schema.json`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field

from services.common import schemas
from services.common.cloudevents import dataschema_uri
from services.common.events.catalog import PUBLISHED_EVENT_CLASSES
from services.common.events.envelope import ENVELOPE_FIELDS, CrmEvent
from services.common.schemas import (
    DEFAULT_DIR,
    REPO_ROOT,
    IncompatibleSchemaChange,
    MissingPublishedSchema,
    breaking_changes,
    check_schemas,
    data_schema,
    event_schema,
    event_schema_path,
    export_schemas,
    is_whole_event_schema,
    published_schemas,
    schema_path,
    without_envelope,
)


def test_committed_schemas_match_the_event_models() -> None:
    assert check_schemas(DEFAULT_DIR) == [], "run `crm schemas export` and commit the result"


def test_every_published_event_has_a_draft_2020_12_schema_with_the_envelope() -> None:
    for cls in PUBLISHED_EVENT_CLASSES:
        schema = json.loads(event_schema_path(DEFAULT_DIR, cls).read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == f"urn:chronicle-crm:event:{cls.event_type}:v{cls.schema_version}:event"
        assert schema["x-event-type"] == cls.event_type
        assert cls.event_type.startswith("crm.") and cls.event_type == cls.event_type.lower()
        for field in ("event_id", "customer_id", "tenant_id", "actor", "occurred_at",
                      "recorded_at", "correlation_id", "causation_id", "aggregate_id",
                      "aggregate_version"):
            assert field in schema["properties"], (cls.event_type, field)


def test_the_schema_dataschema_names_holds_the_event_fields_without_the_envelope() -> None:
    for cls in PUBLISHED_EVENT_CLASSES:
        data = json.loads(schema_path(DEFAULT_DIR, cls).read_text())
        whole = json.loads(event_schema_path(DEFAULT_DIR, cls).read_text())
        assert data["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert data["$id"] == dataschema_uri(cls) != whole["$id"]
        assert set(data["properties"]) == set(whole["properties"]) - ENVELOPE_FIELDS
        assert set(data.get("required", ())) == set(whole.get("required", ())) - ENVELOPE_FIELDS
        assert data["additionalProperties"] is False  # exactly the fields the relay puts in data
        assert not is_whole_event_schema(data) and is_whole_event_schema(whole)


def test_personal_data_sits_only_under_personal() -> None:
    personal_names = {"name", "email", "phone", "body"}
    for cls in PUBLISHED_EVENT_CLASSES:
        top_level = set(event_schema(cls)["properties"])
        assert not personal_names & top_level, cls.event_type


def _git(*args: str) -> str | None:
    if shutil.which("git") is None:
        return None
    result = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def _first_committed(path: Path) -> dict[str, Any] | None:
    relative = path.relative_to(REPO_ROOT)
    # No --follow: a schema's path is its type, version and kind, so it is never renamed, and
    # copy detection would take a similar new schema for a copy of an older one.
    commits = (_git("log", "--format=%H", "--", str(relative)) or "").split()
    return json.loads(_git("show", f"{commits[-1]}:{relative}") or "{}") if commits else None


def test_published_versions_stay_compatible_with_what_was_first_published() -> None:
    if _git("rev-parse", "--is-inside-work-tree") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the compatibility check needs the git history of schemas/events")
        pytest.skip("not a git checkout")
    checked = 0
    pairs, _ = published_schemas(DEFAULT_DIR)
    for pair in pairs:
        # Before the data schema had a file of its own, `v<N>.schema.json` held the whole
        # event: its first commit is then also the first whole-event schema of the version,
        # and its fields without the envelope the first data schema.
        first_data = _first_committed(pair.data_path)
        first_event = _first_committed(pair.event_path)
        if first_data is not None and is_whole_event_schema(first_data):
            first_event = first_data
        for first, schema in ((first_data, pair.data), (first_event, pair.event)):
            if first is None:
                continue  # a version published by this change: nothing to stay compatible with
            if schema is pair.data:
                first = without_envelope(first)
            problems = breaking_changes(first, schema)
            assert problems == [], f"{pair.cls.event_type} v{pair.version}: {problems}"
            checked += 1
    assert checked or not _git("log", "--format=%H", "-1", "--", "schemas/events")


class Original(CrmEvent):
    event_type: ClassVar[str] = "crm.test.original"
    reason: str
    amount: str | None = None
    priority: int = 1


class FieldRemoved(CrmEvent):
    event_type: ClassVar[str] = "crm.test.original"
    reason: str
    priority: int = 1


class FieldRetyped(CrmEvent):
    event_type: ClassVar[str] = "crm.test.original"
    reason: str
    amount: str | None = None
    priority: str = "1"


class NewRequiredField(Original):
    channel: str


class NewOptionalField(Original):
    channel: str | None = Field(default=None)


class NestedChanged(CrmEvent):
    event_type: ClassVar[str] = "crm.test.original"
    reason: int
    amount: str | None = None
    priority: int = 1


@pytest.mark.parametrize(("changed", "expected"), [
    (FieldRemoved, ["removed field amount"]),
    (FieldRetyped, ["retyped field priority"]),
    (NewRequiredField, ["new required field channel"]),
    (NestedChanged, ["retyped field reason"]),
    (NewOptionalField, []),
    (Original, []),
])
def test_breaking_changes_are_named(changed: type[CrmEvent], expected: list[str]) -> None:
    assert breaking_changes(event_schema(Original), event_schema(changed)) == expected


def test_a_changed_nested_personal_field_is_a_breaking_change() -> None:
    from services.common.events.customer import CustomerRegistered

    old: dict[str, Any] = event_schema(CustomerRegistered)
    new = json.loads(json.dumps(old))
    del new["$defs"]["CustomerPersonal"]["properties"]["email"]
    assert breaking_changes(old, new) == ["removed field personal.email"]


@pytest.mark.parametrize("path_of", [schema_path, event_schema_path], ids=["data", "whole event"])
def test_export_refuses_to_overwrite_a_version_incompatibly(tmp_path: Path, path_of: Any) -> None:
    shutil.copytree(DEFAULT_DIR, tmp_path, dirs_exist_ok=True)  # older versions come from here
    export_schemas(tmp_path)
    cls = PUBLISHED_EVENT_CLASSES[0]
    path = path_of(tmp_path, cls)
    published = json.loads(path.read_text())
    published["properties"]["legacy_field"] = {"type": "string"}
    path.write_text(json.dumps(published))
    with pytest.raises(IncompatibleSchemaChange, match="removed field legacy_field"):
        export_schemas(tmp_path)
    assert json.loads(path.read_text()) == published, "a refused export writes nothing"
    export_schemas(tmp_path, force=True)
    assert check_schemas(tmp_path) == []


# -- several versions side by side ------------------------------------------------------------


class NoteAddedV1(CrmEvent):
    event_type: ClassVar[str] = "crm.test.note_added"
    text: str


class NoteAddedV2(CrmEvent):
    """v2 moved the text into `personal`, withheld (null) on the topic."""

    event_type: ClassVar[str] = "crm.test.note_added"
    schema_version: ClassVar[int] = 2
    personal: dict[str, str] | None = None

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["personal"] = {"text": state.pop("text")}


@pytest.fixture
def publishing(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the export see only the given event classes."""
    def publish(*classes: type[CrmEvent]) -> None:
        monkeypatch.setattr(schemas, "PUBLISHED_EVENT_CLASSES", classes)
    return publish


def test_an_older_version_keeps_its_committed_files_beside_the_new_one(
    tmp_path: Path, publishing: Any
) -> None:
    publishing(NoteAddedV1)
    export_schemas(tmp_path)
    v1 = {path.name: path.read_text() for path in (tmp_path / "crm.test.note_added").iterdir()}
    publishing(NoteAddedV2)
    written = export_schemas(tmp_path)

    assert sorted(path.name for path in written) == ["v2.event.schema.json", "v2.schema.json"]
    assert {name: (tmp_path / "crm.test.note_added" / name).read_text() for name in v1} == v1
    assert check_schemas(tmp_path) == []
    assert data_schema(NoteAddedV2)["$id"] == "urn:chronicle-crm:event:crm.test.note_added:v2"
    assert set(data_schema(NoteAddedV2)["properties"]) == {"personal"}


def test_an_older_version_in_the_layout_before_the_split_gets_its_data_schema(
    tmp_path: Path, publishing: Any
) -> None:
    # Before, `v<N>.schema.json` held the whole event under the id `dataschema` names.
    directory = tmp_path / "crm.test.note_added"
    directory.mkdir()
    legacy = {**event_schema(NoteAddedV1), "$id": dataschema_uri(NoteAddedV1)}
    del legacy["$comment"]
    (directory / "v1.schema.json").write_text(json.dumps(legacy))
    publishing(NoteAddedV2)
    assert check_schemas(tmp_path) == ["out of date crm.test.note_added/v1.schema.json",
                                       "missing crm.test.note_added/v1.event.schema.json",
                                       "missing crm.test.note_added/v2.schema.json",
                                       "missing crm.test.note_added/v2.event.schema.json"]

    export_schemas(tmp_path)
    assert check_schemas(tmp_path) == []
    v1_data = json.loads((directory / "v1.schema.json").read_text())
    v1_event = json.loads((directory / "v1.event.schema.json").read_text())
    assert v1_data == schemas.data_schema_of(NoteAddedV1, 1, event_schema(NoteAddedV1))
    assert v1_event == event_schema(NoteAddedV1)


def test_an_older_version_whose_files_are_gone_is_reported_not_guessed(
    tmp_path: Path, publishing: Any
) -> None:
    publishing(NoteAddedV2)
    assert check_schemas(tmp_path)[0] == "missing crm.test.note_added/v1.event.schema.json"
    with pytest.raises(MissingPublishedSchema, match="crm.test.note_added/v1.event.schema.json"):
        export_schemas(tmp_path)
