"""The lifecycle stages as a pure function of a customer's facts (DESIGN.md §5).

prospect → engaged → customer → loyal → dormant → back to customer (or loyal).

The projection (projection.py), rebuilds and point-in-time views all call `transitions()`, so
they cannot disagree. Every time is an ISO 8601 UTC string as `iso()` writes it, so text order
is time order.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from services.common.settings import Settings
from services.common.times import iso, iso_text

Stage = Literal["prospect", "engaged", "customer", "loyal", "dormant"]
STAGES: tuple[Stage, ...] = get_args(Stage)
_ACTIVE = ("customer", "loyal")
"""Stages that can go dormant: only someone who bought can lapse."""

Transition = tuple[str, str]
"""(stage, at) with `at` an ISO 8601 UTC string as `iso()` writes it."""


@dataclass(frozen=True)
class LifecycleConfig:
    """Thresholds of the lifecycle stages (settings `CRM_LIFECYCLE_*`)."""

    dormant_days: int = 90
    loyal_count: int = 3
    loyal_window_days: int = 365
    engaging_stages: frozenset[str] = field(
        default=frozenset({"qualified", "proposal", "negotiation", "won"}))
    """Lead stages that show a prospect is engaged (a qualified-or-later lead)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> LifecycleConfig:
        return cls(dormant_days=settings.lifecycle_dormant_days,
                   loyal_count=settings.lifecycle_loyal_count,
                   loyal_window_days=settings.lifecycle_loyal_window_days)


def empty_facts() -> dict[str, Any]:
    """The facts the stages depend on, all business times as ISO strings.

    `buys` (purchases and won leads) is a sorted multiset, because the loyalty rule counts them;
    `touches` (interactions other than internal notes) is a sorted set, because only the dates
    matter for dormancy. `engaged_at` is the earliest engagement: later ones change nothing.
    """
    return {"registered_at": None, "engaged_at": None, "buys": [], "touches": [],
            "latest_at": None}


_ENGAGE, _TOUCH, _BUY = 0, 1, 2  # tie order at one instant: engage, then touch, then buy


def transitions(facts: dict[str, Any], config: LifecycleConfig) -> list[Transition]:
    """Every stage change of one customer implied by its facts, in business-time order.

    A pure function: the projection, the rebuild and point-in-time views all call it, so they
    cannot disagree. Buys are purchases and won leads; activity is buys and touches.
    """
    points: list[tuple[str, int]] = [(at, _BUY) for at in facts["buys"]]
    points += [(at, _TOUCH) for at in facts["touches"]]
    if facts["engaged_at"] is not None:
        points.append((facts["engaged_at"], _ENGAGE))
    points.sort()
    starts = [facts["registered_at"]] if facts["registered_at"] is not None else []
    if points:
        starts.append(points[0][0])
    if not starts:
        return []
    dormant_after = timedelta(days=config.dormant_days)
    window = timedelta(days=config.loyal_window_days)
    out: list[Transition] = [("prospect", min(starts))]
    stage = "prospect"
    last_active: datetime | None = None
    buys: list[datetime] = []

    def buying_stage(at: datetime) -> str:
        in_window = len(buys) - bisect_left(buys, at - window)
        return "loyal" if in_window >= config.loyal_count else "customer"

    for at_text, kind in points:
        at = datetime.fromisoformat(at_text)
        if stage in _ACTIVE and last_active is not None and at > last_active + dormant_after:
            stage = "dormant"
            out.append((stage, iso(last_active + dormant_after)))
        new_stage = stage
        if kind == _ENGAGE:
            if stage == "prospect":
                new_stage = "engaged"
        elif kind == _TOUCH:
            last_active = at
            if stage == "dormant":
                new_stage = buying_stage(at)
        else:
            buys.append(at)  # points are sorted, so `buys` stays sorted
            last_active = at
            evaluated = buying_stage(at)
            # A purchase never demotes an active loyal customer.
            new_stage = "loyal" if stage == "loyal" else evaluated
        if new_stage != stage:
            stage = new_stage
            out.append((stage, at_text))
    if stage in _ACTIVE and last_active is not None:
        out.append(("dormant", iso(last_active + dormant_after)))
    return out


def stage_as_of(transitions: Sequence[Sequence[str]], at: datetime | str) -> str | None:
    """The stage in force at `at`: that of the last transition at or before it.

    None before the customer's first known fact.
    """
    moment = iso_text(at)
    stage: str | None = None
    for transition_stage, transition_at in transitions:
        if transition_at > moment:
            break
        stage = transition_stage
    return stage
