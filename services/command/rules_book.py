"""Each tenant's rules in force, read from the event store (where every change is recorded).

Every process that decides by the rules (the command API, the policies) asks this book. A
change recorded by any process takes effect here within `refresh_s`, without a restart.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from eventsourcing.application import AggregateNotFoundError

from services.command.domain.configuration import TenantConfiguration, configuration_id
from services.command.domain.pipeline import TenantRules
from services.command.domain.rules import RuleSet
from services.command.domain.rules.model import DiscountRules, LifecycleRules
from services.common.event_store import ChronicleStore
from services.common.settings import Settings


def default_rules(settings: Settings) -> RuleSet:
    """The rules of a tenant without a rules file: built-in, with the settings' thresholds."""
    return RuleSet(
        discount=DiscountRules(
            approval_threshold_percent=settings.discount_approval_threshold_percent),
        lifecycle=LifecycleRules(
            dormant_after=timedelta(days=settings.lifecycle_dormant_days),
            loyal_count=settings.lifecycle_loyal_count,
            loyal_window=timedelta(days=settings.lifecycle_loyal_window_days)),
    )


@dataclass
class _Entry:
    version: int
    rules: RuleSet
    tenant_rules: TenantRules
    checked_at: float


class RulesBook:
    def __init__(self, store: ChronicleStore, settings: Settings, refresh_s: float = 1.0) -> None:
        self._store = store
        self._default = default_rules(settings)
        self._default_tenant_rules = TenantRules.from_rule_set(self._default)
        self._refresh_s = refresh_s
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def configuration(self, tenant_id: str) -> TenantConfiguration:
        """The tenant's configuration aggregate (version 0: no rules file recorded yet)."""
        try:
            config: TenantConfiguration = self._store.repository.get(
                configuration_id(tenant_id), projector_func=TenantConfiguration.project)
        except AggregateNotFoundError:
            config = TenantConfiguration.first(tenant_id)
            config.rules = self._default
        return config

    def _entry(self, tenant_id: str) -> _Entry:
        now = time.monotonic()
        entry = self._entries.get(tenant_id)
        if entry is not None and now - entry.checked_at < self._refresh_s:
            return entry
        latest = list(self._store.events.get(configuration_id(tenant_id), desc=True, limit=1))
        version = latest[0].originator_version if latest else 0
        if entry is None or entry.version != version:
            if version == 0:
                entry = _Entry(0, self._default, self._default_tenant_rules, now)
            else:
                config = self.configuration(tenant_id)
                entry = _Entry(config.version, config.rules,
                               TenantRules.from_rule_set(config.rules), now)
        else:
            entry.checked_at = now
        with self._lock:
            self._entries[tenant_id] = entry
        return entry

    def rule_set(self, tenant_id: str) -> RuleSet:
        return self._entry(tenant_id).rules

    def tenant_rules(self, tenant_id: str) -> TenantRules:
        return self._entry(tenant_id).tenant_rules

    def forget(self, tenant_id: str) -> None:
        """Read the tenant's rules again on next use (after this process changed them)."""
        with self._lock:
            self._entries.pop(tenant_id, None)
