"""The live event stream on the production engines: events and read models in PostgreSQL, the
relay publishing to a real Kafka-protocol broker, projectors in consumer groups — composed as
`crm serve --postgres-url … --kafka-bootstrap …` does. Each streamed event is compared with
the message the relay put on the topic for the same position, byte for byte."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from services.command.domain.aggregate import CommandContext
from services.command.service import CommandService, NewCustomer
from services.common.event_store import open_event_store
from services.common.events.customer import CustomerPersonal
from services.common.kafka_clients import client_config
from services.common.settings import Settings
from tests.contract.stream import (
    WAIT_S,
    Served,
    StreamContract,
    Tenant,
    opened,
    stream_settings,
)
from tests.harness.engines import production_settings

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


class TestStreamOnPostgresAndKafka(StreamContract):
    burns_positions = True
    _topic: dict[int, bytes] = {}
    """Messages read from the topic so far, by position."""

    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, postgres_url: str, kafka_bootstrap: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return production_settings(postgres_url, kafka_bootstrap,
                                   Path(tmp_path_factory.mktemp("crm-data")), "stream",
                                   postgres_pool_size=8,
                                   # No poll within a test's waits: saves of this process
                                   # wake the streams, and every other one's NOTIFY does.
                                   **stream_settings(stream_poll_s=60.0))

    def test_a_write_by_another_process_wakes_the_stream(self, served: Served,
                                                         settings: Settings) -> None:
        """Another event store (as `crm command-api` elsewhere would hold) writes; its save
        cannot wake this process directly, and the poll is minutes away: PostgreSQL's
        NOTIFY on the events table does."""
        tenant = Tenant(served)
        with opened(tenant.stream()) as stream:
            tenant.customer("Warm Up")  # the follower runs, and has rested since
            stream.events(1, WAIT_S)
            elsewhere = open_event_store(settings)
            service = CommandService(elsewhere, settings)
            try:
                written = service.register_customer(
                    CommandContext(actor="elsewhere", tenant_id=tenant.id),
                    NewCustomer(personal=CustomerPersonal(name="From Afar")))
            finally:
                service.close()
                elsewhere.close()
            assert [e.id for e in stream.events(1, WAIT_S)] == [written.position]

    def published_value(self, served: Served, position: int) -> bytes:
        if position not in self._topic:
            self._read_topic(served, position)
        return self._topic[position]

    def _read_topic(self, served: Served, position: int) -> None:
        """Read the topic from its start until the message of `position` is there."""
        import json

        from kafka import KafkaConsumer, TopicPartition

        settings = served.crm.settings
        assert settings.kafka_bootstrap is not None
        consumer: Any = KafkaConsumer(**client_config(settings.kafka_bootstrap),
                                      enable_auto_commit=False, group_id=None)
        try:
            partitions = [TopicPartition(settings.kafka_topic, p)
                          for p in range(settings.kafka_partitions)]
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            deadline = time.monotonic() + WAIT_S
            while position not in self._topic:
                assert time.monotonic() < deadline, f"position {position} is not on the topic"
                for messages in consumer.poll(timeout_ms=500).values():
                    for message in messages:
                        self._topic[json.loads(message.value)["position"]] = message.value
        finally:
            consumer.close()
