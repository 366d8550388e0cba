"""JSON Schemas (draft 2020-12) of the published events, and the backward-compatibility check.

Two files per event type and version, in `schemas/events/<type>/`:

- `v<N>.schema.json`, `$id` `urn:chronicle-crm:event:<type>:v<N>`: the schema of the
  CloudEvent's `data`, i.e. the event's own fields, exactly what the relay puts under `data`.
  This is the id a message's `dataschema` attribute names, so a consumer validates `data`
  against it as it is (CloudEvents 1.0: `dataschema` "identifies the schema that `data`
  adheres to").
- `v<N>.event.schema.json`, `$id` `urn:chronicle-crm:event:<type>:v<N>:event`: the whole event
  as the model and the event store hold it, `data` plus the envelope fields (`event_id`,
  `actor`, `occurred_at`, ...) that travel as CloudEvents attributes on the topic.

The whole-event schema of the current version is generated from the model, and the data
schema is derived from it by leaving out the envelope fields. An older version's model is gone
(its stored events are upcast), so its committed whole-event file is the source and its data
schema is derived from that file; both files stay forever, since the topic keeps every version.
Files written before the split held the whole event in `v<N>.schema.json`; the export moves
such a file's content to `v<N>.event.schema.json` and derives the data schema from it.

A published version is a contract: it may gain optional fields, never lose or retype one or
gain a required one. A different shape is a new version plus an upcaster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.cloudevents import dataschema_uri
from services.common.events.catalog import PUBLISHED_EVENT_CLASSES
from services.common.events.envelope import ENVELOPE_FIELDS, CrmEvent

DRAFT = "https://json-schema.org/draft/2020-12/schema"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO_ROOT / "schemas" / "events"
WHOLE_EVENT_SUFFIX = ":event"
"""Appended to the data schema's `$id` to name the whole-event schema of the same version."""


# -- ids and files ---------------------------------------------------------------------------


def event_schema_id(cls: type[CrmEvent], version: int | None = None) -> str:
    """The `$id` of the whole-event schema; `dataschema_uri` is the `$id` of the data schema."""
    return dataschema_uri(cls, version) + WHOLE_EVENT_SUFFIX


def schema_file(cls: type[CrmEvent], version: int | None = None, *, whole_event: bool = False) -> str:
    """Path of a schema file relative to the schema directory, with `/` separators."""
    kind = ".event" if whole_event else ""
    return f"{cls.event_type}/v{version or cls.schema_version}{kind}.schema.json"


def schema_path(directory: Path, cls: type[CrmEvent], version: int | None = None) -> Path:
    """The data schema file, the one `dataschema` names (current version by default)."""
    return directory / schema_file(cls, version)


def event_schema_path(directory: Path, cls: type[CrmEvent], version: int | None = None) -> Path:
    """The whole-event schema file (current version by default)."""
    return directory / schema_file(cls, version, whole_event=True)


# -- the schemas -----------------------------------------------------------------------------


def event_schema(cls: type[CrmEvent]) -> dict[str, Any]:
    """The whole-event schema of the current version, from the model."""
    schema = cls.model_json_schema(mode="serialization")
    return _as_event_schema(cls, cls.schema_version, {**schema, "title": cls.__name__})


def data_schema(cls: type[CrmEvent]) -> dict[str, Any]:
    """The schema of `data` at the current version: what `dataschema` names. On the topic
    `personal` is sealed under the customer's key (docs/subscribing.md), so that is its shape
    there — the whole-event schema shows it opened, as exports and the API give it."""
    data = data_schema_of(cls, cls.schema_version, event_schema(cls))
    if "personal" in data["properties"]:
        data["properties"]["personal"] = {
            "anyOf": [{"$ref": "#/$defs/SealedPersonal"}, {"type": "null"}], "default": None,
            "description": "The event's personal values, sealed under the customer's data key "
            "(AES-256-GCM, with the customer id and event id as associated data): readable "
            "only through the API. Null when there were none."}
        defs = {**data.get("$defs", {}), "SealedPersonal": SEALED_PERSONAL}
        used = _referenced_defs(data["properties"], defs)
        data["$defs"] = {name: defs[name] for name in sorted(used)}
    return data


SEALED_PERSONAL: dict[str, Any] = {
    "title": "SealedPersonal",
    "type": "object",
    "properties": {
        "alg": {"const": "A256GCM", "type": "string"},
        "kid": {"type": "string", "description": "The id of the customer's data key."},
        "iv": {"type": "string", "description": "The nonce, base64url."},
        "ct": {"type": "string", "description": "Ciphertext and tag, base64url."},
    },
    "required": ["alg", "kid", "iv", "ct"],
    "additionalProperties": False,
}


def _as_event_schema(cls: type[CrmEvent], version: int, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        **schema,
        "$schema": DRAFT,
        "$id": event_schema_id(cls, version),
        "$comment": (
            f"The whole {cls.event_type} v{version} event as stored: its data "
            f"({dataschema_uri(cls, version)}, v{version}.schema.json beside this file) plus the envelope "
            "fields, which on the topic travel as CloudEvents attributes (schemas/asyncapi.json). "
            "Not the schema that the CloudEvents dataschema attribute names."
        ),
        "x-event-type": cls.event_type,
        "x-schema-version": version,
    }


def data_schema_of(cls: type[CrmEvent], version: int, schema: dict[str, Any]) -> dict[str, Any]:
    """The schema of `data` derived from a whole-event schema of `cls` at `version`: the same
    schema without the envelope fields. Given a data schema, returns it unchanged."""
    data = without_envelope(schema)
    data.update({
        "$schema": DRAFT,
        "$id": dataschema_uri(cls, version),
        "$comment": (
            f"The data of a CloudEvent of type {cls.event_type} whose dataschema is this $id: "
            "the event's own fields. The envelope (event id, time, actor, customer, ...) is in "
            "the CloudEvents attributes (schemas/asyncapi.json); the whole stored event is "
            f"{event_schema_id(cls, version)} (v{version}.event.schema.json beside this file)."
        ),
        "x-event-type": cls.event_type,
        "x-schema-version": version,
    })
    return data


def without_envelope(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` without the envelope fields and the definitions only they used."""
    own = {name: sub for name, sub in schema["properties"].items() if name not in ENVELOPE_FIELDS}
    data = {key: value for key, value in schema.items()
            if key not in ("$defs", "properties", "required")}
    data["properties"] = own
    required = [name for name in schema.get("required", ()) if name in own]
    if required:
        data["required"] = required
    defs = schema.get("$defs", {})
    used = _referenced_defs(own, defs)
    if used:
        data["$defs"] = {name: defs[name] for name in sorted(used)}
    return data


def _referenced_defs(node: Any, defs: dict[str, Any]) -> set[str]:
    """Names of the `$defs` that `node` uses, directly or through other definitions."""
    found: set[str] = set()
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name not in found:
                    found.add(name)
                    pending.append(defs[name])
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def is_whole_event_schema(schema: dict[str, Any]) -> bool:
    """Whether a schema describes the whole event (the envelope fields are among its properties)."""
    return ENVELOPE_FIELDS <= schema.get("properties", {}).keys()


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


class SchemaExportRefused(Exception):
    """The export would break a published contract or cannot know every file it must write."""


class IncompatibleSchemaChange(SchemaExportRefused):
    pass


class MissingPublishedSchema(SchemaExportRefused):
    pass


@dataclass(frozen=True)
class SchemaPair:
    """The two files of one event type and version, with the content they must have."""

    cls: type[CrmEvent]
    version: int
    data_path: Path
    data: dict[str, Any]
    event_path: Path
    event: dict[str, Any]

    def files(self) -> tuple[tuple[Path, dict[str, Any]], tuple[Path, dict[str, Any]]]:
        return (self.data_path, self.data), (self.event_path, self.event)


def published_schemas(directory: Path = DEFAULT_DIR) -> tuple[list[SchemaPair], list[str]]:
    """Every version of every published event type, and the older versions whose committed
    whole-event file is missing (so their schemas cannot be known)."""
    pairs: list[SchemaPair] = []
    missing: list[str] = []
    for cls in PUBLISHED_EVENT_CLASSES:
        for version in range(1, cls.schema_version + 1):
            if version == cls.schema_version:
                whole: dict[str, Any] | None = event_schema(cls)
            else:
                whole = _committed_event_schema(directory, cls, version)
            if whole is None:
                missing.append(schema_file(cls, version, whole_event=True))
                continue
            data = data_schema(cls) if version == cls.schema_version \
                else data_schema_of(cls, version, whole)
            pairs.append(SchemaPair(
                cls, version, schema_path(directory, cls, version),
                data, event_schema_path(directory, cls, version), whole,
            ))
    return pairs, missing


def _committed_event_schema(directory: Path, cls: type[CrmEvent], version: int) -> dict[str, Any] | None:
    """A version's committed whole-event schema: its file, or else the data file of the
    layout before the split, which held the whole event. None when neither has it."""
    for path in (event_schema_path(directory, cls, version), schema_path(directory, cls, version)):
        if path.exists():
            schema = json.loads(path.read_text())
            if is_whole_event_schema(schema):
                return _as_event_schema(cls, version, schema)
    return None


def _published_before(directory: Path, pair: SchemaPair) -> dict[Path, dict[str, Any] | None]:
    """What each file of `pair` published so far, comparable with its new content (None:
    nothing yet). A data file of the layout before the split held the whole event."""
    data = json.loads(pair.data_path.read_text()) if pair.data_path.exists() else None
    return {
        pair.data_path: None if data is None else without_envelope(data),
        pair.event_path: _committed_event_schema(directory, pair.cls, pair.version),
    }


def export_schemas(directory: Path = DEFAULT_DIR, *, force: bool = False) -> list[Path]:
    """Write both schemas of every published event type and version; return the files that
    changed. Writes nothing if any file would change incompatibly, unless `force` is set."""
    pairs, missing = published_schemas(directory)
    if missing:
        raise MissingPublishedSchema(
            "older versions are read from their committed files, which are missing: "
            + ", ".join(missing) + ". Restore them from the git history."
        )
    changes: list[tuple[Path, dict[str, Any]]] = []
    problems: list[str] = []
    for pair in pairs:
        published = _published_before(directory, pair)
        for path, schema in pair.files():
            if path.exists() and json.loads(path.read_text()) == schema:
                continue
            changes.append((path, schema))
            if (before := published[path]) is not None:
                problems += [f"{path.relative_to(directory)}: {problem}"
                             for problem in breaking_changes(before, schema)]
    if problems and not force:
        raise IncompatibleSchemaChange(
            "; ".join(problems) + ". Publish a new version (schema_version + an upcaster) instead."
        )
    for path, schema in changes:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(schema))
    return [path for path, _ in changes]


def check_schemas(directory: Path = DEFAULT_DIR) -> list[str]:
    """Differences between the models and the committed schema files (empty: in sync)."""
    pairs, missing = published_schemas(directory)
    problems = [f"missing {name}" for name in missing]
    for pair in pairs:
        for path, schema in pair.files():
            if not path.exists():
                problems.append(f"missing {path.relative_to(directory)}")
            elif json.loads(path.read_text()) != schema:
                problems.append(f"out of date {path.relative_to(directory)}")
    return problems
