"""TenantConfiguration: the tenant's rules file, one version per change, as an audit trail."""

from __future__ import annotations

import hashlib
from uuid import UUID, uuid5

from services.command.domain.aggregate import AggregateRoot, CommandContext
from services.command.domain.errors import RuleViolation
from services.command.domain.rules import (
    DEFAULT_RULES,
    RuleSet,
    RulesFileError,
    changed_rules,
    parse_rules,
)
from services.common.events.tenant import TenantRulesChanged

_CONFIG_NAMESPACE = UUID("0c6f1f8e-3f7b-4a6e-b7a4-2b9f3c1d8e55")


def configuration_id(tenant_id: str) -> UUID:
    return uuid5(_CONFIG_NAMESPACE, f"tenant-rules:{tenant_id}")


def rules_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class TenantConfiguration(AggregateRoot):
    kind = "tenant_configuration"
    created_by = TenantRulesChanged

    rules: RuleSet
    rules_toml: str
    digest: str

    @classmethod
    def first(cls, tenant_id: str) -> TenantConfiguration:
        """The configuration of a tenant that never changed its rules (nothing stored yet)."""
        config = cls(configuration_id(tenant_id))
        config.tenant_id = tenant_id
        config.customer_id = config.id
        config.rules, config.rules_toml, config.digest = DEFAULT_RULES, "", rules_digest("")
        return config

    def change_rules(self, ctx: CommandContext, rules_toml: str, source: str) -> TenantRulesChanged:
        """Validate and adopt a rules file; a refused file raises `RulesFileError`."""
        rules = parse_rules(rules_toml, source)
        digest = rules_digest(rules_toml)
        if digest == self.digest:
            raise RuleViolation("no_change", "these rules are already in force")
        changed = self._record(TenantRulesChanged, ctx, customer_id=self.id, rules_toml=rules_toml,
                               digest=digest, changed=changed_rules(self.rules, rules),
                               source=source)
        assert isinstance(changed, TenantRulesChanged)
        return changed

    def _when_TenantRulesChanged(self, event: TenantRulesChanged) -> None:
        if self.version == 0:
            self._when_created(event)
        self.rules_toml, self.digest = event.rules_toml, event.digest
        try:
            self.rules = parse_rules(event.rules_toml, "stored rules")
        except RulesFileError:
            # Valid when adopted; should a later, stricter validator refuse it, the rules in
            # force before stay, rather than every command of the tenant failing to load them.
            self.rules = getattr(self, "rules", DEFAULT_RULES)
