"""Ticket: a service request with a status machine, assignee, comments and first response."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from services.command.domain.aggregate import AggregateRoot, CommandContext
from services.command.domain.errors import RuleViolation
from services.common.events.ticket import (
    CommentPersonal,
    TicketAssigned,
    TicketCommentAdded,
    TicketFirstResponded,
    TicketOpened,
    TicketPriorityChanged,
    TicketSlaBreached,
    TicketStatusChanged,
)

# open -> pending -> resolved -> closed; resolved or closed may be reopened.
ALLOWED_STATUS_MOVES: dict[str, tuple[str, ...]] = {
    "open": ("pending", "resolved"),
    "pending": ("open", "resolved"),
    "reopened": ("pending", "resolved"),
    "resolved": ("closed", "reopened"),
    "closed": ("reopened",),
}
RESPONDING_MOVES = ("pending", "resolved")


class Ticket(AggregateRoot):
    kind = "ticket"
    created_by = TicketOpened

    status: str
    assignee: str | None
    first_responded: bool

    @classmethod
    def open(
        cls, ticket_id: UUID, ctx: CommandContext, *, customer_id: UUID, subject: str,
        priority: str, channel: str | None = None, assignee: str | None = None,
        lead_id: UUID | None = None, external_ref: str | None = None,
    ) -> Ticket:
        ticket = cls(ticket_id)
        ticket._record(
            TicketOpened, ctx, customer_id=customer_id, subject=subject, priority=priority,
            channel=channel, assignee=assignee, lead_id=lead_id, external_ref=external_ref,
        )
        return ticket

    def _refuse_if_closed(self) -> None:
        if self.status == "closed":
            raise RuleViolation(
                "ticket_closed", "the ticket is closed; reopen it before changing it",
                status=self.status,
            )

    def _first_response(self, ctx: CommandContext, responded_by: str | None = None) -> None:
        if self.first_responded:
            return
        responded_at = ctx.occurred_at or datetime.now(UTC)
        seconds = max(0.0, (responded_at - self.opened_at).total_seconds())
        self._record(TicketFirstResponded, ctx, responded_by=responded_by or ctx.actor,
                     response_seconds=seconds)

    def record_first_response(self, ctx: CommandContext, responded_by: str | None) -> None:
        """A first response known only by its time (an imported history, where the reply
        itself is not part of the record); refused if the ticket already has one."""
        self._refuse_if_closed()
        if self.first_responded:
            raise RuleViolation("already_responded", "the ticket already has a first response")
        self._first_response(ctx, responded_by)

    def change_status(self, ctx: CommandContext, to_status: str, reason: str | None) -> None:
        if to_status == "open" and self.status in ("resolved", "closed"):
            to_status = "reopened"
        allowed = ALLOWED_STATUS_MOVES[self.status]
        if to_status == self.status:
            raise RuleViolation("same_status", f"the ticket is already {to_status}")
        if to_status not in allowed:
            raise RuleViolation(
                "status_transition_not_allowed",
                f"a ticket cannot go from {self.status} to {to_status}",
                from_status=self.status, to_status=to_status, allowed=list(allowed),
            )
        if to_status in RESPONDING_MOVES:
            self._first_response(ctx)
        self._record(
            TicketStatusChanged, ctx, from_status=self.status, to_status=to_status, reason=reason
        )

    def assign(self, ctx: CommandContext, assignee: str) -> None:
        self._refuse_if_closed()
        if assignee == self.assignee:
            raise RuleViolation("no_change", f"the ticket is already assigned to {assignee}")
        self._record(TicketAssigned, ctx, from_assignee=self.assignee, to_assignee=assignee)

    def comment(
        self, ctx: CommandContext, comment_id: UUID, body: str, author_type: str, public: bool
    ) -> None:
        self._refuse_if_closed()
        if author_type == "agent" and public:
            self._first_response(ctx)
        self._record(
            TicketCommentAdded, ctx, comment_id=comment_id, author=ctx.actor,
            author_type=author_type, public=public, personal=CommentPersonal(body=body),
        )

    def change_priority(self, ctx: CommandContext, priority: str, reason: str | None) -> None:
        self._refuse_if_closed()
        if priority == self.priority:
            raise RuleViolation("no_change", f"the ticket is already {priority} priority")
        self._record(TicketPriorityChanged, ctx, from_priority=self.priority,
                     to_priority=priority, reason=reason)

    def record_sla_breach(
        self, ctx: CommandContext, sla: str, target_seconds: int, deadline: datetime
    ) -> None:
        """A deadline passed: once per SLA (the resolution SLA again after a reopen)."""
        if sla in self.breached:
            raise RuleViolation("sla_already_breached", f"the {sla} SLA is already recorded "
                                "as breached", sla=sla)
        if sla == "first_response" and self.first_responded:
            raise RuleViolation("sla_met", "the ticket already has its first response", sla=sla)
        if sla == "resolution" and self.status in ("resolved", "closed"):
            raise RuleViolation("sla_met", f"the ticket is {self.status}", sla=sla)
        self._record(TicketSlaBreached, ctx, sla=sla, priority=self.priority,
                     target_seconds=target_seconds, deadline=deadline)

    # -- state --------------------------------------------------------------------------------

    def _when_TicketOpened(self, event: TicketOpened) -> None:
        self._when_created(event)
        self.opened_at = event.occurred_at
        self.status = "open"
        self.priority = event.priority
        self.assignee = event.assignee
        self.first_responded = False
        self.breached: set[str] = set()

    def _when_TicketAssigned(self, event: TicketAssigned) -> None:
        self.assignee = event.to_assignee

    def _when_TicketStatusChanged(self, event: TicketStatusChanged) -> None:
        self.status = event.to_status
        if event.to_status == "reopened":
            self.breached.discard("resolution")

    def _when_TicketPriorityChanged(self, event: TicketPriorityChanged) -> None:
        self.priority = event.to_priority

    def _when_TicketCommentAdded(self, event: TicketCommentAdded) -> None:
        pass

    def _when_TicketFirstResponded(self, event: TicketFirstResponded) -> None:
        self.first_responded = True

    def _when_TicketSlaBreached(self, event: TicketSlaBreached) -> None:
        self.breached.add(event.sla)
