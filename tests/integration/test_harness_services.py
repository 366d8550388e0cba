"""The harness gives integration tests a real PostgreSQL and a real Kafka-protocol broker."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict

import psycopg
import pytest
from psycopg import sql

from tests.waiting import eventually

CUSTOMERS = [f"cust-{n}" for n in range(1, 6)]
MESSAGES_PER_CUSTOMER = 10
PARTITIONS = 4


@pytest.mark.postgres
def test_postgres_is_a_real_server(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    assert version is not None
    match = re.match(r"\d+", version[0])
    assert match is not None, version
    assert int(match.group()) >= 13


@pytest.mark.postgres
def test_postgres_transaction_roundtrip_in_fresh_schema(
    postgres_url: str, fresh_postgres_schema: str
) -> None:
    table = sql.Identifier(fresh_postgres_schema, "contacts")
    with psycopg.connect(postgres_url) as conn:
        with conn.transaction():
            conn.execute(
                sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, name text NOT NULL)").format(table)
            )
            conn.execute(
                sql.SQL("INSERT INTO {} (id, name) VALUES (%s, %s), (%s, %s)").format(table),
                (1, "Ada", 2, "Grace"),
            )
            select = sql.SQL("SELECT id, name FROM {} ORDER BY id").format(table)
            rows = conn.execute(select).fetchall()
        assert rows == [(1, "Ada"), (2, "Grace")]


@pytest.mark.postgres
def test_postgres_second_connection_sees_only_committed_rows(
    postgres_url: str, fresh_postgres_schema: str
) -> None:
    table = sql.Identifier(fresh_postgres_schema, "events")
    count = sql.SQL("SELECT count(*) FROM {}").format(table)
    with psycopg.connect(postgres_url, autocommit=True) as writer, psycopg.connect(
        postgres_url, autocommit=True
    ) as reader:
        pids = {c.execute("SELECT pg_backend_pid()").fetchone() for c in (writer, reader)}
        assert len(pids) == 2, "expected two server backends"
        writer.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(table))

        with writer.transaction():
            writer.execute(sql.SQL("INSERT INTO {} VALUES (1), (2), (3)").format(table))
            assert reader.execute(count).fetchone() == (0,)
        assert reader.execute(count).fetchone() == (3,)


@pytest.mark.kafka
def test_kafka_keyed_messages_keep_order_and_partition(kafka_bootstrap: str) -> None:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.partitioner import murmur2

    topic = f"harness-{uuid.uuid4().hex[:8]}"  # unique, so an external broker can be reused
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics(
            {topic: {"num_partitions": PARTITIONS, "replication_factor": 1}}, wait_for_metadata=True
        )
        described = admin.describe_topics([topic])
    finally:
        admin.close()
    assert len(described[0]["partitions"]) == PARTITIONS

    sent: dict[str, list[str]] = defaultdict(list)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        futures = []
        for seq in range(MESSAGES_PER_CUSTOMER):
            for customer in CUSTOMERS:
                value = f"{customer}:{seq}"
                sent[customer].append(value)
                futures.append(producer.send(topic, key=customer.encode(), value=value.encode()))
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=10)
    finally:
        producer.close(timeout=10)

    consumer = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    received: dict[str, list[str]] = defaultdict(list)
    partitions_of: dict[str, set[int]] = defaultdict(set)
    total = len(CUSTOMERS) * MESSAGES_PER_CUSTOMER
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        consumer.seek_to_beginning()

        def read() -> int:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    key = record.key.decode()
                    received[key].append(record.value.decode())
                    partitions_of[key].add(tp.partition)
            return sum(map(len, received.values()))

        eventually(lambda: read() >= total, 30,
                   lambda: f"all {total} messages read back "
                   f"(read {sum(map(len, received.values()))})", interval_s=0)
    finally:
        consumer.close()

    assert sum(map(len, received.values())) == total
    assert received == sent  # every message, in send order per key
    assert all(len(parts) == 1 for parts in partitions_of.values()), partitions_of
    # Java-compatible murmur2 partitioning, so subscribers in other languages agree.
    for customer, parts in partitions_of.items():
        assert parts == {(murmur2(customer.encode()) & 0x7FFFFFFF) % PARTITIONS}
    assert len(set().union(*partitions_of.values())) > 1
