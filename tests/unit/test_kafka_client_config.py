"""Kafka transport security: `CRM_KAFKA_SECURITY_PROTOCOL`, `CRM_KAFKA_SASL_*` and
`CRM_KAFKA_SSL_*` become kafka-python's configuration in one function, and every Kafka client
Chronicle creates — relay producer, topic admin, projector consumers, dead-letter producer,
rebuild consumer — is built with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kafka
import pytest
from pydantic import SecretStr, ValidationError

import services.command.relay as relay_module
import services.common.kafka_topics as kafka_topics
from services.command.relay import Relay
from services.common.event_store import open_event_store
from services.common.kafka_clients import kafka_client_config
from services.common.settings import Settings
from services.projections.host import ProjectorHost
from services.projections.rebuild import _topic_partitions
from services.projections.sources import KafkaSource

SASL_SSL = dict(
    kafka_bootstrap="broker-1.example:9093,broker-2.example:9093",
    kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
    kafka_sasl_username="chronicle", kafka_sasl_password=SecretStr("s3cret"),
    kafka_ssl_cafile=Path("/etc/chronicle/kafka-ca.pem"),
)
EXPECTED_SASL_SSL = {
    "bootstrap_servers": "broker-1.example:9093,broker-2.example:9093",
    "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_plain_username": "chronicle", "sasl_plain_password": "s3cret",
    "ssl_cafile": "/etc/chronicle/kafka-ca.pem", "ssl_check_hostname": True,
}


def test_plaintext_is_the_default_and_adds_nothing_else() -> None:
    assert kafka_client_config(Settings(kafka_bootstrap="localhost:9092")) == {
        "bootstrap_servers": "localhost:9092", "security_protocol": "PLAINTEXT"}


def test_sasl_over_tls_maps_to_kafka_pythons_names() -> None:
    assert kafka_client_config(Settings(**SASL_SSL)) == EXPECTED_SASL_SSL  # type: ignore[arg-type]


def test_mutual_tls_with_an_encrypted_client_key() -> None:
    config = kafka_client_config(Settings(
        kafka_bootstrap="b:9093", kafka_security_protocol="SSL",
        kafka_ssl_cafile=Path("/tls/ca.pem"), kafka_ssl_certfile=Path("/tls/client.pem"),
        kafka_ssl_keyfile=Path("/tls/client.key"), kafka_ssl_password=SecretStr("k3y"),
        kafka_ssl_crlfile=Path("/tls/crl.pem"), kafka_ssl_check_hostname=False))
    assert config == {
        "bootstrap_servers": "b:9093", "security_protocol": "SSL",
        "ssl_cafile": "/tls/ca.pem", "ssl_certfile": "/tls/client.pem",
        "ssl_keyfile": "/tls/client.key", "ssl_password": "k3y", "ssl_crlfile": "/tls/crl.pem",
        "ssl_check_hostname": False}


def test_the_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"CRM_KAFKA_BOOTSTRAP": "b:9093", "CRM_KAFKA_SECURITY_PROTOCOL":
                        "SASL_PLAINTEXT", "CRM_KAFKA_SASL_MECHANISM": "PLAIN",
                        "CRM_KAFKA_SASL_USERNAME": "u", "CRM_KAFKA_SASL_PASSWORD": "p"}.items():
        monkeypatch.setenv(name, value)
    assert kafka_client_config(Settings()) == {
        "bootstrap_servers": "b:9093", "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN", "sasl_plain_username": "u", "sasl_plain_password": "p"}


@pytest.mark.parametrize(("given", "reason"), [
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "PLAIN"},
     "needs CRM_KAFKA_SASL_USERNAME, CRM_KAFKA_SASL_PASSWORD"),
    ({"kafka_sasl_username": "u", "kafka_sasl_password": SecretStr("p"),
      "kafka_sasl_mechanism": "PLAIN"}, "but CRM_KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN",
      "kafka_sasl_username": "u", "kafka_sasl_password": SecretStr("p"),
      "kafka_ssl_cafile": Path("/ca.pem")}, "CRM_KAFKA_SSL_CAFILE set, but"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": Path("/k.pem")},
     "CRM_KAFKA_SSL_KEYFILE set without CRM_KAFKA_SSL_CERTFILE"),
    ({"kafka_security_protocol": "TLS"}, "kafka_security_protocol"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "GSSAPI"},
     "kafka_sasl_mechanism"),
])
def test_incomplete_or_ignored_security_settings_are_refused(given: dict[str, Any],
                                                             reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        Settings(kafka_bootstrap="b:9092", **given)


@pytest.mark.parametrize("client", [kafka.KafkaProducer, kafka.KafkaConsumer,
                                    kafka.KafkaAdminClient])
def test_every_key_is_one_each_client_knows(client: type) -> None:
    """kafka-python refuses unknown configuration names, so a wrong one would stop a client."""
    full = kafka_client_config(Settings(**{**SASL_SSL, "kafka_ssl_certfile": Path("/c.pem"),  # type: ignore[arg-type]
                                           "kafka_ssl_keyfile": Path("/k.pem"),
                                           "kafka_ssl_password": SecretStr("x"),
                                           "kafka_ssl_crlfile": Path("/crl.pem")}))
    assert set(full) <= set(client.DEFAULT_CONFIG)  # type: ignore[attr-defined]


class Recorded:
    """Stands in for a kafka-python client class, recording each construction's config."""

    made: list[tuple[str, dict[str, Any]]] = []

    def __init__(self, *topics: str, **config: Any) -> None:
        Recorded.made.append((type(self).__name__, config))

    def create_topics(self, *args: Any, **kwargs: Any) -> None:
        pass

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1}

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass


class Producer(Recorded):
    pass


class Consumer(Recorded):
    pass


class Admin(Recorded):
    pass


def test_every_client_chronicle_creates_gets_the_security_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Recorded.made = []
    monkeypatch.setattr(kafka, "KafkaProducer", Producer)
    monkeypatch.setattr(kafka, "KafkaConsumer", Consumer)
    monkeypatch.setattr(relay_module, "KafkaProducer", Producer)
    monkeypatch.setattr(kafka_topics, "KafkaAdminClient", Admin)
    settings = Settings(**{**SASL_SSL, "data_dir": tmp_path / "data"})  # type: ignore[arg-type]

    store = open_event_store(settings)
    host = ProjectorHost(settings, ["customer_360", "funnel"], event_store=store)
    try:
        Relay(store, settings)._connected_producer()  # the relay's admin client and producer
        _topic_partitions(settings)  # the rebuild's hand-over consumer
        KafkaSource(kafka_client_config(settings), settings.kafka_topic,  # a rebuild's feed
                    group_id=None)
    finally:
        host.stop()
        store.close()

    kinds = [kind for kind, _ in Recorded.made]
    # The host: topic admin, dead-letter topic admin + producer, one consumer per projector.
    assert kinds.count("Consumer") == 4 and kinds.count("Producer") == 2, kinds
    assert kinds.count("Admin") == 3, kinds
    for kind, config in Recorded.made:
        assert {key: config.get(key) for key in EXPECTED_SASL_SSL} == EXPECTED_SASL_SSL, kind
