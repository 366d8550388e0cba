"""How every kafka-python client of Chronicle reaches the brokers: one configuration, built
from Settings, for the relay's producer and admin client, the projectors' consumers and
dead-letter producer, the rebuild's consumer and the topic administration.

Only the keys that are set are passed: kafka-python refuses configuration names a client does
not know, and its own defaults (PLAINTEXT, hostname checking on) stay in force otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.common.settings import Settings

KafkaConnection = str | Mapping[str, Any]
"""What the Kafka helpers accept: a bootstrap address (a plaintext broker, as the tests and
benchmarks use) or the whole client configuration from `kafka_client_config`."""


def kafka_client_config(settings: Settings) -> dict[str, Any]:
    """`bootstrap_servers` plus the transport security the settings ask for."""
    if not settings.kafka_bootstrap:
        raise ValueError("no Kafka bootstrap configured: set CRM_KAFKA_BOOTSTRAP")
    config: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap,
                              "security_protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        for key, path in (("ssl_cafile", settings.kafka_ssl_cafile),
                          ("ssl_certfile", settings.kafka_ssl_certfile),
                          ("ssl_keyfile", settings.kafka_ssl_keyfile),
                          ("ssl_crlfile", settings.kafka_ssl_crlfile)):
            if path is not None:
                config[key] = str(path)
        if settings.kafka_ssl_password is not None:
            config["ssl_password"] = settings.kafka_ssl_password.get_secret_value()
        config["ssl_check_hostname"] = settings.kafka_ssl_check_hostname
    if settings.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        assert settings.kafka_sasl_password is not None  # the settings refuse SASL without it
        config.update(sasl_mechanism=settings.kafka_sasl_mechanism,
                      sasl_plain_username=settings.kafka_sasl_username,
                      sasl_plain_password=settings.kafka_sasl_password.get_secret_value())
    return config


def client_config(connection: KafkaConnection) -> dict[str, Any]:
    """The client configuration a helper was handed, as a fresh dict."""
    if isinstance(connection, str):
        return {"bootstrap_servers": connection}
    return dict(connection)


def bootstrap_of(connection: KafkaConnection) -> str:
    """The bootstrap address, for messages (never the credentials beside it)."""
    return connection if isinstance(connection, str) else str(connection["bootstrap_servers"])
