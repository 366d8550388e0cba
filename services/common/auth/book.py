"""A caller's book: whose records a scoped action reaches.

A record is in a book when one of the people it belongs to is: a customer belongs to its owner,
to who registered it, and to the owners and creators of its leads; a lead to its owner and its
creator; a ticket to its assignee and its creator; an alert to its assignees; a task to its
assignee and who gave it; a note to its author (whoever may see its customer reads it). A lead waiting
for assignment (and its customer) belongs to `UNASSIGNED`, which every sales book holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from services.common.auth.permissions import Scope
from services.common.auth.principal import Principal

UNASSIGNED = "*unassigned*"
"""The book entry of records nobody owns yet (no person is named so: `*` is not a name
character)."""


@dataclass(frozen=True)
class Book:
    """`people` None: every record of the tenant."""

    people: frozenset[str] | None = None

    @property
    def everything(self) -> bool:
        return self.people is None

    def holds(self, belongs_to: Iterable[str | None]) -> bool:
        return self.people is None or any(p in self.people for p in belongs_to if p is not None)

    def limited_to(self) -> list[str] | None:
        """The book's people, sorted (SQL parameters); None for the whole tenant."""
        return None if self.people is None else sorted(self.people)


WHOLE_TENANT = Book()


def book_of(principal: Principal, scope: Scope, teams: Sequence[tuple[str, Sequence[str]]] = (),
            managers: Mapping[str, str] | None = None) -> Book:
    """The book a scope gives: `own` the principal and unassigned records; `team` also every
    member of the teams the principal belongs to (by the rules file, or its token's teams
    claim) and everyone whose manager the rules name it."""
    if scope == "tenant":
        return WHOLE_TENANT
    people = {principal.subject, UNASSIGNED}
    if scope == "team":
        for team_id, members in teams:
            if principal.subject in members or team_id in principal.teams:
                people.update(members)
        people.update(person for person, manager in (managers or {}).items()
                      if manager == principal.subject)
    return Book(frozenset(people))
