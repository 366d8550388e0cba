"""Lead assignment: the first matching rule names a person or a team; a team assigns
round-robin among members under their cap of open leads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.command.domain.rules import RuleSet
from services.command.domain.rules.model import AssignmentRule, Team
from services.command.policies.actions import Action
from services.command.policies.state import uuid
from services.projections.policy_state.reads import PolicyStateReads

DEFAULT_TEAM_RULE = "default-team"


def matches(rule: AssignmentRule, lead: dict[str, Any]) -> bool:
    def one_of(values: tuple[str, ...], value: str | None) -> bool:
        return not values or (value is not None and value.lower() in {v.lower() for v in values})

    amount = Decimal(lead["amount"]) if lead.get("amount") else None
    if rule.min_amount is not None and (amount is None or amount < rule.min_amount):
        return False
    if rule.max_amount is not None and (amount is None or amount > rule.max_amount):
        return False
    return (one_of(rule.regions, lead.get("region")) and one_of(rule.industries, lead.get("industry"))
            and one_of(rule.sources, lead.get("source")) and one_of(rule.stages, lead.get("stage")))


class _Book:
    """Open leads per rep and when each last got one by rule, kept current within a round.
    Read from the state (two aggregate queries) only when a lead is first to be placed."""

    def __init__(self, state: PolicyStateReads, tenant: str) -> None:
        self._state = state
        self._tenant = tenant
        self._open_leads: dict[str, int] | None = None
        self._last_assigned: dict[str, int] = {}
        self._tick = 0

    def _loaded(self) -> dict[str, int]:
        if self._open_leads is None:
            self._open_leads = self._state.open_leads_per_owner(self._tenant)
            self._last_assigned = self._state.last_rule_assignment_per_owner(self._tenant)
        return self._open_leads

    def pick(self, team: Team) -> str | None:
        open_leads = self._loaded()
        order = {member: i for i, member in enumerate(team.members)}
        free = [m for m in team.members
                if team.max_open_leads is None or open_leads.get(m, 0) < team.max_open_leads]
        if not free:
            return None
        return min(free, key=lambda m: (self._last_assigned.get(m, -1), order[m]))

    def hand_over(self, old: str | None, new: str) -> None:
        open_leads = self._loaded()
        open_leads[new] = open_leads.get(new, 0) + 1
        if old is not None:
            open_leads[old] = max(0, open_leads.get(old, 0) - 1)
        self._tick += 1
        self._last_assigned[new] = 10**15 + self._tick  # after every stored assignment


def decide(state: PolicyStateReads, tenant: str, rules: RuleSet, now: datetime,
           limit: int) -> list[Action]:
    assignment = rules.assignment
    if not assignment.rules and assignment.default_team is None:
        return []
    actions: list[Action] = []
    book = _Book(state, tenant)
    # Leads that cannot be placed now (their team is full, no reassign rule matches them)
    # must not hide later ones: read on, a page of `limit` at a time, while there is room.
    unassigned = _pages(lambda after: state.unassigned_leads(tenant, limit=limit,
                                                             after_position=after),
                        limit, lambda: len(actions) < limit and _room_left(rules, book))
    for lead in unassigned:
        rule = next((r for r in assignment.rules if matches(r, lead)), None)
        if rule is not None:
            rule_id, team = rule.id, rules.team(rule.team) if rule.team else None
            target = rule.to if team is None else book.pick(team)
        elif assignment.default_team is not None:
            team = rules.team(assignment.default_team)
            assert team is not None
            rule_id, target = DEFAULT_TEAM_RULE, book.pick(team)
        else:
            continue
        if target is None:
            continue  # every member is at the cap: the lead waits for room
        book.hand_over(None, target)
        actions.append(_assign(lead, tenant, rule_id, target, f"policy:assign:{lead['id']}",
                               uuid(lead["created_event_id"])))

    reassigning = [r for r in assignment.rules if r.reassign]
    reassign_stages = sorted({s for r in reassigning for s in r.stages})
    if not reassign_stages:
        return actions
    # Leads already with one of the reassigning rules' people need no second look.
    targets = sorted({p for r in reassigning for p in _people(rules, r)})
    candidates = _pages(lambda after: state.hand_over_candidates(
        tenant, reassign_stages, targets, limit=limit, after_position=after),
        limit, lambda: len(actions) < limit)
    for lead in candidates:
        rule = next((r for r in reassigning if matches(r, lead)), None)
        if rule is None:
            continue
        team = rules.team(rule.team) if rule.team else None
        if lead["owner"] == rule.to or (team is not None and lead["owner"] in team.members):
            continue  # already with the right people
        target = rule.to if team is None else book.pick(team)
        if target is None:
            continue
        book.hand_over(lead["owner"], target)
        actions.append(_assign(lead, tenant, rule.id, target,
                               f"policy:reassign:{lead['id']}:{lead['stage_event_id']}",
                               uuid(lead["stage_event_id"])))
    return actions


def _pages(page_after: Callable[[int | None], list[dict[str, Any]]], limit: int,
           more: Callable[[], bool]) -> Iterator[dict[str, Any]]:
    """The rows of successive pages in creation order, reading the next page only while
    `more()` says it may still be needed."""
    after: int | None = None
    while True:
        page = page_after(after)
        yield from page
        if len(page) < limit or not more():
            return
        after = page[-1]["created_position"]


def _room_left(rules: RuleSet, book: _Book) -> bool:
    """Whether any rule could still place a lead: a person (no cap) or a team with room."""
    assignment = rules.assignment
    if any(r.to is not None for r in assignment.rules):
        return True
    team_ids = {r.team for r in assignment.rules if r.team} | (
        {assignment.default_team} if assignment.default_team else set())
    return any(team is not None and book.pick(team) is not None
               for team in (rules.team(t) for t in sorted(team_ids)))


def _people(rules: RuleSet, rule: AssignmentRule) -> tuple[str, ...]:
    if rule.to is not None:
        return (rule.to,)
    team = rules.team(rule.team) if rule.team else None
    return team.members if team is not None else ()


def _assign(lead: dict[str, Any], tenant: str, rule_id: str, owner: str, key: str,
            cause: Any) -> Action:
    lead_id = uuid(lead["id"])
    return Action(
        policy="assignment", key=key, tenant_id=tenant, rule_id=rule_id, cause_event_id=cause,
        correlation_id=uuid(lead["correlation_id"]),
        issue=lambda service, ctx, idem: service.assign_lead(ctx, lead_id, owner, idem),
        describe={"lead_id": str(lead_id), "owner": owner, "from_owner": lead["owner"]},
    )
