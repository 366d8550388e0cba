"""Reading the policy state (services/projections/policy_state.py) in either SQL dialect."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from services.projections.stores.base import iso
from services.projections.stores.sql import SqlReadStore


class PolicyState:
    def __init__(self, store: SqlReadStore) -> None:
        self.store = store

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.store.query(sql, [_param(p) for p in params])

    def tenants(self) -> list[str]:
        # One index seek per tenant (a loose index scan) instead of reading every customer.
        found = self.rows(
            "WITH RECURSIVE t(tenant_id) AS ("
            " SELECT MIN(tenant_id) FROM policy_customers"
            " UNION ALL"
            " SELECT (SELECT MIN(c.tenant_id) FROM policy_customers c"
            "         WHERE c.tenant_id > t.tenant_id)"
            " FROM t WHERE t.tenant_id IS NOT NULL)"
            " SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL")
        return sorted(row["tenant_id"] for row in found)


def _param(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return value


def ts(value: Any) -> datetime | None:
    """A timestamp column as an aware datetime (PostgreSQL gives datetimes, SQLite text)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(value).astimezone(UTC)


def uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def whole_days(delta: timedelta) -> int:
    return max(0, delta.days)
