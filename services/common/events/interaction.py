"""Interaction events: a call, e-mail, meeting, chat, note or visit with a customer."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.common.events.envelope import CrmEvent

Channel = Literal["call", "email", "meeting", "chat", "note", "visit"]
Direction = Literal["inbound", "outbound", "internal"]


class InteractionPersonal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    body: str | None = None


class InteractionLogged(CrmEvent):
    event_type: ClassVar[str] = "crm.interaction.logged"

    channel: Channel
    direction: Direction
    subject: str | None = None
    duration_s: int | None = Field(default=None, ge=0)
    lead_id: UUID | None = None
    personal: InteractionPersonal = Field(default_factory=InteractionPersonal)
    external_ref: str | None = None
