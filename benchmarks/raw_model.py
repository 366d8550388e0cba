"""The tiny aggregate and plain application used to measure the library's raw append rate.

It lives in an importable module because the library stores `module:Qualname` topics.
"""

from __future__ import annotations

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Counter(Aggregate):
    """One small event per `bump`."""

    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    @event("Bumped")
    def bump(self, count: int) -> None:
        self.count = count


class RawAppendApp(Application):  # type: ignore[type-arg]
    """A plain library application; its name keeps its PostgreSQL tables apart from ours."""

    name = "benchraw"
