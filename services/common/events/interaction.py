"""Interaction events: a call, e-mail, meeting, chat, note or visit with a customer."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.common.events.envelope import PersonalTextEvent

Channel = Literal["call", "email", "meeting", "chat", "note", "visit"]
Direction = Literal["inbound", "outbound", "internal"]


class InteractionPersonal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str | None = None
    body: str | None = None


class InteractionLogged(PersonalTextEvent):
    """v2: the subject joined the body in `personal`, sealed under the customer's key."""

    event_type: ClassVar[str] = "crm.interaction.logged"
    schema_version: ClassVar[int] = 2
    personal_fields: ClassVar[tuple[str, ...]] = ("subject", "body")

    channel: Channel
    direction: Direction
    duration_s: int | None = Field(default=None, ge=0)
    lead_id: UUID | None = None
    personal: InteractionPersonal | None = None
    external_ref: str | None = None

    @property
    def subject(self) -> str | None:
        return self.personal_value("subject")

    @property
    def body(self) -> str | None:
        return self.personal_value("body")
