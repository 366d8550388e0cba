"""JSON Schemas (draft 2020-12) of the published events, and the backward-compatibility check.

Each event type and version has one file, `schemas/events/<type>/v<version>.schema.json`.
A published version is a contract: it may gain optional fields, never lose or retype one or
gain a required one. A different shape is a new version plus an upcaster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.common.events.catalog import PUBLISHED_EVENT_CLASSES
from services.common.events.envelope import CrmEvent

DRAFT = "https://json-schema.org/draft/2020-12/schema"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO_ROOT / "schemas" / "events"


def event_schema(cls: type[CrmEvent]) -> dict[str, Any]:
    schema = cls.model_json_schema(mode="serialization")
    return {
        "$schema": DRAFT,
        "$id": f"urn:chronicle-crm:event:{cls.event_type}:v{cls.schema_version}",
        "x-event-type": cls.event_type,
        "x-schema-version": cls.schema_version,
        **schema,
        "title": cls.__name__,
    }


def schema_path(directory: Path, cls: type[CrmEvent]) -> Path:
    return directory / cls.event_type / f"v{cls.schema_version}.schema.json"


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


# -- compatibility ---------------------------------------------------------------------------


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = {**root.get("$defs", {})[name], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _shape(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """What a consumer relies on: types, formats, enums and nested shapes — not descriptions."""
    schema = _resolve(schema, root)
    if "anyOf" in schema or "oneOf" in schema:
        return ("any", tuple(sorted(repr(_shape(s, root)) for s in schema.get("anyOf", schema.get("oneOf", [])))))
    kind = schema.get("type")
    if kind == "array":
        return ("array", _shape(schema.get("items", {}), root))
    if kind == "object" and "properties" in schema:
        return ("object", tuple(sorted(schema["properties"])))
    return (kind, schema.get("format"), tuple(schema.get("enum", ())) or schema.get("const"))


def breaking_changes(old: dict[str, Any], new: dict[str, Any], where: str = "",
                     old_root: dict[str, Any] | None = None,
                     new_root: dict[str, Any] | None = None) -> list[str]:
    """Every backward-incompatible difference from `old` to `new` (empty: compatible)."""
    old_root, new_root = old_root or old, new_root or new
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    problems: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name in sorted(old_props):
        path = f"{where}{name}"
        if name not in new_props:
            problems.append(f"removed field {path}")
            continue
        old_field, new_field = _resolve(old_props[name], old_root), _resolve(new_props[name], new_root)
        nested_old = _object_variants(old_field, old_root)
        nested_new = _object_variants(new_field, new_root)
        if nested_old and nested_new:
            problems += breaking_changes(nested_old[0], nested_new[0], f"{path}.", old_root, new_root)
            if _shape(_without_objects(old_field, old_root), old_root) != \
                    _shape(_without_objects(new_field, new_root), new_root):
                problems.append(f"retyped field {path}")
        elif _shape(old_field, old_root) != _shape(new_field, new_root):
            problems.append(f"retyped field {path}")
    for name in sorted(set(new.get("required", ())) - set(old.get("required", ()))):
        problems.append(f"new required field {where}{name}")
    return problems


def _object_variants(schema: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    variants = schema.get("anyOf", [schema])
    return [r for r in (_resolve(v, root) for v in variants)
            if r.get("type") == "object" and "properties" in r]


def _without_objects(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    variants = [_resolve(v, root) for v in schema.get("anyOf", [schema])]
    kept = [{"type": "object"} if v.get("type") == "object" else v for v in variants]
    return {"anyOf": kept}


# -- export and check ------------------------------------------------------------------------


class IncompatibleSchemaChange(Exception):
    pass


def export_schemas(directory: Path = DEFAULT_DIR, *, force: bool = False) -> list[Path]:
    """Write every published event's schema; return the files that changed.

    Refuses to overwrite an existing version incompatibly unless `force` is set.
    """
    changed: list[Path] = []
    for cls in PUBLISHED_EVENT_CLASSES:
        path = schema_path(directory, cls)
        schema = event_schema(cls)
        if path.exists():
            current = json.loads(path.read_text())
            if current == schema:
                continue
            problems = breaking_changes(current, schema)
            if problems and not force:
                raise IncompatibleSchemaChange(
                    f"{cls.event_type} v{cls.schema_version}: " + "; ".join(problems)
                    + ". Publish a new version (schema_version + an upcaster) instead."
                )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(schema))
        changed.append(path)
    return changed


def check_schemas(directory: Path = DEFAULT_DIR) -> list[str]:
    """Differences between the models and the committed schema files (empty: in sync)."""
    problems: list[str] = []
    for cls in PUBLISHED_EVENT_CLASSES:
        path = schema_path(directory, cls)
        if not path.exists():
            problems.append(f"missing {path.relative_to(directory)}")
        elif json.loads(path.read_text()) != event_schema(cls):
            problems.append(f"out of date {path.relative_to(directory)}")
    return problems
