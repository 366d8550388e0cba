"""The one logging setup of every long-running command."""

from __future__ import annotations

import logging

from services.common.settings import Settings


def configure_logging(settings: Settings) -> None:
    """Our own loggers (relay, projectors, policies) at the configured level; the Kafka
    client's own retry chatter only at debug (the relay logs one line per outage retry; the
    client would log a dozen)."""
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.log_level.lower() != "debug":
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
