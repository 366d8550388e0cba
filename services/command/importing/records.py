"""What each import kind decides for one row: the id of the record it makes (derived from the
source system's reference, so a re-run finds it) and the record itself, made by the domain
aggregates — the same rules as the API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from services.command.domain.aggregate import AggregateRoot, CommandContext
from services.command.domain.customer import Customer
from services.command.domain.errors import RuleViolation
from services.command.domain.interaction import Interaction
from services.command.domain.lead import Lead
from services.command.domain.pipeline import LOST, TenantRules
from services.command.domain.purchase import Purchase, purchase_id_for_reference
from services.command.domain.ticket import Ticket
from services.command.importing.rows import (
    CustomerRow,
    ImportRow,
    InteractionRow,
    LeadRow,
    PurchaseRow,
    TicketRow,
)
from services.common.events.customer import CustomerPersonal, LinkedKind

IMPORT_NAMESPACE = UUID("6f1d3c1e-5b7a-4e0f-9a53-2d8c4e7b1a90")

Contexts = Callable[[datetime], CommandContext]
"""The import run's command context at a given business time."""


def customer_id_for(tenant_id: str, customer_ref: str) -> UUID:
    """The id of the customer with this id in the source system."""
    return uuid5(IMPORT_NAMESPACE, f"{tenant_id}\x1fcustomer\x1f{customer_ref}")


def record_id_for(tenant_id: str, kind: str, reference: str) -> UUID:
    return uuid5(IMPORT_NAMESPACE, f"{tenant_id}\x1f{kind}\x1f{reference}")


@dataclass(frozen=True)
class RecordKind:
    """One kind of import file: its row, how a row names its record, and what it decides."""

    name: str
    row: type[ImportRow]
    linked_as: LinkedKind | None
    """How the record is linked to its customer (None: the row is the customer itself)."""
    time_column: str
    """The column holding the business time of the row's first fact."""
    reference: Callable[[Any], str | None]
    """The row's reference in the source system; None when the row has none."""
    record_id: Callable[[str, UUID, str], UUID]
    """(tenant, customer id, reference or content key) -> the record's id."""
    decide: Callable[[Any, UUID, UUID, Contexts, TenantRules], AggregateRoot]
    """(row, record id, customer id, contexts, rules) -> the new aggregate, or RuleViolation."""

    @property
    def columns(self) -> frozenset[str]:
        return frozenset(self.row.model_fields)

    @property
    def required_columns(self) -> frozenset[str]:
        return frozenset(name for name, info in self.row.model_fields.items()
                         if info.is_required())


def _register(row: CustomerRow, customer_id: UUID, _: UUID, at: Contexts,
              rules: TenantRules) -> AggregateRoot:
    return Customer.register(
        customer_id, at(row.occurred_at),
        personal=CustomerPersonal(name=row.name, email=row.email, phone=row.phone),
        company=row.company, region=row.region, industry=row.industry, source=row.source,
        owner=row.owner, tags=row.tags, external_ref=row.customer_ref,
    )


def register_bare(customer_id: UUID, customer_ref: str, ctx: CommandContext) -> Customer:
    """A customer first seen in a file of its records: known only by its reference."""
    return Customer.register(customer_id, ctx, personal=CustomerPersonal(),
                             external_ref=customer_ref)


def _in_order(steps: list[tuple[str, datetime | None]]) -> None:
    """Refuse a history whose facts are not in business-time order."""
    previous: tuple[str, datetime] | None = None
    for name, moment in steps:
        if moment is None:
            continue
        if previous is not None and moment < previous[1]:
            raise RuleViolation("history_out_of_order",
                                f"{name} ({moment.isoformat()}) is before {previous[0]} "
                                f"({previous[1].isoformat()})")
        previous = (name, moment)


def _lead(row: LeadRow, lead_id: UUID, customer_id: UUID, at: Contexts,
          rules: TenantRules) -> AggregateRoot:
    _in_order([("occurred_at", row.occurred_at),
               *((f"stage_history {step.stage}", step.at) for step in row.stage_history)])
    lead = Lead.create(
        lead_id, at(row.occurred_at), customer_id=customer_id, title=row.title,
        source=row.source, channel=row.channel, region=row.region, industry=row.industry,
        amount=row.amount, currency=row.currency, owner=row.owner, external_ref=row.lead_ref,
        rules=rules,
    )
    for step in row.stage_history:
        # An imported history is taken as it happened: a lead that reached `qualified` had
        # its budget confirmed then. Every other gate applies as in the API.
        lead.change_stage(
            at(step.at), step.stage, rules=rules,
            reason=row.lost_reason if step.stage == LOST else None,
            budget_confirmed=True if step.stage == "qualified" else None,
        )
    return lead


def _interaction(row: InteractionRow, interaction_id: UUID, customer_id: UUID, at: Contexts,
                 rules: TenantRules) -> AggregateRoot:
    return Interaction.log(
        interaction_id, at(row.occurred_at), customer_id=customer_id, channel=row.channel,
        direction=row.direction, subject=row.subject, duration_s=row.duration_s, body=row.body,
        external_ref=row.ref,
    )


def _ticket(row: TicketRow, ticket_id: UUID, customer_id: UUID, at: Contexts,
            rules: TenantRules) -> AggregateRoot:
    _in_order([("opened_at", row.opened_at), ("first_response_at", row.first_response_at),
               ("resolved_at", row.resolved_at), ("closed_at", row.closed_at)])
    ticket = Ticket.open(
        ticket_id, at(row.opened_at), customer_id=customer_id, subject=row.subject,
        priority=row.priority, channel=row.channel, assignee=row.assignee,
        external_ref=row.ticket_ref,
    )
    if row.first_response_at is not None:
        ticket.record_first_response(at(row.first_response_at), row.assignee)
    if row.resolved_at is not None:
        ticket.change_status(at(row.resolved_at), "resolved", None)
    if row.closed_at is not None:
        ticket.change_status(at(row.closed_at), "closed", None)
    return ticket


def _purchase(row: PurchaseRow, purchase_id: UUID, customer_id: UUID, at: Contexts,
              rules: TenantRules) -> AggregateRoot:
    return Purchase.record(
        purchase_id, at(row.occurred_at), customer_id=customer_id, amount=row.amount,
        currency=row.currency, reference=row.reference,
    )


def _purchase_id(tenant_id: str, customer_id: UUID, key: str) -> UUID:
    if key.startswith("#"):  # no reference: a key made of the row's content
        return record_id_for(tenant_id, f"purchase\x1f{customer_id}", key)
    # The id the API gives the same order (CommandService.record_purchase).
    return purchase_id_for_reference(tenant_id, customer_id, key)


KINDS: dict[str, RecordKind] = {
    "customers": RecordKind(
        "customers", CustomerRow, None, "occurred_at", lambda row: row.customer_ref,
        lambda tenant, customer_id, key: customer_id, _register),
    "leads": RecordKind(
        "leads", LeadRow, "lead", "occurred_at", lambda row: row.lead_ref,
        lambda tenant, customer_id, key: record_id_for(tenant, "lead", key), _lead),
    "interactions": RecordKind(
        "interactions", InteractionRow, "interaction", "occurred_at", lambda row: row.ref,
        lambda tenant, customer_id, key: record_id_for(tenant, "interaction", key),
        _interaction),
    "tickets": RecordKind(
        "tickets", TicketRow, "ticket", "opened_at", lambda row: row.ticket_ref,
        lambda tenant, customer_id, key: record_id_for(tenant, "ticket", key), _ticket),
    "purchases": RecordKind(
        "purchases", PurchaseRow, "purchase", "occurred_at", lambda row: row.reference, _purchase_id,
        _purchase),
}
