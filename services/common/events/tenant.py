"""Tenant configuration events: who changed a tenant's rules, when, and which ones."""

from __future__ import annotations

from typing import ClassVar

from services.common.events.envelope import CrmEvent


class TenantRulesChanged(CrmEvent):
    """A new rules file took effect. Kept in the store as the audit of rule changes; not
    published (it is about the tenant, not a customer: `customer_id` is the configuration's id).
    """

    event_type: ClassVar[str] = "crm.internal.tenant_rules_changed"
    internal: ClassVar[bool] = True

    rules_toml: str
    digest: str
    changed: list[str]
    source: str
