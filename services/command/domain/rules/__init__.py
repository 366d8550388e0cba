"""Per-tenant rules: the model, and reading it from a TOML file with line-precise errors."""

from services.command.domain.rules.loading import RuleProblem, RulesFileError, parse_rules
from services.command.domain.rules.model import (
           DEFAULT_RULES,
           RuleSet,
           changed_rules,
           format_duration,
)

__all__ = ["DEFAULT_RULES", "RuleProblem", "RuleSet", "RulesFileError", "changed_rules",
           "format_duration", "parse_rules"]
