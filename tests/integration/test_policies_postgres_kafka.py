"""The automation policies on the production engines: events and policy state in PostgreSQL,
the relay publishing to a real Kafka-protocol broker, the policy state fed by a consumer group."""

from __future__ import annotations

import threading
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.command.relay import Relay
from services.common.event_store import ChronicleStore
from services.common.kafka_topics import ensure_topic
from services.common.settings import Settings
from tests.contract.policies import PoliciesContract, PublishedThrough

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

PARTITIONS = 2
SESSION_TIMEOUT_MS = 6000  # Tansu completes a group join after about half of it


class TestPoliciesOnPostgresAndKafka(PoliciesContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, postgres_url: str, kafka_bootstrap: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Settings:
        import psycopg
        from psycopg import sql

        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(postgres_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        topic = f"crm.events.policies-{uuid.uuid4().hex[:10]}"
        ensure_topic(kafka_bootstrap, topic, PARTITIONS)
        return Settings(postgres_url=SecretStr(postgres_url), postgres_schema=schema,
                        postgres_pool_size=4, kafka_bootstrap=kafka_bootstrap, kafka_topic=topic,
                        kafka_partitions=PARTITIONS,
                        projector_session_timeout_ms=SESSION_TIMEOUT_MS,
                        data_dir=Path(tmp_path_factory.mktemp("crm-data")))

    @classmethod
    def start_relay(cls, stack: ExitStack, store: ChronicleStore,
                    settings: Settings) -> PublishedThrough:
        relay = Relay(store, settings)
        stop = threading.Event()
        thread = threading.Thread(target=relay.run_until_stopped, args=(stop,), name="relay",
                                  daemon=True)
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(timeout=10)
            relay.close()

        stack.callback(halt)
        return relay.published_through
