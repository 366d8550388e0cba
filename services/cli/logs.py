"""The one logging setup of every long-running command."""

from __future__ import annotations

import logging

from services.common import log_privacy
from services.common.settings import Settings


def configure_logging(settings: Settings) -> None:
    """Our own loggers (relay, projectors, policies) at the configured level; the Kafka
    client's own retry chatter only at debug (the relay logs one line per outage retry; the
    client would log a dozen). No record carries personal data from a query string or an
    error message (services/common/log_privacy.py); `crm serve` gives uvicorn's own handlers
    the same filters."""
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        log_privacy.install(handler)
    if settings.log_level.lower() != "debug":
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
