"""The sales pipeline: stages, allowed moves, and the tenant's approval threshold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from services.command.domain.errors import RuleViolation
from services.command.domain.rules import RuleSet

WON = "won"
LOST = "lost"


@dataclass(frozen=True)
class Pipeline:
    """Open stages in order, then `won` and `lost`.

    Moving forward goes one stage at a time unless `skips` allows a jump; moving back to any
    earlier open stage is allowed (and recorded); `lost` is reachable from any open stage and
    `won` only from the last open stage (or where `skips` says).
    """

    open_stages: tuple[str, ...] = ("new", "contacted", "qualified", "proposal", "negotiation")
    skips: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    gates: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"qualified": ("budget_confirmed",), "proposal": ("amount",)})
    """What a lead needs before it enters a stage: `budget_confirmed`, `amount`."""

    @property
    def stages(self) -> tuple[str, ...]:
        return (*self.open_stages, WON, LOST)

    def is_closed(self, stage: str) -> bool:
        return stage in (WON, LOST)

    def allowed_moves(self, from_stage: str) -> list[str]:
        if self.is_closed(from_stage):
            return []
        if from_stage not in self.open_stages:
            # The tenant's rules dropped this stage while the lead was in it: the lead may go
            # to any stage of the pipeline now in force, or be lost.
            return [*self.open_stages, LOST]
        index = self.open_stages.index(from_stage)
        following = (*self.open_stages, WON)
        moves = list(self.open_stages[:index])  # backwards
        moves.append(following[index + 1])
        moves.extend(to for (frm, to) in sorted(self.skips) if frm == from_stage)
        moves.append(LOST)
        return moves

    def check_move(self, from_stage: str, to_stage: str) -> None:
        if to_stage not in self.stages:
            raise RuleViolation(
                "unknown_stage", f"'{to_stage}' is not a stage of this pipeline",
                stage=to_stage, stages=list(self.stages),
            )
        if to_stage == from_stage:
            raise RuleViolation("same_stage", f"the lead is already in stage '{to_stage}'",
                                stage=to_stage)
        allowed = self.allowed_moves(from_stage)
        if to_stage not in allowed:
            raise RuleViolation(
                "transition_not_allowed",
                f"a lead cannot move from '{from_stage}' to '{to_stage}'",
                from_stage=from_stage, to_stage=to_stage, allowed=allowed,
            )


@dataclass(frozen=True)
class TenantRules:
    """The rules the command side enforces for one tenant."""

    pipeline: Pipeline = field(default_factory=Pipeline)
    discount_approval_threshold_percent: Decimal = Decimal("10")
    discount_approvers: tuple[tuple[Decimal, str], ...] = ()
    """(above percent, approver) tiers: a discount above a tier's percent is decided by the
    approver of the highest such tier."""

    def approver_for(self, percent: Decimal) -> str | None:
        tiers = [tier for tier in self.discount_approvers if percent > tier[0]]
        return max(tiers)[1] if tiers else None


    @classmethod
    def from_rule_set(cls, rules: RuleSet) -> TenantRules:
        return cls(
            pipeline=Pipeline(open_stages=tuple(rules.pipeline.stages),
                              skips=frozenset((frm, to) for frm, to in rules.pipeline.skips),
                              gates=dict(rules.pipeline.gates)),
            discount_approval_threshold_percent=rules.discount.approval_threshold_percent,
            discount_approvers=tuple((tier.above_percent, tier.approver)
                                     for tier in rules.discount.approvers),
        )


DEFAULT_RULES = TenantRules()
