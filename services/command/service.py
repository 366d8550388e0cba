"""The command side's application service: load, decide, save — and return ids and positions.

Each public method is one command. It loads the aggregates it needs from the event store,
lets them apply the domain rules, and saves every new event in one atomic write. It never
reads a read model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from services.command.domain.aggregate import (
    AggregateRoot,
    CommandContext,
)
from services.command.domain.alert import Alert
from services.command.domain.api_key import ApiKey
from services.command.domain.configuration import configuration_id
from services.command.domain.customer import Customer
from services.command.domain.errors import (
    Duplicate,
    InvalidRules,
    NotFound,
    RuleViolation,
    VersionConflict,
)
from services.command.domain.filing import CustomerFile
from services.command.domain.interaction import Interaction
from services.command.domain.lead import Lead
from services.command.domain.note import Note
from services.command.domain.purchase import Purchase, purchase_id_for_reference
from services.command.domain.rules import RulesFileError
from services.command.domain.task import Task
from services.command.domain.ticket import Ticket
from services.command.domain.user_account import UserAccount
from services.command.execution import CommandExecution, CommandResult, Decision, Idempotency
from services.common.auth.keys import NewKey, new_key
from services.common.auth.permissions import ROLES, SCOPES
from services.common.auth.principal import (
    ACTOR,
    ACTOR_RULE,
    ANONYMOUS,
    RESERVED_PREFIXES,
    is_reserved,
)
from services.common.events.alert import AlertKind
from services.common.events.customer import CustomerPersonal, CustomersMerged
from services.common.events.envelope import CrmEvent
from services.common.events.filing import FiledKind, file_id
from services.common.events.note import NoteSubject
from services.common.events.purchase import PurchaseItem
from services.common.events.ticket import PRIORITIES


@dataclass(frozen=True)
class NewCustomer:
    personal: CustomerPersonal
    company: str | None = None
    region: str | None = None
    industry: str | None = None
    source: str | None = None
    owner: str | None = None
    tags: list[str] = field(default_factory=list)
    external_ref: str | None = None


class CommandService(CommandExecution):
    """One public method per command: each loads, decides through the aggregates and saves."""

    # -- customers ----------------------------------------------------------------------------

    def register_customer(
        self, ctx: CommandContext, new: NewCustomer, idempotency: Idempotency | None = None
    ) -> CommandResult:
        def decide() -> Decision:
            customer = self._new_customer(ctx, new)
            return Decision(customer, {"customer_id": str(customer.id)}, status_code=201)

        return self._execute(ctx, idempotency, decide)

    def _new_customer(self, ctx: CommandContext, new: NewCustomer) -> Customer:
        return Customer.register(
            uuid4(), ctx, personal=new.personal, company=new.company, region=new.region,
            industry=new.industry, source=new.source, owner=new.owner, tags=new.tags,
            external_ref=new.external_ref,
        )

    def _customer_command(
        self, ctx: CommandContext, customer_id: UUID, act: Callable[[Customer], None],
        idempotency: Idempotency | None, expected_version: int | None,
    ) -> CommandResult:
        def decide() -> Decision:
            customer = self._load(Customer, customer_id, ctx, expected_version)
            act(customer)
            return Decision(customer, {"customer_id": str(customer_id)})

        return self._execute(ctx, idempotency, decide, expected_version, stream=customer_id)

    def change_customer_profile(
        self, ctx: CommandContext, customer_id: UUID, *, personal: CustomerPersonal | None,
        company: str | None, region: str | None, industry: str | None,
        idempotency: Idempotency | None = None, expected_version: int | None = None,
    ) -> CommandResult:
        return self._customer_command(
            ctx, customer_id,
            lambda c: c.change_profile(ctx, personal=personal, company=company, region=region,
                                       industry=industry),
            idempotency, expected_version,
        )

    def erase_customer(self, ctx: CommandContext, customer_id: UUID, *, reason: str,
                       legal_basis: str, request_reference: str | None,
                       idempotency: Idempotency | None = None) -> CommandResult:
        """Record `CustomerErased`, then destroy the data keys of the customer and of every
        customer merged into it (docs/privacy.md). Saved first: if destroying fails, a retry
        finds the customer erased, refuses with `customer_erased`, and destroys the keys."""
        erased: list[UUID] = []

        def decide() -> Decision:
            try:
                customer = self._load(Customer, customer_id, ctx)
                customer.erase(ctx, reason=reason, legal_basis=legal_basis,
                               request_reference=request_reference)
            except RuleViolation as refused:
                if refused.rule == "customer_erased":  # finish an erasure cut short
                    self._destroy_keys([customer_id, *self._merged_into(customer_id)])
                raise
            erased[:] = [customer_id, *customer.merged_customer_ids]
            return Decision(customer, {"customer_id": str(customer_id)})

        result = self._execute(ctx, idempotency, decide, stream=customer_id)
        self._destroy_keys(erased)
        return result

    def _merged_into(self, customer_id: UUID) -> list[UUID]:
        return [e.event.merged_customer_id for e in self.log.events_of([customer_id])
                if isinstance(e.event, CustomersMerged)]

    def _destroy_keys(self, customer_ids: list[UUID]) -> None:
        for erased_id in customer_ids:
            self.store.vault.destroy(erased_id)
        self.aggregate_cache.clear()

    def tag_customer(self, ctx: CommandContext, customer_id: UUID, tag: str,
                     idempotency: Idempotency | None = None,
                     expected_version: int | None = None) -> CommandResult:
        return self._customer_command(ctx, customer_id, lambda c: c.tag(ctx, tag), idempotency,
                                      expected_version)

    def untag_customer(self, ctx: CommandContext, customer_id: UUID, tag: str,
                       idempotency: Idempotency | None = None,
                       expected_version: int | None = None) -> CommandResult:
        return self._customer_command(ctx, customer_id, lambda c: c.untag(ctx, tag), idempotency,
                                      expected_version)

    def change_customer_owner(self, ctx: CommandContext, customer_id: UUID, owner: str | None,
                              idempotency: Idempotency | None = None,
                              expected_version: int | None = None) -> CommandResult:
        return self._customer_command(ctx, customer_id, lambda c: c.change_owner(ctx, owner),
                                      idempotency, expected_version)

    def change_customer_consent(self, ctx: CommandContext, customer_id: UUID, channel: str,
                                granted: bool, idempotency: Idempotency | None = None,
                                expected_version: int | None = None) -> CommandResult:
        return self._customer_command(
            ctx, customer_id, lambda c: c.change_consent(ctx, channel, granted), idempotency,
            expected_version,
        )

    # -- records linked to a customer ---------------------------------------------------------

    def _create_for_customer(
        self, ctx: CommandContext, customer_id: UUID, kind: str,
        create: Callable[[], AggregateRoot], id_name: str,
        idempotency: Idempotency | None,
    ) -> CommandResult:
        def decide() -> Decision:
            customer = self._customer_head(customer_id, ctx)
            record = create()
            customer.link(ctx, kind, record.id)  # type: ignore[arg-type]
            result_ids = {id_name: str(record.id), "customer_id": str(customer_id)}
            return Decision(record, result_ids, also_save=[customer], status_code=201)

        return self._execute(ctx, idempotency, decide, stream=customer_id)

    def create_lead(
        self, ctx: CommandContext, *, customer_id: UUID | None, new_customer: NewCustomer | None,
        title: str, source: str | None = None, channel: str | None = None,
        region: str | None = None, industry: str | None = None, amount: str | None = None,
        currency: str | None = None, owner: str | None = None, external_ref: str | None = None,
        idempotency: Idempotency | None = None,
    ) -> CommandResult:
        rules = self.rules_for(ctx.tenant_id)

        def decide() -> Decision:
            if new_customer is not None:
                customer = self._new_customer(ctx, new_customer)
            else:
                assert customer_id is not None
                customer = self._customer_head(customer_id, ctx)
            lead = Lead.create(
                uuid4(), ctx, customer_id=customer.id, title=title, source=source,
                channel=channel, region=region or getattr(customer, "region", None),
                industry=industry or getattr(customer, "industry", None), amount=amount,
                currency=currency, owner=owner, external_ref=external_ref, rules=rules,
            )
            customer.link(ctx, "lead", lead.id)
            ids = {"lead_id": str(lead.id), "customer_id": str(customer.id)}
            return Decision(lead, ids, also_save=[customer], status_code=201)

        return self._execute(ctx, idempotency, decide, stream=customer_id)

    def log_interaction(
        self, ctx: CommandContext, customer_id: UUID, *, channel: str, direction: str,
        subject: str | None = None, duration_s: int | None = None, lead_id: UUID | None = None,
        body: str | None = None, external_ref: str | None = None,
        idempotency: Idempotency | None = None,
    ) -> CommandResult:
        def create() -> AggregateRoot:
            if lead_id is not None:
                self._check_lead_of_customer(ctx, lead_id, customer_id)
            return Interaction.log(
                uuid4(), ctx, customer_id=customer_id, channel=channel, direction=direction,
                subject=subject, duration_s=duration_s, lead_id=lead_id, body=body,
                external_ref=external_ref,
            )

        return self._create_for_customer(ctx, customer_id, "interaction", create,
                                         "interaction_id", idempotency)

    def _check_lead_of_customer(self, ctx: CommandContext, lead_id: UUID, customer_id: UUID) -> None:
        lead = self._load(Lead, lead_id, ctx)
        if lead.customer_id != customer_id:
            raise NotFound("lead", lead_id)

    def open_ticket(
        self, ctx: CommandContext, customer_id: UUID, *, subject: str, priority: str,
        channel: str | None = None, assignee: str | None = None, lead_id: UUID | None = None,
        external_ref: str | None = None, idempotency: Idempotency | None = None,
    ) -> CommandResult:
        def create() -> AggregateRoot:
            if lead_id is not None:
                self._check_lead_of_customer(ctx, lead_id, customer_id)
            return Ticket.open(
                uuid4(), ctx, customer_id=customer_id, subject=subject, priority=priority,
                channel=channel, assignee=assignee, lead_id=lead_id, external_ref=external_ref,
            )

        return self._create_for_customer(ctx, customer_id, "ticket", create, "ticket_id",
                                         idempotency)

    def record_purchase(
        self, ctx: CommandContext, customer_id: UUID, *, amount: str, currency: str,
        reference: str | None = None, items: list[PurchaseItem] | None = None,
        lead_id: UUID | None = None, idempotency: Idempotency | None = None,
    ) -> CommandResult:
        """A purchase with an external reference gets an id derived from it, so the same
        order can never be recorded twice for a customer."""

        def create() -> AggregateRoot:
            if reference is not None:
                purchase_id = purchase_id_for_reference(ctx.tenant_id, customer_id, reference)
                if self._current_version(Purchase(purchase_id)) > 0:
                    raise Duplicate(
                        f"purchase {reference!r} is already recorded for this customer",
                        purchase_id=str(purchase_id), reference=reference,
                    )
            else:
                purchase_id = uuid4()
            if lead_id is not None:
                self._check_lead_of_customer(ctx, lead_id, customer_id)
            return Purchase.record(
                purchase_id, ctx, customer_id=customer_id, amount=amount, currency=currency,
                reference=reference, items=items, lead_id=lead_id,
            )

        return self._create_for_customer(ctx, customer_id, "purchase", create, "purchase_id",
                                         idempotency)

    # -- leads --------------------------------------------------------------------------------

    def _lead_command(
        self, ctx: CommandContext, lead_id: UUID, act: Callable[[Lead], dict[str, str] | None],
        idempotency: Idempotency | None, expected_version: int | None, status_code: int = 200,
    ) -> CommandResult:
        def decide() -> Decision:
            lead = self._load(Lead, lead_id, ctx, expected_version)
            extra = act(lead) or {}
            return Decision(lead, {"lead_id": str(lead_id), **extra}, status_code=status_code)

        return self._execute(ctx, idempotency, decide, expected_version, stream=lead_id)

    def change_lead_stage(
        self, ctx: CommandContext, lead_id: UUID, stage: str, *, reason: str | None = None,
        budget_confirmed: bool | None = None, idempotency: Idempotency | None = None,
        expected_version: int | None = None,
    ) -> CommandResult:
        rules = self.rules_for(ctx.tenant_id)
        return self._lead_command(
            ctx, lead_id,
            lambda lead: lead.change_stage(ctx, stage, rules=rules, reason=reason,
                                           budget_confirmed=budget_confirmed),
            idempotency, expected_version,
        )

    def assign_lead(self, ctx: CommandContext, lead_id: UUID, owner: str,
                    idempotency: Idempotency | None = None,
                    expected_version: int | None = None) -> CommandResult:
        return self._lead_command(ctx, lead_id, lambda lead: lead.assign(ctx, owner), idempotency,
                                  expected_version)

    def change_lead_amount(self, ctx: CommandContext, lead_id: UUID, amount: str, currency: str,
                           idempotency: Idempotency | None = None,
                           expected_version: int | None = None) -> CommandResult:
        return self._lead_command(ctx, lead_id,
                                  lambda lead: lead.change_amount(ctx, amount, currency),
                                  idempotency, expected_version)

    def request_discount(self, ctx: CommandContext, lead_id: UUID, percent: str,
                         reason: str | None = None, idempotency: Idempotency | None = None,
                         expected_version: int | None = None) -> CommandResult:
        rules = self.rules_for(ctx.tenant_id)

        def act(lead: Lead) -> dict[str, str]:
            discount_id = uuid4()
            lead.request_discount(ctx, discount_id, percent, reason, rules)
            return {"discount_id": str(discount_id),
                    "status": lead.discounts[discount_id].status}

        return self._lead_command(ctx, lead_id, act, idempotency, expected_version, 201)

    def approve_discount(self, ctx: CommandContext, lead_id: UUID, discount_id: UUID,
                         note: str | None = None, idempotency: Idempotency | None = None,
                         expected_version: int | None = None) -> CommandResult:
        rules = self.rules_for(ctx.tenant_id)
        return self._lead_command(
            ctx, lead_id, lambda lead: lead.approve_discount(ctx, discount_id, note, rules),
            idempotency, expected_version,
        )

    def reject_discount(self, ctx: CommandContext, lead_id: UUID, discount_id: UUID,
                        reason: str | None = None, idempotency: Idempotency | None = None,
                        expected_version: int | None = None) -> CommandResult:
        rules = self.rules_for(ctx.tenant_id)
        return self._lead_command(
            ctx, lead_id, lambda lead: lead.reject_discount(ctx, discount_id, reason, rules),
            idempotency, expected_version,
        )

    def receive_payment(self, ctx: CommandContext, lead_id: UUID, amount: str, currency: str,
                        reference: str | None = None, idempotency: Idempotency | None = None,
                        expected_version: int | None = None) -> CommandResult:
        def act(lead: Lead) -> dict[str, str]:
            payment_id = uuid4()
            lead.receive_payment(ctx, payment_id, amount, currency, reference)
            return {"payment_id": str(payment_id)}

        return self._lead_command(ctx, lead_id, act, idempotency, expected_version, 201)

    # -- tickets ------------------------------------------------------------------------------

    def _ticket_command(
        self, ctx: CommandContext, ticket_id: UUID, act: Callable[[Ticket], dict[str, str] | None],
        idempotency: Idempotency | None, expected_version: int | None, status_code: int = 200,
    ) -> CommandResult:
        def decide() -> Decision:
            ticket = self._load(Ticket, ticket_id, ctx, expected_version)
            extra = act(ticket) or {}
            return Decision(ticket, {"ticket_id": str(ticket_id), **extra}, status_code=status_code)

        return self._execute(ctx, idempotency, decide, expected_version, stream=ticket_id)

    def change_ticket_status(self, ctx: CommandContext, ticket_id: UUID, status: str,
                             reason: str | None = None, idempotency: Idempotency | None = None,
                             expected_version: int | None = None) -> CommandResult:
        return self._ticket_command(
            ctx, ticket_id, lambda t: t.change_status(ctx, status, reason), idempotency,
            expected_version,
        )

    def assign_ticket(self, ctx: CommandContext, ticket_id: UUID, assignee: str,
                      idempotency: Idempotency | None = None,
                      expected_version: int | None = None) -> CommandResult:
        return self._ticket_command(ctx, ticket_id, lambda t: t.assign(ctx, assignee),
                                    idempotency, expected_version)

    def comment_on_ticket(self, ctx: CommandContext, ticket_id: UUID, body: str,
                          author_type: str = "agent", public: bool = True,
                          idempotency: Idempotency | None = None,
                          expected_version: int | None = None) -> CommandResult:
        def act(ticket: Ticket) -> dict[str, str]:
            comment_id = uuid4()
            ticket.comment(ctx, comment_id, body, author_type, public)
            return {"comment_id": str(comment_id)}

        return self._ticket_command(ctx, ticket_id, act, idempotency, expected_version, 201)

    def change_ticket_priority(self, ctx: CommandContext, ticket_id: UUID, priority: str,
                               reason: str | None = None, idempotency: Idempotency | None = None,
                               expected_version: int | None = None) -> CommandResult:
        return self._ticket_command(
            ctx, ticket_id, lambda t: t.change_priority(ctx, priority, reason), idempotency,
            expected_version,
        )

    # -- tasks --------------------------------------------------------------------------------

    def _file(self, ctx: CommandContext, customer_id: UUID, kind: FiledKind,
              record_id: UUID) -> CustomerFile:
        """The customer's file with the new record filed in it (to save with the record)."""
        current = self._current_version(CustomerFile(file_id(customer_id)))
        file = CustomerFile.at_version(customer_id, ctx.tenant_id, current)
        file.file(ctx, kind, record_id)
        return file

    def _check_ticket_of_customer(self, ctx: CommandContext, ticket_id: UUID,
                                  customer_id: UUID) -> None:
        ticket = self._load(Ticket, ticket_id, ctx)
        if ticket.customer_id != customer_id:
            raise NotFound("ticket", ticket_id)

    def create_task(
        self, ctx: CommandContext, *, customer_id: UUID, title: str, assignee: str,
        due_at: datetime, remind_before: timedelta | None = None, note: str | None = None,
        lead_id: UUID | None = None, ticket_id: UUID | None = None,
        idempotency: Idempotency | None = None,
    ) -> CommandResult:
        """A task for a customer (about one of its leads or tickets, if given), filed in the
        customer's file: the customer's own version does not move."""

        def decide() -> Decision:
            self._customer_head(customer_id, ctx)  # this tenant's, in the book, not erased
            if lead_id is not None:
                self._check_lead_of_customer(ctx, lead_id, customer_id)
            if ticket_id is not None:
                self._check_ticket_of_customer(ctx, ticket_id, customer_id)
            task = Task.create(uuid4(), ctx, customer_id=customer_id, title=title,
                               assignee=assignee, due_at=due_at, remind_before=remind_before,
                               note=note, lead_id=lead_id, ticket_id=ticket_id)
            filed = self._file(ctx, customer_id, "task", task.id)
            ids = {"task_id": str(task.id), "customer_id": str(customer_id)}
            return Decision(task, ids, also_save=[filed], status_code=201)

        return self._execute(ctx, idempotency, decide, stream=file_id(customer_id))

    def _task_command(
        self, ctx: CommandContext, task_id: UUID, act: Callable[[Task], None],
        idempotency: Idempotency | None, expected_version: int | None,
        also: Callable[[Task], list[AggregateRoot]] = lambda _: [],
    ) -> CommandResult:
        def decide() -> Decision:
            task = self._load(Task, task_id, ctx, expected_version)
            act(task)
            return Decision(task, {"task_id": str(task_id), "customer_id": str(task.customer_id)},
                            also_save=also(task))

        return self._execute(ctx, idempotency, decide, expected_version, stream=task_id)

    def complete_task(self, ctx: CommandContext, task_id: UUID, note: str | None = None,
                      idempotency: Idempotency | None = None,
                      expected_version: int | None = None) -> CommandResult:
        return self._task_command(ctx, task_id, lambda t: t.complete(ctx, note), idempotency,
                                  expected_version)

    def cancel_task(self, ctx: CommandContext, task_id: UUID,
                    idempotency: Idempotency | None = None,
                    expected_version: int | None = None) -> CommandResult:
        return self._task_command(ctx, task_id, lambda t: t.cancel(ctx), idempotency,
                                  expected_version)

    def reschedule_task(self, ctx: CommandContext, task_id: UUID, due_at: datetime,
                        remind_before: timedelta | None = None, *, keep_reminder: bool = False,
                        idempotency: Idempotency | None = None,
                        expected_version: int | None = None) -> CommandResult:
        return self._task_command(
            ctx, task_id,
            lambda t: t.reschedule(ctx, due_at, remind_before, keep_reminder=keep_reminder),
            idempotency, expected_version)

    def reassign_task(self, ctx: CommandContext, task_id: UUID, assignee: str,
                      idempotency: Idempotency | None = None,
                      expected_version: int | None = None) -> CommandResult:
        return self._task_command(ctx, task_id, lambda t: t.reassign(ctx, assignee),
                                  idempotency, expected_version)

    # -- notes --------------------------------------------------------------------------------

    def add_note(self, ctx: CommandContext, subject_kind: NoteSubject, subject_id: UUID, *,
                 body: str, pinned: bool = False,
                 idempotency: Idempotency | None = None) -> CommandResult:
        """A note on a customer, or on one of its leads or tickets, filed in the customer's
        file (services/command/domain/note.py says why it is an aggregate of its own)."""

        def decide() -> Decision:
            if subject_kind == "customer":
                customer_id = self._customer_head(subject_id, ctx).id
            elif subject_kind == "lead":
                customer_id = self._load(Lead, subject_id, ctx).customer_id
            else:
                customer_id = self._load(Ticket, subject_id, ctx).customer_id
            note = Note.add(uuid4(), ctx, customer_id=customer_id, subject_kind=subject_kind,
                            subject_id=subject_id, body=body, pinned=pinned)
            filed = self._file(ctx, customer_id, "note", note.id)
            ids = {"note_id": str(note.id), "customer_id": str(customer_id)}
            if subject_kind != "customer":
                ids[f"{subject_kind}_id"] = str(subject_id)
            return Decision(note, ids, also_save=[filed], status_code=201)

        customer = subject_id if subject_kind == "customer" else self._customer_of(subject_id)
        return self._execute(ctx, idempotency, decide,
                             stream=file_id(customer) if customer else subject_id)

    def _customer_of(self, record_id: UUID) -> UUID | None:
        """The customer a record was created for, by its first event (None: no such record).
        Notes on one customer's leads and tickets then take turns on its file in this process
        instead of racing for it."""
        first = list(self.store.events.get(record_id, lte=1))
        return first[0].customer_id if first and isinstance(first[0], CrmEvent) else None

    def _note_command(self, ctx: CommandContext, note_id: UUID, act: Callable[[Note], None],
                      idempotency: Idempotency | None,
                      expected_version: int | None) -> CommandResult:
        def decide() -> Decision:
            note = self._load(Note, note_id, ctx, expected_version)
            act(note)
            return Decision(note, {"note_id": str(note_id), "customer_id": str(note.customer_id)})

        return self._execute(ctx, idempotency, decide, expected_version, stream=note_id)

    def edit_note(self, ctx: CommandContext, note_id: UUID, *, body: str | None = None,
                  pinned: bool | None = None, idempotency: Idempotency | None = None,
                  expected_version: int | None = None) -> CommandResult:
        return self._note_command(ctx, note_id, lambda n: n.edit(ctx, body=body, pinned=pinned),
                                  idempotency, expected_version)

    def delete_note(self, ctx: CommandContext, note_id: UUID,
                    idempotency: Idempotency | None = None,
                    expected_version: int | None = None) -> CommandResult:
        return self._note_command(ctx, note_id, lambda n: n.delete(ctx), idempotency,
                                  expected_version)

    # -- rules --------------------------------------------------------------------------------

    def change_rules(self, ctx: CommandContext, rules_toml: str, source: str,
                     idempotency: Idempotency | None = None,
                     expected_version: int | None = None) -> CommandResult:
        """Adopt a tenant's rules file; a refused file leaves the rules in force unchanged."""

        def decide() -> Decision:
            config = self.rules_book.configuration(ctx.tenant_id)
            if expected_version is not None and config.version != expected_version:
                raise VersionConflict(config.kind, config.id, expected_version, config.version)
            try:
                recorded = config.change_rules(ctx, rules_toml, source)
            except RulesFileError as exc:
                raise InvalidRules(str(exc), source=source, problems=exc.as_details()) from None
            return Decision(config, {"tenant_id": ctx.tenant_id,
                                     "changed": ",".join(recorded.changed)})

        config_id = configuration_id(ctx.tenant_id)
        try:
            return self._execute(ctx, idempotency, decide, expected_version, stream=config_id)
        finally:
            self.rules_book.forget(ctx.tenant_id)

    # -- what rules decide (issued by the policies, actor `rule:<id>`) -------------------------

    def _with_alert(
        self, ctx: CommandContext, subject: AggregateRoot, alert: AlertSpec | None,
    ) -> list[AggregateRoot]:
        if alert is None:
            return []
        raised = Alert.raise_alert(
            alert.alert_id, ctx, customer_id=subject.customer_id, kind=alert.kind,
            subject_kind=subject.kind, subject_id=subject.id,  # type: ignore[arg-type]
            assignees=alert.assignees, summary=alert.summary, due_at=alert.due_at,
        )
        customer = self._customer_head(subject.customer_id, ctx)
        customer.link_alert(ctx, raised.id, alert.kind)
        return [raised, customer]

    def mark_follow_up_overdue(
        self, ctx: CommandContext, lead_id: UUID, *, manager: str | None,
        days_without_contact: int, repeat: bool, alert: AlertSpec | None,
        idempotency: Idempotency | None = None,
    ) -> CommandResult:
        def decide() -> Decision:
            lead = self._load(Lead, lead_id, ctx)
            lead.record_follow_up_overdue(ctx, manager=manager,
                                          days_without_contact=days_without_contact,
                                          repeat=repeat)
            return Decision(lead, {"lead_id": str(lead_id)},
                            also_save=self._with_alert(ctx, lead, alert))

        return self._execute(ctx, idempotency, decide, stream=lead_id)

    def request_discount_approval(
        self, ctx: CommandContext, lead_id: UUID, discount_id: UUID, approver: str,
        alert: AlertSpec | None, idempotency: Idempotency | None = None,
    ) -> CommandResult:
        def decide() -> Decision:
            lead = self._load(Lead, lead_id, ctx)
            lead.request_approval(ctx, discount_id, approver)
            return Decision(lead, {"lead_id": str(lead_id), "discount_id": str(discount_id)},
                            also_save=self._with_alert(ctx, lead, alert))

        return self._execute(ctx, idempotency, decide, stream=lead_id)

    def record_sla_breach(
        self, ctx: CommandContext, ticket_id: UUID, *, sla: str, target_seconds: int,
        deadline: datetime, raise_priority: bool, reassign_to: str | None,
        alert: AlertSpec | None, idempotency: Idempotency | None = None,
    ) -> CommandResult:
        """Record the breach and escalate as the rules say, in one write."""

        def decide() -> Decision:
            ticket = self._load(Ticket, ticket_id, ctx)
            ticket.record_sla_breach(ctx, sla, target_seconds, deadline)
            if raise_priority and ticket.priority != PRIORITIES[-1]:
                higher = PRIORITIES[PRIORITIES.index(ticket.priority) + 1]
                ticket.change_priority(ctx, higher, f"{sla} SLA breached")
            if reassign_to is not None and reassign_to != ticket.assignee:
                ticket.assign(ctx, reassign_to)
            return Decision(ticket, {"ticket_id": str(ticket_id)},
                            also_save=self._with_alert(ctx, ticket, alert))

        return self._execute(ctx, idempotency, decide, stream=ticket_id)

    def remind_task(self, ctx: CommandContext, task_id: UUID, *, due_at: datetime,
                    alert: AlertSpec | None, idempotency: Idempotency | None = None,
                    ) -> CommandResult:
        """The reminder of the task due at `due_at`, with its alert, in one write."""
        return self._task_command(ctx, task_id, lambda t: t.record_reminder(ctx, due_at),
                                  idempotency, None, lambda t: self._with_alert(ctx, t, alert))

    def mark_task_overdue(self, ctx: CommandContext, task_id: UUID, *, due_at: datetime,
                          alert: AlertSpec | None, idempotency: Idempotency | None = None,
                          ) -> CommandResult:
        return self._task_command(ctx, task_id, lambda t: t.record_overdue(ctx, due_at),
                                  idempotency, None, lambda t: self._with_alert(ctx, t, alert))

    def mark_customer_dormant(
        self, ctx: CommandContext, customer_id: UUID, *, last_activity_at: datetime,
        dormant_after_days: int, idempotency: Idempotency | None = None,
    ) -> CommandResult:
        return self._customer_command(
            ctx, customer_id,
            lambda c: c.become_dormant(ctx, last_activity_at, dormant_after_days),
            idempotency, None,
        )

    # -- alerts -------------------------------------------------------------------------------

    def _alert_command(self, ctx: CommandContext, alert_id: UUID, act: Callable[[Alert], None],
                       idempotency: Idempotency | None,
                       expected_version: int | None) -> CommandResult:
        def decide() -> Decision:
            alert = self._load(Alert, alert_id, ctx, expected_version)
            act(alert)
            return Decision(alert, {"alert_id": str(alert_id)})

        return self._execute(ctx, idempotency, decide, expected_version, stream=alert_id)

    def acknowledge_alert(self, ctx: CommandContext, alert_id: UUID, note: str | None = None,
                          idempotency: Idempotency | None = None,
                          expected_version: int | None = None) -> CommandResult:
        return self._alert_command(ctx, alert_id, lambda a: a.acknowledge(ctx, note),
                                   idempotency, expected_version)

    def resolve_alert(self, ctx: CommandContext, alert_id: UUID, note: str | None = None,
                      idempotency: Idempotency | None = None,
                      expected_version: int | None = None) -> CommandResult:
        return self._alert_command(ctx, alert_id, lambda a: a.resolve(ctx, note),
                                   idempotency, expected_version)


    # -- access ---------------------------------------------------------------------------------

    def create_api_key(self, ctx: CommandContext, *, subject: str, roles: list[str],
                       scopes: list[str], expires_at: datetime | None,
                       display_name: str | None = None) -> tuple[CommandResult, NewKey]:
        """Issue an API key for `ctx.tenant_id`; the result's key holds the secret, shown once."""
        check_key_grant(subject, roles, scopes, expires_at)
        issued = new_key()

        def decide() -> Decision:
            key = ApiKey.issue(issued.key_id, ctx, subject=subject, roles=sorted(set(roles)),
                               scopes=sorted(set(scopes)), expires_at=expires_at,
                               display_name=display_name, secret_sha256=issued.secret_sha256)
            return Decision(key, {"key_id": str(issued.key_id)}, status_code=201)

        return self._execute(ctx, None, decide, stream=issued.key_id), issued

    def revoke_api_key(self, ctx: CommandContext, key_id: UUID,
                       reason: str | None = None) -> CommandResult:
        def decide() -> Decision:
            key = self._load(ApiKey, key_id, ctx)
            key.revoke(ctx, reason)
            return Decision(key, {"key_id": str(key_id)})

        return self._execute(ctx, None, decide, stream=key_id)

    # -- local accounts (services/common/auth/users.py keeps their password hashes) -----------

    def add_user(self, ctx: CommandContext, user_id: UUID, *, name: str, roles: list[str],
                 teams: list[str], display_name: str | None = None) -> CommandResult:
        """Record a new local account of `ctx.tenant_id` (its id derived from tenant and
        name): refused when the name is malformed or reserved, a role unknown, or the
        account exists."""
        check_key_grant(name, roles, [], None)

        def decide() -> Decision:
            try:
                self._load(UserAccount, user_id, ctx)
            except NotFound:
                pass
            else:
                raise Duplicate(f"the account {name} exists already", name=name)
            account = UserAccount.add(user_id, ctx, name=name, roles=sorted(set(roles)),
                                      teams=sorted(set(teams)), display_name=display_name)
            return Decision(account, {"user_id": str(user_id)}, status_code=201)

        return self._execute(ctx, None, decide, stream=user_id)

    def record_password_change(self, ctx: CommandContext, user_id: UUID) -> CommandResult:
        def decide() -> Decision:
            account = self._load(UserAccount, user_id, ctx)
            account.password_changed(ctx)
            return Decision(account, {"user_id": str(user_id)})

        return self._execute(ctx, None, decide, stream=user_id)

    def disable_user(self, ctx: CommandContext, user_id: UUID,
                     reason: str | None = None) -> CommandResult:
        def decide() -> Decision:
            account = self._load(UserAccount, user_id, ctx)
            account.disable(ctx, reason)
            return Decision(account, {"user_id": str(user_id)})

        return self._execute(ctx, None, decide, stream=user_id)


def check_key_grant(subject: str, roles: list[str], scopes: list[str],
                    expires_at: datetime | None) -> None:
    """Refuse a key that names a reserved or malformed subject, an unknown role or scope."""
    if not ACTOR.fullmatch(subject) or is_reserved(subject):
        raise RuleViolation("invalid_subject", f"a key's subject is {ACTOR_RULE}, and not "
                            f"{ANONYMOUS} or one starting with {', '.join(RESERVED_PREFIXES)}",
                            subject=subject)
    unknown = sorted(set(roles) - set(ROLES))
    if not roles or unknown:
        raise RuleViolation("invalid_roles", f"a key needs one or more of the roles "
                            f"{', '.join(ROLES)}", unknown=unknown)
    unknown_scopes = sorted(set(scopes) - set(SCOPES))
    if unknown_scopes:
        raise RuleViolation("invalid_scopes", f"scopes are {', '.join(SCOPES)}",
                            unknown=unknown_scopes)
    if scopes and roles != ["integration"]:
        raise RuleViolation("invalid_scopes", "scopes narrow an integration key: give such a "
                            "key the role integration alone")
    if roles == ["integration"] and not scopes:
        raise RuleViolation("invalid_scopes", "an integration key needs at least one scope")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise RuleViolation("invalid_expiry", "the key would expire before it is created")


@dataclass(frozen=True)
class AlertSpec:
    """The alert a rule raises together with its decision."""

    alert_id: UUID
    kind: AlertKind
    assignees: list[str]
    summary: str
    due_at: datetime | None = None
