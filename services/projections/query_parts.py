"""Pieces the models' read queries share: AND-ed conditions with their parameters, and how
quantile lists and group keys come back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any


class Where:
    """AND-ed SQL conditions with their `?` parameters, in order."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: list[Any] = []

    def add(self, condition: str, *params: Any) -> None:
        self.conditions.append(condition)
        self.params.extend(params)

    def equal(self, column: str, value: Any) -> None:
        """`column = value`, unless value is None (no condition)."""
        if value is not None:
            self.add(f"{column} = ?", value)

    def one_of(self, column: str, values: Sequence[Any] | None) -> None:
        """`column IN (values)`, unless values is None (no condition)."""
        if values is not None:
            self.add(f"{column} IN ({', '.join('?' for _ in values)})" if values else "1 = 0",
                     *values)

    def range(self, column: str, start: datetime | None, end: datetime | None) -> None:
        """`start <= column < end`, each bound only when given."""
        if start is not None:
            self.add(f"{column} >= ?", start)
        if end is not None:
            self.add(f"{column} < ?", end)

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.conditions) if self.conditions else ""


def quantiles(values: Sequence[float] | None, names: Sequence[str]) -> dict[str, float | None]:
    """A quantile list (`quantile_cont(x, [...])`) as {name: value}; None values for none."""
    if values is None:
        return dict.fromkeys(names)
    return {name: None if v is None else float(v) for name, v in zip(names, values, strict=True)}


def sorted_keys(keys: set[Any]) -> list[Any]:
    """Group keys in text order, None last."""
    return sorted(keys, key=lambda k: (k is None, "" if k is None else str(k)))
