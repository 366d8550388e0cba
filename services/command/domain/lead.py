"""Lead: one sales opportunity of a customer, with its pipeline stage, amount and discounts."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from services.command.domain.aggregate import AggregateRoot, CommandContext
from services.command.domain.errors import NotFound, RuleViolation
from services.command.domain.pipeline import LOST, WON, TenantRules
from services.common.events.lead import (
    DiscountApprovalRequested,
    DiscountApproved,
    DiscountRejected,
    DiscountRequested,
    FollowUpOverdue,
    LeadAmountChanged,
    LeadAssigned,
    LeadCreated,
    LeadLost,
    LeadStageChanged,
    LeadWon,
    PaymentReceived,
)


@dataclass
class Discount:
    discount_id: UUID
    percent: Decimal
    requested_by: str
    requires_approval: bool
    status: str  # pending | approved | rejected | applied
    approver: str | None = None
    """The person the rules sent it to; once named, only they may decide."""


class Lead(AggregateRoot):
    kind = "lead"
    created_by = LeadCreated

    stage: str
    amount: str | None
    currency: str | None
    owner: str | None
    budget_confirmed: bool
    discounts: dict[UUID, Discount]
    payments: dict[UUID, str]

    @classmethod
    def create(
        cls, lead_id: UUID, ctx: CommandContext, *, customer_id: UUID, title: str,
        source: str | None = None, channel: str | None = None, region: str | None = None,
        industry: str | None = None, amount: str | None = None, currency: str | None = None,
        owner: str | None = None, external_ref: str | None = None, rules: TenantRules,
    ) -> Lead:
        if (amount is None) != (currency is None):
            raise RuleViolation("amount_needs_currency", "amount and currency go together")
        lead = cls(lead_id)
        lead._record(
            LeadCreated, ctx, customer_id=customer_id, title=title, source=source,
            channel=channel, region=region, industry=industry, amount=amount, currency=currency,
            owner=owner, stage=rules.pipeline.open_stages[0], external_ref=external_ref,
        )
        return lead

    # -- decisions ----------------------------------------------------------------------------

    def _refuse_if_closed(self) -> None:
        if self.stage in (WON, LOST):
            raise RuleViolation(
                "lead_closed", f"the lead is {self.stage} and accepts no further changes",
                stage=self.stage,
            )

    def change_stage(
        self, ctx: CommandContext, to_stage: str, *, rules: TenantRules,
        reason: str | None = None, budget_confirmed: bool | None = None,
    ) -> None:
        self._refuse_if_closed()
        rules.pipeline.check_move(self.stage, to_stage)
        gates = rules.pipeline.gates.get(to_stage, ())
        if "budget_confirmed" in gates and not (budget_confirmed or self.budget_confirmed):
            raise RuleViolation(
                f"{to_stage}_requires_confirmed_budget",
                f"a lead can only enter '{to_stage}' once its budget is confirmed "
                "(send budget_confirmed: true)",
            )
        if "amount" in gates and not (self.amount and Decimal(self.amount) > 0):
            raise RuleViolation(
                f"{to_stage}_requires_amount",
                f"a lead needs an amount above zero before it enters '{to_stage}'",
            )
        if to_stage == LOST and not (reason and reason.strip()):
            raise RuleViolation("lost_requires_reason", "a lost lead needs a reason")
        if to_stage == WON:
            self._refuse_if_discount_unapproved(rules)
        from_stage = self.stage
        self._record(
            LeadStageChanged, ctx, from_stage=from_stage, to_stage=to_stage, reason=reason,
            budget_confirmed=budget_confirmed,
        )
        if to_stage == WON:
            discount = self.effective_discount()
            self._record(
                LeadWon, ctx, amount=self.amount, currency=self.currency,
                discount_percent=str(discount) if discount is not None else None,
            )
        elif to_stage == LOST:
            assert reason is not None
            self._record(LeadLost, ctx, reason=reason, from_stage=from_stage)

    def _refuse_if_discount_unapproved(self, rules: TenantRules) -> None:
        threshold = rules.discount_approval_threshold_percent
        for discount in self.discounts.values():
            if discount.status == "pending" and discount.percent > threshold:
                raise RuleViolation(
                    "won_requires_discount_approval",
                    f"a discount of {discount.percent}% is above the {threshold}% threshold "
                    "and needs an approval before the lead can be won",
                    discount_id=str(discount.discount_id), percent=str(discount.percent),
                    threshold_percent=str(threshold),
                )

    def effective_discount(self) -> Decimal | None:
        """The latest discount in force (applied without approval, or approved)."""
        in_force = [d for d in self.discounts.values() if d.status in ("applied", "approved")]
        return in_force[-1].percent if in_force else None

    def assign(self, ctx: CommandContext, owner: str) -> None:
        self._refuse_if_closed()
        if owner == self.owner:
            raise RuleViolation("no_change", f"the lead is already assigned to {owner}")
        self._record(LeadAssigned, ctx, from_owner=self.owner, to_owner=owner)

    def change_amount(self, ctx: CommandContext, amount: str, currency: str) -> None:
        self._refuse_if_closed()
        if amount == self.amount and currency == self.currency:
            raise RuleViolation("no_change", "the lead already has this amount")
        self._record(
            LeadAmountChanged, ctx, amount=amount, currency=currency,
            previous_amount=self.amount, previous_currency=self.currency,
        )

    def request_discount(
        self, ctx: CommandContext, discount_id: UUID, percent: str, reason: str | None,
        rules: TenantRules,
    ) -> None:
        self._refuse_if_closed()
        if any(d.status == "pending" for d in self.discounts.values()):
            raise RuleViolation(
                "discount_pending", "another discount on this lead is still waiting for approval"
            )
        threshold = rules.discount_approval_threshold_percent
        self._record(
            DiscountRequested, ctx, discount_id=discount_id, percent=percent, reason=reason,
            requires_approval=Decimal(percent) > threshold, threshold_percent=str(threshold),
        )

    def _pending_discount(self, discount_id: UUID) -> Discount:
        discount = self.discounts.get(discount_id)
        if discount is None:
            raise NotFound("discount", discount_id)
        if discount.status != "pending":
            raise RuleViolation(
                "discount_not_pending", f"the discount is {discount.status}, not pending",
                discount_id=str(discount_id), status=discount.status,
            )
        return discount

    def approve_discount(self, ctx: CommandContext, discount_id: UUID, note: str | None,
                         rules: TenantRules) -> None:
        self._refuse_if_closed()
        discount = self._pending_discount(discount_id)
        self._refuse_if_not_designated(discount, ctx, rules)
        if discount.requested_by == ctx.actor:
            raise RuleViolation(
                "approver_is_requester", "a discount cannot be approved by the person who asked"
            )
        self._record(DiscountApproved, ctx, discount_id=discount_id, approver=ctx.actor, note=note)

    def reject_discount(self, ctx: CommandContext, discount_id: UUID, reason: str | None,
                        rules: TenantRules) -> None:
        self._refuse_if_closed()
        self._refuse_if_not_designated(self._pending_discount(discount_id), ctx, rules)
        self._record(
            DiscountRejected, ctx, discount_id=discount_id, approver=ctx.actor, reason=reason
        )

    @staticmethod
    def _refuse_if_not_designated(discount: Discount, ctx: CommandContext,
                                  rules: TenantRules) -> None:
        """Only the approver the rules name (or, before one is named, the tier's approver the
        rules name now) decides; an admin may stand in."""
        approver = discount.approver or rules.approver_for(discount.percent)
        if approver is not None and ctx.actor != approver and not ctx.acting_as_admin:
            raise RuleViolation(
                "approver_not_designated", f"this discount waits for {approver}'s decision",
                approver=approver,
            )

    def request_approval(self, ctx: CommandContext, discount_id: UUID, approver: str) -> None:
        """Send a pending discount to the approver the rules name."""
        self._refuse_if_closed()
        discount = self._pending_discount(discount_id)
        if discount.approver is not None:
            raise RuleViolation("approval_already_requested",
                                f"the discount already waits for {discount.approver}",
                                approver=discount.approver)
        if approver == discount.requested_by:
            raise RuleViolation("approver_is_requester",
                                "a discount cannot be sent for approval to the person who asked")
        self._record(DiscountApprovalRequested, ctx, discount_id=discount_id, approver=approver,
                     percent=str(discount.percent))

    def record_follow_up_overdue(
        self, ctx: CommandContext, *, manager: str | None, days_without_contact: int,
        repeat: bool,
    ) -> None:
        """Nobody touched this open lead within its stage's follow-up window."""
        self._refuse_if_closed()
        self._record(FollowUpOverdue, ctx, owner=self.owner, manager=manager, stage=self.stage,
                     days_without_contact=days_without_contact,
                     window="repeat" if repeat else "first")

    def receive_payment(
        self, ctx: CommandContext, payment_id: UUID, amount: str, currency: str,
        reference: str | None,
    ) -> None:
        """Payments are the one fact a won lead still accepts; a lost lead takes none."""
        if self.stage == LOST:
            raise RuleViolation("lead_closed", "the lead is lost and accepts no payments",
                                stage=self.stage)
        if self.currency is not None and currency != self.currency:
            raise RuleViolation(
                "currency_mismatch", f"the lead is in {self.currency}, not {currency}",
                lead_currency=self.currency, currency=currency,
            )
        if reference is not None and reference in self.payments.values():
            raise RuleViolation("duplicate_payment_reference",
                                f"a payment with reference {reference!r} is already recorded")
        self._record(
            PaymentReceived, ctx, payment_id=payment_id, amount=amount, currency=currency,
            reference=reference,
        )

    # -- state --------------------------------------------------------------------------------

    def _when_LeadCreated(self, event: LeadCreated) -> None:
        self._when_created(event)
        self.title = event.title
        self.stage = event.stage
        self.amount, self.currency = event.amount, event.currency
        self.owner = event.owner
        self.budget_confirmed = False
        self.discounts = {}
        self.payments = {}

    def _when_LeadAssigned(self, event: LeadAssigned) -> None:
        self.owner = event.to_owner

    def _when_LeadStageChanged(self, event: LeadStageChanged) -> None:
        self.stage = event.to_stage
        if event.budget_confirmed:
            self.budget_confirmed = True

    def _when_LeadAmountChanged(self, event: LeadAmountChanged) -> None:
        self.amount, self.currency = event.amount, event.currency

    def _when_DiscountRequested(self, event: DiscountRequested) -> None:
        self.discounts[event.discount_id] = Discount(
            event.discount_id, Decimal(event.percent), event.actor, event.requires_approval,
            "pending" if event.requires_approval else "applied",
        )

    def _when_DiscountApprovalRequested(self, event: DiscountApprovalRequested) -> None:
        self.discounts[event.discount_id].approver = event.approver

    def _when_FollowUpOverdue(self, event: FollowUpOverdue) -> None:
        pass

    def _when_DiscountApproved(self, event: DiscountApproved) -> None:
        self.discounts[event.discount_id].status = "approved"

    def _when_DiscountRejected(self, event: DiscountRejected) -> None:
        self.discounts[event.discount_id].status = "rejected"

    def _when_LeadWon(self, event: LeadWon) -> None:
        pass  # the stage change that comes with it already closed the lead

    def _when_LeadLost(self, event: LeadLost) -> None:
        pass

    def _when_PaymentReceived(self, event: PaymentReceived) -> None:
        self.payments[event.payment_id] = event.reference or ""
