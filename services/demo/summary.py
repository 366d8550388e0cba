"""What a generated history holds, counted as it is written."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class BulkSummary:
    customers: int = 0
    events: int = 0
    leads: int = 0
    won: int = 0
    lost: int = 0
    interactions: int = 0
    tickets: int = 0
    purchases: int = 0
    saves: int = 0
    seconds: float = 0.0
    last_position: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    """Rules that refused a step of a random walk (the walk then took another way)."""

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def events_per_customer(self) -> float:
        return self.events / self.customers if self.customers else 0.0


def describe(summary: BulkSummary) -> dict[str, Any]:
    """The summary as JSON-ready figures."""
    return {
        "customers": summary.customers, "events": summary.events,
        "events_per_customer": round(summary.events_per_customer, 2),
        "leads": summary.leads, "won": summary.won, "lost": summary.lost,
        "interactions": summary.interactions, "tickets": summary.tickets,
        "purchases": summary.purchases, "saves": summary.saves,
        "seconds": round(summary.seconds, 2),
        "events_per_s": round(summary.events_per_second, 1),
        "last_position": summary.last_position,
        "refusals": dict(summary.refusals.most_common()),
    }
