"""Small conversions the policies apply to the rows the policy state gives them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID


def uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def whole_days(delta: timedelta) -> int:
    return max(0, delta.days)
