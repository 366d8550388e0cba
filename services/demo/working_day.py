"""The demo's present: a rep's, a manager's and an agent's work still open at `now`.

The historical stories (history.py) mostly end before `now`: leads are won or lost, tickets
closed. This layer adds what a working day starts from — open leads in every stage (some
untouched for longer than their follow-up window), pending discounts waiting for the approver
of their tier, open tickets (some past their SLA targets) — and the rules that make the
policies act on them once `crm serve` runs: approver tiers, managers, follow-up windows.
The alerts inbox then fills from the policies, as it would in a real CRM.
"""

from __future__ import annotations

from services.command.domain.pipeline import TenantRules
from services.command.domain.rules import parse_rules
from services.demo.names import MANAGERS, REPS

DEMO_RULES_TOML = f"""\
# The demo tenant's rules (docs/rules.md): approver tiers and managers filled in, so pending
# discounts reach an approver and overdue follow-ups name a manager.

[org.managers]
{chr(10).join(f'"{rep}" = "{MANAGERS[n % len(MANAGERS)]}"' for n, rep in enumerate(REPS))}

[follow_up]
default = "7d"

[follow_up.stages]
proposal = "5d"
negotiation = "3d"

[discount]
approval_threshold_percent = "10"

[[discount.approvers]]
above_percent = "10"
approver = "{MANAGERS[0]}"

[[discount.approvers]]
above_percent = "20"
approver = "{MANAGERS[1]}"
"""

DEMO_RULES = parse_rules(DEMO_RULES_TOML, "demo rules")
DEMO_TENANT_RULES = TenantRules.from_rule_set(DEMO_RULES)
