"""Internal bookkeeping events: stored with the facts they belong to, never published."""

from __future__ import annotations

from typing import Any, ClassVar

from services.common.events.envelope import CrmEvent


class CommandRecorded(CrmEvent):
    """The outcome of a command sent with an `Idempotency-Key`.

    Saved in the same transaction as the command's own events, so a retried request
    finds it and returns the first result instead of writing again.
    """

    event_type: ClassVar[str] = "crm.internal.command_recorded"
    internal: ClassVar[bool] = True

    key: str
    request_fingerprint: str
    status_code: int
    response: dict[str, Any]
