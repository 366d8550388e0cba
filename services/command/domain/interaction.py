"""Interaction: one logged contact with a customer. Immutable once logged."""

from __future__ import annotations

from uuid import UUID

from services.command.domain.aggregate import AggregateRoot, CommandContext
from services.common.events.interaction import InteractionLogged, InteractionPersonal


class Interaction(AggregateRoot):
    kind = "interaction"
    created_by = InteractionLogged

    @classmethod
    def log(
        cls, interaction_id: UUID, ctx: CommandContext, *, customer_id: UUID, channel: str,
        direction: str, subject: str | None = None, duration_s: int | None = None,
        lead_id: UUID | None = None, body: str | None = None, external_ref: str | None = None,
    ) -> Interaction:
        interaction = cls(interaction_id)
        interaction._record(
            InteractionLogged, ctx, customer_id=customer_id, channel=channel,
            direction=direction, subject=subject, duration_s=duration_s, lead_id=lead_id,
            personal=InteractionPersonal(body=body), external_ref=external_ref,
        )
        return interaction

    def _when_InteractionLogged(self, event: InteractionLogged) -> None:
        self._when_created(event)
        self.channel = event.channel
