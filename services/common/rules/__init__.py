"""Per-tenant rules: the model, and reading it from a TOML file with line-precise errors."""

from services.common.rules.loading import RuleProblem, RulesFileError, parse_rules
from services.common.rules.model import DEFAULT_RULES, RuleSet, changed_rules, format_duration

__all__ = ["DEFAULT_RULES", "RuleProblem", "RuleSet", "RulesFileError", "changed_rules",
           "format_duration", "parse_rules"]
