"""Kafka topic administration: make sure the event topic exists, with infinite retention.

The topic is the distribution log analysts replay from offset 0, so it keeps everything
(`retention.ms` and `retention.bytes` -1). Its partition count is fixed at creation: changing
it later would move customers to other partitions and break per-customer ordering, so an
existing topic is never altered, only reported when it differs.
"""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.errors import KafkaConnectionError, KafkaTimeoutError, TopicAlreadyExistsError

from services.common.kafka_clients import KafkaConnection, bootstrap_of, client_config

log = logging.getLogger("chronicle.kafka")

INFINITE_RETENTION = {"retention.ms": "-1", "retention.bytes": "-1"}
_UNREACHABLE = (KafkaTimeoutError, KafkaConnectionError)


class BrokerUnavailable(ConnectionError):
    """No Kafka broker answered at the configured bootstrap address."""


def ensure_topic(connection: KafkaConnection, topic: str, partitions: int, *,
                 timeout_ms: int = 10_000) -> None:
    """Create `topic` with `partitions` partitions and infinite retention if it is missing.

    `connection` is a bootstrap address or `kafka_client_config(settings)`. Idempotent.
    Raises BrokerUnavailable when no broker answers within `timeout_ms`; other broker refusals
    (a policy forbidding the settings, say) propagate as the client's errors.
    """
    bootstrap = bootstrap_of(connection)
    try:
        admin = KafkaAdminClient(**client_config(connection), client_id="chronicle-admin",
                                 bootstrap_timeout_ms=timeout_ms, request_timeout_ms=timeout_ms)
    except _UNREACHABLE as exc:
        raise BrokerUnavailable(f"no Kafka broker answered at {bootstrap}: {exc}") from None
    try:
        try:
            admin.create_topics(
                {topic: {"num_partitions": partitions, "replication_factor": -1,
                         "configs": INFINITE_RETENTION}},
                timeout_ms=timeout_ms, wait_for_metadata=True,
            )
            log.info("created topic %s with %d partitions and infinite retention", topic,
                     partitions)
        except TopicAlreadyExistsError:
            existing = _partition_count(admin, topic)
            if existing != partitions:
                log.warning("topic %s exists with %s partitions, not the %d configured; "
                            "left as it is (repartitioning would break per-customer order)",
                            topic, existing, partitions)
    except _UNREACHABLE as exc:
        raise BrokerUnavailable(f"Kafka broker at {bootstrap} stopped answering: {exc}") from None
    finally:
        admin.close()


def _partition_count(admin: KafkaAdminClient, topic: str) -> int | None:
    described = admin.describe_topics([topic])
    return len(described[0]["partitions"]) if described else None
