"""Raw limits of the parts under the relay and the projectors, measured with the same clients.

- Kafka: kafka-python's producer (the relay's own configuration: acks=all, idempotent, same
  linger and batch size) sending pre-built messages of our average size asynchronously with one
  flush at the end; and its consumer reading them back by assignment (no group, no decoding).
- PostgreSQL: `executemany(INSERT … ON CONFLICT (id) DO UPDATE …)` of rows taken from our
  own read-model tables (same columns, types and sizes), one transaction per batch.
- DuckDB: appends of Arrow batches of rows taken from our analytics tables
  (`INSERT INTO … SELECT * FROM arrow`), one transaction per batch.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from benchmarks.stats import process_cpu_seconds

RAW_TOPIC_PARTITIONS = 4


def kafka_produce(bootstrap: str, topic: str, count: int, value_bytes: int,
                  producer_config: dict[str, Any], broker_pid: int | None) -> dict[str, Any]:
    """Async sends of `count` messages (customer-id keys, `value_bytes` values), one flush."""
    from kafka import KafkaProducer

    from services.common.kafka_topics import ensure_topic

    ensure_topic(bootstrap, topic, RAW_TOPIC_PARTITIONS)
    value = (b'{"data":"' + b"x" * max(0, value_bytes - 11) + b'"}')[:max(value_bytes, 11)]
    keys = [str(uuid.uuid4()).encode() for _ in range(min(count, 100_000))]
    headers = [("content-type", b"application/cloudevents+json; charset=UTF-8")]
    producer = KafkaProducer(**{**producer_config, "bootstrap_servers": bootstrap})
    try:
        producer.send(topic, value=value, key=keys[0], headers=headers).get(timeout=30)  # warm
        broker_cpu0 = process_cpu_seconds(broker_pid) if broker_pid else None
        cpu0, started = time.process_time(), time.perf_counter()
        futures = [producer.send(topic, value=value, key=keys[i % len(keys)], headers=headers)
                   for i in range(count)]
        producer.flush(timeout=300)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu0
        failed = sum(1 for f in futures if f.failed())
    finally:
        producer.close(timeout=10)
    broker_cpu1 = process_cpu_seconds(broker_pid) if broker_pid else None
    return {
        "messages": count, "value_bytes": len(value), "seconds": round(seconds, 3),
        "messages_per_s": round(count / seconds, 1), "errors": failed,
        "client_cores": round(cpu / seconds, 2),
        "broker_cores": round((broker_cpu1 - broker_cpu0) / seconds, 2)
        if broker_cpu0 is not None and broker_cpu1 is not None else None,
    }


def kafka_consume(bootstrap: str, topic: str, count: int, consumer_config: dict[str, Any],
                  timeout_s: float = 300.0) -> dict[str, Any]:
    """Read `count` messages from the start of every partition (assign + seek, no group)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, **consumer_config)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        got = 0
        nbytes = 0
        cpu0, started = time.process_time(), time.perf_counter()
        deadline = started + timeout_s
        while got < count and time.perf_counter() < deadline:
            for messages in consumer.poll(timeout_ms=500, max_records=5000).values():
                got += len(messages)
                nbytes += sum(len(m.value) for m in messages)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu0
    finally:
        consumer.close()
    return {"messages": got, "seconds": round(seconds, 3),
            "messages_per_s": round(got / seconds, 1) if seconds else None,
            "avg_value_bytes": round(nbytes / got, 1) if got else None,
            "client_cores": round(cpu / seconds, 2) if seconds else None,
            "complete": got >= count}


def _fresh_ids(rows: list[dict[str, Any]], round_number: int) -> list[dict[str, Any]]:
    return [{**row, "id": f"raw-{round_number}-{i}-{row['id']}"} for i, row in enumerate(rows)]


def postgres_upserts(url: str, schema: str, samples: dict[str, list[dict[str, Any]]],
                     columns: dict[str, dict[str, str]], batch_rows: int, target_rows: int,
                     max_seconds: float) -> dict[str, Any]:
    """executemany upserts of sampled read-model rows (fresh ids), one transaction per batch.

    Half of each batch inserts new rows, half updates rows of the previous batch: a rebuild
    both creates rows and rewrites rows it created moments ago.
    """
    import psycopg
    from psycopg import sql
    from psycopg.types.json import Jsonb

    pg_types = {"text": "TEXT", "int": "BIGINT", "float": "DOUBLE PRECISION",
                "bool": "BOOLEAN", "ts": "TIMESTAMPTZ", "json": "JSONB"}
    per_table: dict[str, Any] = {}
    total_rows = 0
    total_seconds = 0.0
    with psycopg.connect(url, autocommit=False, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.commit()
        for table, rows in samples.items():
            if not rows:
                continue
            cols = columns[table]
            name = sql.Identifier(schema, f"raw_{table}")
            ddl = ", ".join(f'"{c}" {pg_types[k]}' + (" PRIMARY KEY" if c == "id" else "")
                            for c, k in cols.items())
            conn.execute(sql.SQL("CREATE TABLE {} (" + ddl + ")").format(name))
            conn.commit()
            names = list(cols)
            statement = sql.SQL(
                "INSERT INTO {} (" + ", ".join(f'"{c}"' for c in names) + ") VALUES ("
                + ", ".join(["%s"] * len(names)) + ") ON CONFLICT (id) DO UPDATE SET "
                + ", ".join(f'"{c}" = excluded."{c}"' for c in names if c != "id")
            ).format(name)

            def value(kind: str, v: Any) -> Any:
                return Jsonb(v) if kind == "json" and v is not None else v

            sample = (rows * (batch_rows // len(rows) + 1))[:batch_rows]
            done = 0
            rounds = 0
            started = time.perf_counter()
            previous: list[dict[str, Any]] = []
            while done < target_rows and time.perf_counter() - started < max_seconds:
                fresh = _fresh_ids(sample[: batch_rows - len(previous) // 2], rounds)
                batch = fresh + previous[: len(previous) // 2]
                params = [tuple(value(cols[c], row.get(c)) for c in names) for row in batch]
                with conn.cursor() as cur:
                    cur.executemany(statement, params)
                conn.commit()
                previous = fresh
                done += len(batch)
                rounds += 1
            seconds = time.perf_counter() - started
            per_table[table] = {"rows": done, "seconds": round(seconds, 3),
                                "rows_per_s": round(done / seconds, 1),
                                "avg_row_bytes": round(sum(len(json.dumps(r, default=str))
                                                           for r in rows) / len(rows), 1)}
            total_rows += done
            total_seconds += seconds
    return {"batch_rows": batch_rows, "tables": per_table,
            "rows_per_s": round(total_rows / total_seconds, 1) if total_seconds else None}


def duckdb_appends(path: str, samples: dict[str, list[dict[str, Any]]],
                   columns: dict[str, dict[str, str]], batch_rows: int, target_rows: int,
                   max_seconds: float) -> dict[str, Any]:
    """Arrow batches of sampled analytics rows appended to fresh tables, one per transaction."""
    import duckdb
    import pyarrow as pa

    arrow_types = {"text": pa.string(), "int": pa.int64(), "float": pa.float64(),
                   "bool": pa.bool_(), "ts": pa.string(), "json": pa.string()}
    duck_types = {"text": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN",
                  "ts": "TIMESTAMPTZ", "json": "VARCHAR"}
    conn = duckdb.connect(path)
    per_table: dict[str, Any] = {}
    total_rows = 0
    total_seconds = 0.0
    try:
        conn.execute("SET TimeZone = 'UTC'")
        for table, rows in samples.items():
            if not rows:
                continue
            cols = columns[table]
            names = list(cols)
            conn.execute(f'CREATE TABLE "raw_{table}" (' + ", ".join(
                f'"{c}" {duck_types[k]}' for c, k in cols.items()) + ")")
            sample = (rows * (batch_rows // len(rows) + 1))[:batch_rows]

            def arrays(batch: list[dict[str, Any]], names: list[str] = names,
                       cols: dict[str, str] = cols) -> Any:
                out = []
                for c in names:
                    vals = [r.get(c) for r in batch]
                    if cols[c] == "json":
                        vals = [None if v is None else json.dumps(v) for v in vals]
                    if cols[c] == "ts":
                        vals = [None if v is None else str(v) for v in vals]
                    out.append(pa.array(vals, arrow_types[cols[c]]))
                return pa.Table.from_arrays(out, names=names)

            select = ", ".join(f'CAST("{c}" AS TIMESTAMPTZ)' if cols[c] == "ts" else f'"{c}"'
                               for c in names)
            done = 0
            rounds = 0
            started = time.perf_counter()
            while done < target_rows and time.perf_counter() - started < max_seconds:
                batch = arrays(_fresh_ids(sample, rounds))  # building the batch is counted
                conn.execute("BEGIN TRANSACTION")
                conn.register("raw_batch", batch)
                conn.execute(f'INSERT INTO "raw_{table}" SELECT {select} FROM raw_batch')
                conn.unregister("raw_batch")
                conn.execute("COMMIT")
                done += len(sample)
                rounds += 1
            seconds = time.perf_counter() - started
            per_table[table] = {"rows": done, "seconds": round(seconds, 3),
                                "rows_per_s": round(done / seconds, 1)}
            total_rows += done
            total_seconds += seconds
    finally:
        conn.close()
    return {"batch_rows": batch_rows, "tables": per_table,
            "rows_per_s": round(total_rows / total_seconds, 1) if total_seconds else None}
