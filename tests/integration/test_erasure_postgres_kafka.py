"""Erasure on PostgreSQL with the broker (tests/contract/erasure.py), searching also the
database's dump, its data directory and write-ahead log after a CHECKPOINT (a dump does not
show dead rows; the files do), and every message on the topic and the dead-letter topic."""

from __future__ import annotations

import subprocess
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition
from pydantic import SecretStr

from services.common.settings import Settings
from services.projections.host import dead_letter_topic
from tests.contract.erasure import ErasureContract
from tests.harness.engines import PROJECTOR_SESSION_TIMEOUT_MS, new_postgres_schema, new_reader_url
from tests.harness.services import find_postgres_bin_dir
from tests.waiting import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


def every_message(bootstrap: str, topic: str) -> bytes:
    """The keys and values of every record on the topic (empty if there is no such topic)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p)
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return b""
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        end = consumer.end_offsets(partitions)
        chunks: list[bytes] = []

        def read_to_the_end() -> bool:
            for batch in consumer.poll(timeout_ms=500).values():
                chunks.extend((record.key or b"") + (record.value or b"") for record in batch)
            return all(consumer.position(tp) >= end[tp] for tp in partitions)

        eventually(read_to_the_end, 60, lambda: f"{topic} read to {end}", interval_s=0)
        return b"\n".join(chunks)
    finally:
        consumer.close()


class TestErasureOnPostgresAndKafka(ErasureContract):
    @pytest.fixture
    def settings(self, tmp_path: Path, postgres_url: str, kafka_bootstrap: str) -> Settings:
        self.postgres_url = postgres_url
        return Settings(
            data_dir=tmp_path / "crm-data", postgres_url=SecretStr(postgres_url),
            postgres_schema=new_postgres_schema(postgres_url), postgres_pool_size=4,
            postgres_reader_url=SecretStr(new_reader_url(postgres_url)),
            kafka_bootstrap=kafka_bootstrap, kafka_topic=f"crm.erasure.{uuid4().hex[:8]}",
            kafka_partitions=2, projector_session_timeout_ms=PROJECTOR_SESSION_TIMEOUT_MS,
            read_wait_timeout_s=60.0, policies_enabled=False)

    def bytes_elsewhere(self, settings: Settings) -> dict[str, bytes]:
        assert settings.postgres_url is not None and settings.kafka_bootstrap is not None
        url = settings.postgres_url.get_secret_value()
        found: dict[str, bytes] = {}
        dump = subprocess.run([str(find_postgres_bin_dir() / "pg_dump"), "--dbname", url,
                               "--schema", settings.postgres_schema],
                              capture_output=True, timeout=120, check=True)
        found["pg_dump"] = dump.stdout
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
            row = conn.execute("SHOW data_directory").fetchone()
        assert row is not None
        data_directory = Path(row[0])
        for path in data_directory.rglob("*"):  # the tables, their indexes, pg_wal
            if path.is_file():
                try:
                    found[str(path)] = path.read_bytes()
                except OSError:  # a file removed while we walk (a recycled WAL segment)
                    continue
        assert any("pg_wal" in where for where in found), "the WAL was not searched"
        for topic in (settings.kafka_topic, dead_letter_topic(settings)):
            found[f"topic {topic}"] = every_message(settings.kafka_bootstrap, topic)
        assert found[f"topic {settings.kafka_topic}"], "nothing was published"
        return found

    def event_holders(self, written: dict[str, bytes]) -> list[str]:
        return ["pg_dump", next(where for where in written if where.startswith("topic crm.erasure"))]
