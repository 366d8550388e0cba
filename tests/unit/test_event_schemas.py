"""The published JSON Schemas match the event models and never break an existing version."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field

from services.common.events.catalog import PUBLISHED_EVENT_CLASSES
from services.common.events.envelope import CrmEvent
from services.common.schemas import (
    DEFAULT_DIR,
    REPO_ROOT,
    IncompatibleSchemaChange,
    breaking_changes,
    check_schemas,
    event_schema,
    export_schemas,
    schema_path,
)


def test_committed_schemas_match_the_event_models() -> None:
    assert check_schemas(DEFAULT_DIR) == [], "run `crm schemas export` and commit the result"


def test_every_published_event_has_a_draft_2020_12_schema_with_the_envelope() -> None:
    for cls in PUBLISHED_EVENT_CLASSES:
        schema = json.loads(schema_path(DEFAULT_DIR, cls).read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["x-event-type"] == cls.event_type
        assert cls.event_type.startswith("crm.") and cls.event_type == cls.event_type.lower()
        for field in ("event_id", "customer_id", "tenant_id", "actor", "occurred_at",
                      "recorded_at", "correlation_id", "causation_id", "aggregate_id",
                      "aggregate_version"):
            assert field in schema["properties"], (cls.event_type, field)


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


def test_published_versions_stay_compatible_with_what_was_first_published() -> None:
    if _git("rev-parse", "--is-inside-work-tree") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the compatibility check needs the git history of schemas/events")
        pytest.skip("not a git checkout")
    checked = 0
    for cls in PUBLISHED_EVENT_CLASSES:
        path = schema_path(DEFAULT_DIR, cls).relative_to(REPO_ROOT)
        # No --follow: a schema's path is its type and version, so it is never renamed, and
        # copy detection would take a similar new schema for a copy of an older one.
        commits = (_git("log", "--format=%H", "--", str(path)) or "").split()
        if not commits:
            continue  # a version published by this change: nothing to stay compatible with
        first = json.loads(_git("show", f"{commits[-1]}:{path}") or "{}")
        problems = breaking_changes(first, event_schema(cls))
        assert problems == [], f"{cls.event_type} v{cls.schema_version}: {problems}"
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


def test_export_refuses_to_overwrite_a_version_incompatibly(tmp_path: Path) -> None:
    export_schemas(tmp_path)
    cls = PUBLISHED_EVENT_CLASSES[0]
    path = schema_path(tmp_path, cls)
    published = json.loads(path.read_text())
    published["properties"]["legacy_field"] = {"type": "string"}
    path.write_text(json.dumps(published))
    with pytest.raises(IncompatibleSchemaChange, match="removed field legacy_field"):
        export_schemas(tmp_path)
    export_schemas(tmp_path, force=True)
    assert check_schemas(tmp_path) == []
