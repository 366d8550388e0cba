"""A downstream subscriber of Chronicle CRM's customer events, with kafka-python.

It keeps a small customer directory (tags, and the stage of every lead) and shows what every
subscriber needs: dedupe redeliveries, ignore event types it does not know, refuse schema
versions newer than it was written for, and check `data` against the JSON Schema that the
message's `dataschema` names before using it. It depends on nothing from Chronicle: the
contract is the CloudEvents document described in schemas/asyncapi.json and the schema files
under schemas/events/, found by their `$id`.

    pip install kafka-python jsonschema
    python docs/examples/subscriber.py --bootstrap localhost:9092 --topic crm.events \
        --schemas path/to/chronicle/schemas/events
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

log = logging.getLogger("subscriber")

# The schema version of each event type this code was written against.
KNOWN_VERSIONS = {
    "crm.customer.registered": 2,
    "crm.customer.tagged": 1,
    "crm.customer.untagged": 1,
    "crm.lead.created": 1,
    "crm.lead.stage_changed": 2,
}


class UnsupportedVersion(Exception):
    """An event in a schema version newer than this subscriber understands: upgrade it."""


class DataSchemas:
    """The published JSON Schemas, each under its `$id`: `dataschema` is a URN, not a URL, so
    a subscriber resolves it in a registry built from a copy of the schema files."""

    def __init__(self, directory: Path) -> None:
        resources = []
        for path in sorted(directory.glob("*/*.schema.json")):
            resource = Resource.from_contents(json.loads(path.read_text()))  # $schema: 2020-12
            resources.append((resource.contents["$id"], resource))
        if not resources:
            raise FileNotFoundError(f"no schema files under {directory}")
        self.registry: Registry[Any] = Registry().with_resources(resources)
        self._validators: dict[str, Draft202012Validator] = {}

    def validate(self, dataschema: str, data: Any) -> None:
        """Raise jsonschema.ValidationError unless `data` matches the schema named by
        `dataschema` (referencing.exceptions.Unresolvable: no schema file has that `$id`)."""
        validator = self._validators.get(dataschema)
        if validator is None:
            validator = Draft202012Validator({"$ref": dataschema}, registry=self.registry,
                                             format_checker=FormatChecker())
            self._validators[dataschema] = validator
        validator.validate(data)


@dataclass
class CustomerDirectory:
    """What this subscriber builds from the stream, plus the dedupe bookkeeping.

    Positions grow along a partition and a redelivery repeats positions already seen, so one
    number per partition is enough to drop duplicates. A real subscriber stores
    `applied_up_to` in the same transaction as its own state.
    """

    schemas: DataSchemas
    applied_up_to: dict[int, int] = field(default_factory=dict)
    tags: dict[str, set[str]] = field(default_factory=dict)
    lead_stage: dict[str, str] = field(default_factory=dict)

    def handle(self, partition: int, value: bytes) -> bool:
        """Apply one Kafka message; False when it was a redelivery or a type not used here."""
        event = json.loads(value)
        position = event["position"]
        if position <= self.applied_up_to.get(partition, 0):
            return False  # already applied: at-least-once delivery repeated it
        event_type = event["type"]
        version = int(event["dataschema"].rsplit(":v", 1)[1])
        applied = False
        if event_type in KNOWN_VERSIONS:
            if version > KNOWN_VERSIONS[event_type]:
                raise UnsupportedVersion(f"{event_type} v{version} at position {position}")
            # Stop on a message that breaks its contract, rather than apply a guess.
            self.schemas.validate(event["dataschema"], event["data"])
            self._apply(event_type, event["customerid"], event["subject"], event["data"])
            applied = True
        self.applied_up_to[partition] = position  # unknown types are new facts: skip them
        return applied

    def _apply(self, event_type: str, customer_id: str, subject: str, data: dict[str, Any]) -> None:
        if event_type == "crm.customer.registered":
            self.tags[customer_id] = set(data.get("tags", []))
        elif event_type == "crm.customer.tagged":
            self.tags.setdefault(customer_id, set()).add(data["tag"])
        elif event_type == "crm.customer.untagged":
            self.tags.setdefault(customer_id, set()).discard(data["tag"])
        elif event_type == "crm.lead.created":
            self.lead_stage[subject] = data["stage"]
        elif event_type == "crm.lead.stage_changed":
            self.lead_stage[subject] = data["to_stage"]


def main() -> None:
    from kafka import KafkaConsumer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="localhost:9092")
    parser.add_argument("--topic", default="crm.events")
    parser.add_argument("--group", default="customer-directory-example")
    parser.add_argument("--schemas", type=Path, default=Path("schemas/events"),
                        help="a copy of Chronicle's schemas/events directory")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)

    consumer = KafkaConsumer(
        args.topic, bootstrap_servers=args.bootstrap, group_id=args.group,
        enable_auto_commit=False,  # commit only what has been applied
        auto_offset_reset="earliest",  # a new subscriber replays the whole history
    )
    directory = CustomerDirectory(DataSchemas(args.schemas))
    try:
        while True:
            batches = consumer.poll(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    directory.handle(record.partition, record.value)
            if batches:
                consumer.commit()
                log.info("%d customers, %d leads", len(directory.tags), len(directory.lead_stage))
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


if __name__ == "__main__":
    main()
