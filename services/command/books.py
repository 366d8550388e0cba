"""Whose book an aggregate is in: the command side's half of row-level scope.

`CommandExecution._load` refuses (404, as for another tenant's record) an aggregate outside the
book of the command's actor (`CommandContext.book`); this says whom each kind belongs to, the
same people the customer-360 read model lists for the read side.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from services.command.domain.aggregate import AggregateRoot
from services.command.domain.alert import Alert
from services.command.domain.customer import Customer
from services.command.domain.lead import Lead
from services.command.domain.note import Note
from services.command.domain.pipeline import LOST, WON
from services.command.domain.task import Task
from services.command.domain.ticket import Ticket
from services.common.auth.book import UNASSIGNED


def belongs_to(aggregate: AggregateRoot) -> set[str | None]:
    """The people in whose book the aggregate is."""
    creator = getattr(aggregate, "creator", None)
    if isinstance(aggregate, Customer):
        return {aggregate.owner, creator}
    if isinstance(aggregate, Lead):
        waiting = aggregate.owner is None and aggregate.stage not in (WON, LOST)
        return {aggregate.owner, creator, UNASSIGNED if waiting else None}
    if isinstance(aggregate, Ticket):
        return {aggregate.assignee, creator}
    if isinstance(aggregate, Alert):
        return set(aggregate.assignees)
    if isinstance(aggregate, Task):
        return {aggregate.assignee, creator}
    if isinstance(aggregate, Note):  # only its author edits or deletes it (or the tenant's admin)
        return {aggregate.author}
    return {creator}


def in_book(aggregate: AggregateRoot, book: frozenset[str] | None,
            lead: Callable[[UUID], Lead | None] = lambda _: None) -> bool:
    """Whether the aggregate is in the book; a customer also through its leads (`lead` loads
    one), as the customer-360 read model decides for the read side."""
    if book is None or any(p in book for p in belongs_to(aggregate) if p is not None):
        return True
    if isinstance(aggregate, Customer):
        return any((found := lead(lead_id)) is not None and in_book(found, book)
                   for lead_id in aggregate.lead_ids)
    return False
