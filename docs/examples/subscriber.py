"""A downstream subscriber of Chronicle CRM's customer events, with kafka-python.

It keeps a small customer directory (tags, and the stage of every lead) and shows the three
things every subscriber needs: dedupe redeliveries, ignore event types it does not know, and
refuse schema versions newer than it was written for. It depends on nothing from Chronicle:
the contract is the CloudEvents document described in schemas/asyncapi.json.

    pip install kafka-python
    python docs/examples/subscriber.py --bootstrap localhost:9092 --topic crm.events
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("subscriber")

# The schema version of each event type this code was written against.
KNOWN_VERSIONS = {
    "crm.customer.registered": 1,
    "crm.customer.tagged": 1,
    "crm.customer.untagged": 1,
    "crm.lead.created": 1,
    "crm.lead.stage_changed": 1,
}


class UnsupportedVersion(Exception):
    """An event in a schema version newer than this subscriber understands: upgrade it."""


@dataclass
class CustomerDirectory:
    """What this subscriber builds from the stream, plus the dedupe bookkeeping.

    Positions grow along a partition and a redelivery repeats positions already seen, so one
    number per partition is enough to drop duplicates. A real subscriber stores
    `applied_up_to` in the same transaction as its own state.
    """

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
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)

    consumer = KafkaConsumer(
        args.topic, bootstrap_servers=args.bootstrap, group_id=args.group,
        enable_auto_commit=False,  # commit only what has been applied
        auto_offset_reset="earliest",  # a new subscriber replays the whole history
    )
    directory = CustomerDirectory()
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
