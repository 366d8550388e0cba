"""A tenant's rules: pipeline, assignment, follow-up windows, SLAs, discounts and lifecycle.

Written by people in a TOML file (see `loading.py` and docs/rules.md), validated into these
models, and recorded as an event when they change. Every field has a default, so an empty file
(or no file) gives the built-in rules.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from services.common.events.ticket import Priority

Gate = Literal["budget_confirmed", "amount"]

_DURATION = re.compile(r"^(?:(\d{1,5})d)?(?:(\d{1,5})h)?(?:(\d{1,5})m)?(?:(\d{1,5})s)?$")


def _duration(value: object) -> timedelta:
    """"7d", "4h", "1h30m", "45s" — never a bare number (seconds or days would be a guess)."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError('a duration is a string such as "7d", "4h", "1h30m" or "45s"')
    match = _DURATION.match(value.strip())
    if not value.strip() or match is None or not any(match.groups()):
        raise ValueError(f'{value!r} is not a duration such as "7d", "4h", "1h30m" or "45s"')
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if duration <= timedelta(0):
        raise ValueError("a duration must be above zero")
    if duration > timedelta(days=3650):
        raise ValueError("a duration must be at most 3650 days")
    return duration


Duration = Annotated[timedelta, BeforeValidator(_duration)]


def format_duration(duration: timedelta) -> str:
    """The rules file's spelling of a duration: "7d", "4h30m", "1d12h", "45s"."""
    seconds = int(duration.total_seconds())
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"),
                                           (seconds, "s")) if n]
    return "".join(parts) or "0s"
Person = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]*$")]
RuleId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
Stage = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ValueError('write amounts and percentages as strings such as "25" or "100000.00"')
    try:
        number = Decimal(str(value).strip())
    except Exception:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not number.is_finite() or number < 0:
        raise ValueError("must be a number of at least 0")
    return number


Money = Annotated[Decimal, BeforeValidator(_decimal)]
Percent = Annotated[Decimal, BeforeValidator(_decimal), Field(le=100)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


DEFAULT_GATES: dict[str, tuple[Gate, ...]] = {"qualified": ("budget_confirmed",),
                                              "proposal": ("amount",)}


class PipelineRules(_Section):
    stages: tuple[Stage, ...] = ("new", "contacted", "qualified", "proposal", "negotiation")
    """Open stages in order; `won` and `lost` always follow."""
    skips: tuple[tuple[Stage, Stage], ...] = ()
    """Forward jumps allowed besides the next stage, e.g. [["new", "qualified"]]."""
    gates: dict[Stage, tuple[Gate, ...]] = Field(default_factory=lambda: dict(DEFAULT_GATES))
    """What a lead needs before it may enter a stage."""


class Team(_Section):
    id: RuleId
    members: tuple[Person, ...] = Field(min_length=1)
    max_open_leads: int | None = Field(default=None, ge=1, le=100_000)
    """Per-rep cap of open leads; a rep at the cap is skipped by round-robin."""


class AssignmentRule(_Section):
    """Leads matching every given condition go to `to` (a person) or round-robin in `team`."""

    id: RuleId
    regions: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    stages: tuple[Stage, ...] = ()
    min_amount: Money | None = None
    max_amount: Money | None = None
    to: Person | None = None
    team: RuleId | None = None
    reassign: bool = False
    """Also hand over an assigned lead when it comes to match (e.g. on reaching `proposal`)."""


class AssignmentRules(_Section):
    teams: tuple[Team, ...] = ()
    rules: tuple[AssignmentRule, ...] = ()
    default_team: RuleId | None = None
    """Round-robin team for unassigned leads no rule matches; none: they stay unassigned."""


class FollowUpRules(_Section):
    enabled: bool = True
    default: Duration = timedelta(days=7)
    """An open lead untouched this long is overdue (and again each window it stays so)."""
    stages: dict[Stage, Duration] = Field(default_factory=dict)


def _default_first_response() -> dict[Priority, timedelta]:
    return {"urgent": timedelta(hours=1), "high": timedelta(hours=4),
            "normal": timedelta(hours=24), "low": timedelta(hours=72)}


def _default_resolution() -> dict[Priority, timedelta]:
    return {"urgent": timedelta(hours=8), "high": timedelta(days=2),
            "normal": timedelta(days=5), "low": timedelta(days=10)}


class Escalation(_Section):
    raise_priority: bool = True
    """Raise the ticket one priority step on a breach."""
    reassign_to: Person | None = None
    """Hand the ticket to this person on a breach."""
    notify: tuple[Person, ...] = ()
    """People who get the breach alert besides the assignee."""


class SlaRules(_Section):
    enabled: bool = True
    first_response: dict[Priority, Duration] = Field(default_factory=_default_first_response)
    resolution: dict[Priority, Duration] = Field(default_factory=_default_resolution)
    escalation: Escalation = Field(default_factory=Escalation)

    @field_validator("first_response", "resolution", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any, info: ValidationInfo) -> Any:
        """A file names only the priorities it changes; the others keep their defaults."""
        if not isinstance(value, dict):
            return value
        defaults = (_default_first_response() if info.field_name == "first_response"
                    else _default_resolution())
        return {**defaults, **value}


class ApproverTier(_Section):
    above_percent: Percent
    approver: Person


class DiscountRules(_Section):
    approval_threshold_percent: Percent = Decimal("10")
    """Discounts above this need an approval before the lead is won."""
    approvers: tuple[ApproverTier, ...] = ()
    """Who approves: the tier with the highest `above_percent` below the discount."""


class LifecycleRules(_Section):
    dormant_after: Duration = timedelta(days=90)
    loyal_count: int = Field(default=3, ge=2, le=1000)
    loyal_window: Duration = timedelta(days=365)
    dormancy_events: bool = True
    """Record `CustomerBecameDormant` when a customer goes quiet."""


class OrgRules(_Section):
    managers: dict[Person, Person] = Field(default_factory=dict)
    """Each person's manager: named on overdue follow-ups and escalations."""


class RuleSet(_Section):
    """Everything one tenant configures."""

    pipeline: PipelineRules = Field(default_factory=PipelineRules)
    org: OrgRules = Field(default_factory=OrgRules)
    assignment: AssignmentRules = Field(default_factory=AssignmentRules)
    follow_up: FollowUpRules = Field(default_factory=FollowUpRules)
    sla: SlaRules = Field(default_factory=SlaRules)
    discount: DiscountRules = Field(default_factory=DiscountRules)
    lifecycle: LifecycleRules = Field(default_factory=LifecycleRules)

    # -- questions the policies ask -----------------------------------------------------------

    def follow_up_window(self, stage: str) -> timedelta:
        return self.follow_up.stages.get(stage, self.follow_up.default)

    def sla_target(self, sla: Literal["first_response", "resolution"], priority: str) -> timedelta | None:
        targets = self.sla.first_response if sla == "first_response" else self.sla.resolution
        return targets.get(priority)  # type: ignore[call-overload, no-any-return]

    def approver_for(self, percent: Decimal) -> ApproverTier | None:
        tiers = [t for t in self.discount.approvers if percent > t.above_percent]
        return max(tiers, key=lambda t: t.above_percent) if tiers else None

    def team(self, team_id: str) -> Team | None:
        return next((t for t in self.assignment.teams if t.id == team_id), None)

    def manager_of(self, person: str | None) -> str | None:
        return self.org.managers.get(person) if person else None

    def rule_ids(self) -> dict[str, Any]:
        """Every named part of the rules, for telling which ones a change touched."""
        parts: dict[str, Any] = {
            "pipeline": self.pipeline.model_dump(mode="json"),
            "org": self.org.model_dump(mode="json"),
            "follow_up": self.follow_up.model_dump(mode="json"),
            "sla": self.sla.model_dump(mode="json"),
            "discount": self.discount.model_dump(mode="json"),
            "lifecycle": self.lifecycle.model_dump(mode="json"),
            "assignment.default_team": self.assignment.default_team,
        }
        for team in self.assignment.teams:
            parts[f"assignment.teams.{team.id}"] = team.model_dump(mode="json")
        for rule in self.assignment.rules:
            parts[f"assignment.rules.{rule.id}"] = rule.model_dump(mode="json")
        return parts


def changed_rules(before: RuleSet, after: RuleSet) -> list[str]:
    """The named parts that differ between two rule sets, sorted."""
    old, new = before.rule_ids(), after.rule_ids()
    return sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))


DEFAULT_RULES = RuleSet()
