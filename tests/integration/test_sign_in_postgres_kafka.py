"""Signing in (tests/contract/sign_in.py) on the production engines: events, sessions and
password hashes in PostgreSQL, the relay publishing to a real Kafka-protocol broker — where
no password hash may ever appear."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from services.common.settings import Settings
from tests.contract.sign_in import SignInContract
from tests.harness.engines import production_settings
from tests.waiting import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


class TestSignInOnPostgresAndKafka(SignInContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, postgres_url: str, kafka_bootstrap: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return production_settings(postgres_url, kafka_bootstrap,
                                   Path(tmp_path_factory.mktemp("crm-data")), "sign-in",
                                   postgres_pool_size=4, read_wait_timeout_s=5.0)

    def topic_values(self, settings: Settings, holding: str) -> list[bytes] | None:
        assert settings.kafka_bootstrap is not None
        return eventually(lambda: _values_if_holding(settings, holding.encode()), 30.0,
                          "the relay did not publish the customer")


def _values_if_holding(settings: Settings, wanted: bytes) -> list[bytes] | None:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                             enable_auto_commit=False)
    try:
        partitions = [TopicPartition(settings.kafka_topic, p)
                      for p in consumer.partitions_for_topic(settings.kafka_topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        end = consumer.end_offsets(partitions)
        values: list[bytes] = []
        for _ in range(200):  # bounded: a stalled broker fails the wait instead
            if all(consumer.position(tp) >= end[tp] for tp in partitions):
                break
            for batch in consumer.poll(timeout_ms=500).values():
                values.extend(record.value for record in batch if record.value is not None)
    finally:
        consumer.close()
    return values if any(wanted in value for value in values) else None
