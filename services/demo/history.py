"""A large, believable history written fast: for benchmarks and for trying the read models at
scale (100,000 customers, about a million events).

This builds each customer's story with the domain aggregates directly — so every
domain rule still holds: a random walk that hits a gate gets the `RuleViolation` like a client
would, and carries on — and saves the new events of many customers in one `store.save(...)`.
The library serialises writers, so throughput comes from large transactions, not threads.

Each story runs in business time (`occurred_at`) from the customer's registration to `now`:
interactions over time, leads that move through the pipeline (sometimes back a stage), are
won or lost with a reason, with discounts that need an approval and payments; repeat purchases
for some customers (retention curves); tickets with priorities, first responses, resolutions
and reopenings. Customers register spread over the window, and each saved batch is in business
time order, so the store reads roughly like the log of a real CRM. Aggregate ids and every
choice come from one seeded generator: the same seed and `now` give the same history (event
ids and `recorded_at` are the store's own, as always).
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from services.command.domain.aggregate import (
    AggregateRoot,
    CommandContext,
    events_in_decision_order,
)
from services.command.domain.configuration import TenantConfiguration
from services.command.domain.customer import Customer
from services.command.domain.errors import RuleViolation
from services.command.domain.filing import CustomerFile
from services.command.domain.interaction import Interaction
from services.command.domain.lead import Lead
from services.command.domain.pipeline import DEFAULT_RULES, TenantRules
from services.command.domain.purchase import Purchase
from services.command.domain.task import Task
from services.command.domain.ticket import Ticket
from services.common.event_store import EventBatch
from services.common.events.customer import CustomerPersonal
from services.common.events.purchase import PurchaseItem
from services.common.events.ticket import PRIORITIES
from services.demo.names import (
    AGENTS,
    CHANNELS,
    COMPANIES,
    FIRST,
    INDUSTRIES,
    LAST,
    LEAD_TITLES,
    LOST_REASONS,
    MANAGERS,
    PRODUCTS,
    REGIONS,
    REPS,
    SOURCES,
    TAGS,
    TASK_TITLES,
    TICKET_SUBJECTS,
)
from services.demo.summary import BulkSummary

PRIORITY_WEIGHTS = [30, 45, 18, 7]
# Typical hours to resolve, by priority: urgent tickets are worked on first.
RESOLVE_HOURS = {"low": 96.0, "normal": 48.0, "high": 16.0, "urgent": 5.0}
OPEN_PATH = ("new", "contacted", "qualified", "proposal", "negotiation")

class SavesEvents(Protocol):
    """An event store as far as writing history goes (e.g. `ChronicleStore`)."""

    def save(self, *objects: Any) -> Any: ...


Episode = Iterator[datetime]
"""One thread of a customer's story; yields the business time of its next step."""

ProgressCallback = Callable[[int, int], None]
"""Called after every saved batch with (customers written, events written)."""


def generate_history(
    store: SavesEvents, *, customers: int, seed: int = 7, years: float = 2.0,
    now: datetime | None = None, tenant_id: str = "default", batch_customers: int = 200,
    on_progress: ProgressCallback | None = None, rules: TenantRules = DEFAULT_RULES,
    working_day: bool = False, rules_toml: str | None = None,
) -> BulkSummary:
    """Write the stories of `customers` customers (about ten events each) into `store`.

    Business times lie within `years` before `now`. Every `batch_customers` customers are saved
    in one transaction. With `working_day`, each customer may also have work still open at
    `now` (working_day.py): open leads in every stage, pending discounts, open tickets, tasks
    due soon or overdue. With
    `rules_toml`, the tenant's rules file is recorded first (the store must hold none yet) and
    the stories follow it.
    """
    if customers < 0 or batch_customers < 1 or years <= 0:
        raise ValueError("customers >= 0, batch_customers >= 1 and years > 0 are required")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    window_start = now - timedelta(days=365.25 * years)
    summary = BulkSummary()
    configuration: list[AggregateRoot] = []
    if rules_toml is not None:
        config = TenantConfiguration.first(tenant_id)
        config.change_rules(CommandContext(actor="demo-admin", tenant_id=tenant_id,
                                           occurred_at=window_start), rules_toml, "demo rules")
        rules = TenantRules.from_rule_set(config.rules)
        configuration.append(config)
    # The work still open at `now`: every customer of a small book has some; a large book keeps
    # about the share of a real one (10% of customers with an open lead at 1,000 and beyond).
    present = min(1.0, max(0.125, 100 / max(customers, 1))) if working_day else 0.0
    story = _Storyteller(random.Random(seed), tenant_id, rules, now, summary, present)
    started = time.perf_counter()
    for batch_start in range(0, customers, batch_customers):
        aggregates: list[AggregateRoot] = configuration if batch_start == 0 else []
        for index in range(batch_start, min(customers, batch_start + batch_customers)):
            # Registrations spread evenly over the window, in index order, so batches follow
            # business time; the story of each customer runs from there to `now`.
            fraction = (index + story.rng.random()) / customers
            registered_at = window_start + (now - window_start) * fraction * 0.98
            aggregates.extend(story.customer(index, registered_at))
        events = events_in_decision_order(*aggregates)
        # Stable: per aggregate, business times never decrease, so versions stay in order.
        events.sort(key=lambda event: event.occurred_at)
        if events:
            recordings = store.save(EventBatch(events))
            summary.last_position = recordings[-1].notification.id
            summary.saves += 1
        summary.events += len(events)
        if on_progress is not None:
            on_progress(summary.customers, summary.events)
    summary.seconds = time.perf_counter() - started
    return summary


class _Storyteller:
    """Makes one customer's story at a time; every choice comes from `rng`."""

    def __init__(self, rng: random.Random, tenant_id: str, rules: TenantRules, now: datetime,
                 summary: BulkSummary, present: float = 0.0) -> None:
        self.rng = rng
        self.tenant_id = tenant_id
        self.rules = rules
        self.now = now
        self.summary = summary
        self.present = present
        """How much of the working day's open work (0: none; 1: a small book's)."""

    # -- small helpers ------------------------------------------------------------------------

    def new_id(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def ctx(self, actor: str, at: datetime) -> CommandContext:
        return CommandContext(actor=actor, tenant_id=self.tenant_id, occurred_at=min(at, self.now))

    def later(self, at: datetime, mean_hours: float) -> datetime:
        """A business time after `at`: exponentially distributed, at least a few minutes."""
        return at + timedelta(hours=max(0.05, self.rng.expovariate(1.0 / mean_hours)))

    def approver(self, percent: Decimal) -> str:
        """Who decides a discount: the approver of its tier, else any manager."""
        return self.rules.approver_for(percent) or self.rng.choice(MANAGERS)

    def refused(self, violation: RuleViolation) -> None:
        self.summary.refusals[violation.rule] += 1

    # -- one customer -------------------------------------------------------------------------

    def customer(self, index: int, registered_at: datetime) -> list[AggregateRoot]:
        """Register a customer and play its episodes in business-time order.

        Episodes (a lead's way through the pipeline, a run of repeat orders, a ticket ...) are
        generators: each is first resumed at its start time and yields the business time of
        its next step; a small scheduler always resumes the earliest. So every aggregate of the
        customer — the customer's own links included — decides in business-time order.
        """
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        rep = rng.choice(REPS)
        customer = Customer.register(
            self.new_id(), self.ctx(rep, registered_at),
            personal=CustomerPersonal(
                name=f"{first} {last}",
                email=f"{first.lower()}.{last.lower().replace(' ', '')}{index}@example.com",
                phone=f"+44 20 {index // 10000 % 10000:04d} {index % 10000:04d}",
            ),
            company=rng.choice(COMPANIES), region=rng.choice(REGIONS),
            industry=rng.choice(INDUSTRIES), source=rng.choice(SOURCES), owner=rep,
            tags=rng.sample(TAGS, k=rng.choice((0, 0, 1, 1, 2))),
            external_ref=f"ERP-{index:07d}",
        )
        self.summary.customers += 1
        records: list[AggregateRoot] = [customer]
        lifetime_h = max(1.0, (self.now - registered_at).total_seconds() / 3600)

        def at_some_point() -> datetime:
            return registered_at + timedelta(hours=rng.uniform(0.1, lifetime_h))

        episodes: list[tuple[datetime, Episode]] = []
        for _ in range(_poisson(rng, 0.6)):
            start = at_some_point()
            episodes.append((start, self.contact(customer, start, rep, records)))
        for number in range(_poisson(rng, 0.35) + (1 if rng.random() < 0.3 else 0)):
            # The first lead usually comes soon after registration.
            start = self.later(registered_at, 72) if number == 0 else at_some_point()
            episodes.append((start, self.lead(customer, start, rep, records)))
        if rng.random() < 0.25:
            start = at_some_point()
            episodes.append((start, self.repeat_purchases(customer, start, records)))
        for _ in range(_poisson(rng, 0.18)):
            start = at_some_point()
            episodes.append((start, self.ticket(customer, start, records)))
        if rng.random() < 0.25:
            start = at_some_point()
            episodes.append((start, self.profile_change(customer, start, rep)))
        if self.present:
            episodes.extend(self.working_day(customer, registered_at, rep, records))
        queue = [(start, number, episode) for number, (start, episode) in enumerate(episodes)
                 if start < self.now]
        heapq.heapify(queue)
        sequence = len(episodes)
        while queue:
            _, _, episode = heapq.heappop(queue)
            wake_at = next(episode, None)
            if wake_at is not None and wake_at < self.now:
                sequence += 1
                heapq.heappush(queue, (wake_at, sequence, episode))
        return records

    def contact(self, customer: Customer, at: datetime, actor: str,
                records: list[AggregateRoot]) -> Episode:
        records.append(self.interaction(customer, at, actor, None))
        yield from ()  # one step

    def profile_change(self, customer: Customer, at: datetime, rep: str) -> Episode:
        rng = self.rng
        choice = rng.random()
        try:
            if choice < 0.35:
                customer.tag(self.ctx(rep, at), rng.choice(TAGS))
            elif choice < 0.6:
                customer.change_consent(self.ctx(rep, at), rng.choice(["email", "marketing"]),
                                        rng.random() < 0.7)
            elif choice < 0.8:
                customer.change_owner(self.ctx(rng.choice(MANAGERS), at), rng.choice(REPS))
            else:
                customer.change_profile(self.ctx(rep, at), personal=None, company=None,
                                        region=rng.choice(REGIONS), industry=None)
        except RuleViolation as violation:  # already tagged, same owner, same region ...
            self.refused(violation)
        yield from ()  # one step

    def interaction(self, customer: Customer, at: datetime, actor: str,
                    lead_id: UUID | None) -> Interaction:
        rng = self.rng
        ctx = self.ctx(actor, at)
        channel = rng.choice(CHANNELS)
        interaction = Interaction.log(
            self.new_id(), ctx, customer_id=customer.id, channel=channel,
            direction=rng.choice(["inbound", "outbound", "outbound"]) if channel != "note"
            else "internal",
            subject=rng.choice(["Check-in", "Follow-up", "Demo", "Pricing", "Onboarding"]),
            duration_s=rng.randint(60, 3600) if channel in ("call", "meeting", "visit") else None,
            lead_id=lead_id, body="Notes from the conversation",
        )
        customer.link(ctx, "interaction", interaction.id)
        self.summary.interactions += 1
        return interaction

    # -- a lead through the pipeline ----------------------------------------------------------

    def lead(self, customer: Customer, at: datetime, rep: str,
             records: list[AggregateRoot]) -> Episode:
        rng = self.rng
        ctx = self.ctx(rep, at)
        has_amount = rng.random() < 0.85
        lead = Lead.create(
            self.new_id(), ctx, customer_id=customer.id, title=rng.choice(LEAD_TITLES),
            source=rng.choice(SOURCES), channel=rng.choice(["web", "phone", "email", "event"]),
            region=customer.region, industry=customer.industry,
            amount=f"{rng.randint(2, 120) * 250}.00" if has_amount else None,
            currency="EUR" if has_amount else None, owner=rep, rules=self.rules,
        )
        customer.link(ctx, "lead", lead.id)
        self.summary.leads += 1
        records.append(lead)
        clock = at
        appetite = rng.random()  # how far this lead wants to go
        for _ in range(12):  # a bounded walk; a lead still open at `now` stays open
            clock = self.later(clock, 24 * rng.choice((2, 5, 9)))
            yield clock
            if rng.random() < 0.2:
                records.append(self.interaction(customer, clock, rep, lead.id))
            if rng.random() < 0.04:
                try:
                    lead.assign(self.ctx(rng.choice(MANAGERS), clock), rng.choice(REPS))
                except RuleViolation as violation:
                    self.refused(violation)
            position = OPEN_PATH.index(lead.stage)
            roll = rng.random()
            if roll < 0.12 + 0.1 * (1 - appetite):
                self.lose(lead, clock, rep)
                return
            if roll < 0.2 and position >= 2:
                self.move(lead, clock, rep, OPEN_PATH[position - 1])  # back a stage
                continue
            if position == len(OPEN_PATH) - 1:
                if appetite < 0.35:
                    self.lose(lead, clock, rep)
                    return
                won_at = yield from self.win(lead, clock, rep)
                if won_at is not None:
                    yield from self.after_won(customer, lead, won_at, records)
                    return
                continue
            self.move(lead, clock, rep, OPEN_PATH[position + 1])

    def move(self, lead: Lead, at: datetime, rep: str, to_stage: str) -> None:
        rng = self.rng
        # Reps sometimes forget to confirm the budget, or to put an amount on the lead: the
        # gate refuses, and they fix it (amount) or confirm, and try again.
        confirm = to_stage == "qualified" and rng.random() < 0.9
        try:
            lead.change_stage(self.ctx(rep, at), to_stage, rules=self.rules,
                              budget_confirmed=True if confirm else None)
        except RuleViolation as violation:
            self.refused(violation)
            try:
                if violation.rule == "proposal_requires_amount":
                    lead.change_amount(self.ctx(rep, at), f"{rng.randint(2, 120) * 250}.00",
                                       "EUR")
                lead.change_stage(self.ctx(rep, at), to_stage, rules=self.rules,
                                  budget_confirmed=True if to_stage == "qualified" else None)
            except RuleViolation as again:
                self.refused(again)

    def lose(self, lead: Lead, at: datetime, rep: str) -> None:
        try:
            lead.change_stage(self.ctx(rep, at), "lost", rules=self.rules,
                              reason=self.rng.choice(LOST_REASONS))
            self.summary.lost += 1
        except RuleViolation as violation:
            self.refused(violation)

    def win(self, lead: Lead, at: datetime, rep: str
            ) -> Generator[datetime, None, datetime | None]:
        """Try to close the lead as won, with a discount now and then; the time it was won."""
        rng = self.rng
        for pending in [d for d in lead.discounts.values() if d.status == "pending"]:
            at = self.later(at, 20)  # a manager catches up with the approval still waiting
            yield at
            lead.approve_discount(self.ctx(self.approver(pending.percent), at),
                                  pending.discount_id, "approved late", self.rules)
        if not lead.discounts and rng.random() < 0.4:
            discount_id = self.new_id()
            percent = rng.choice([5, 8, 12, 15, 20, 25])
            try:
                lead.request_discount(self.ctx(rep, at), discount_id, str(percent),
                                      "competitive offer", self.rules)
            except RuleViolation as violation:
                self.refused(violation)
            else:
                if lead.discounts[discount_id].status == "pending":
                    at = self.later(at, 20)
                    yield at
                    manager = self.approver(Decimal(percent))
                    # Now and then a rep tries to approve their own discount: refused.
                    approver = rep if rng.random() < 0.05 else manager
                    try:
                        if rng.random() < 0.8:
                            lead.approve_discount(self.ctx(approver, at), discount_id, "approved",
                                                  self.rules)
                        else:
                            lead.reject_discount(self.ctx(manager, at), discount_id,
                                                 "margin too thin", self.rules)
                    except RuleViolation as violation:
                        self.refused(violation)
        at = self.later(at, 4)
        yield at
        try:
            lead.change_stage(self.ctx(rep, at), "won", rules=self.rules)
        except RuleViolation as violation:  # an unapproved discount is still pending
            self.refused(violation)
            return None
        self.summary.won += 1
        return at

    def after_won(self, customer: Customer, lead: Lead, won_at: datetime,
                  records: list[AggregateRoot]) -> Episode:
        """The purchase a won lead becomes, payments on the lead, sometimes repeat orders."""
        rng = self.rng
        amount = Decimal(lead.amount or "0")
        discount = lead.effective_discount()
        if discount is not None:
            amount = (amount * (100 - discount) / 100).quantize(Decimal("0.01"))
        clock = self.later(won_at, 24)
        yield clock
        if amount > 0:
            records.append(self.purchase(customer, clock, amount, lead.id))
        instalments = rng.choice((1, 1, 1, 2, 3))
        part = (amount / instalments).quantize(Decimal("0.01"))
        for number in range(instalments):
            clock = self.later(clock, 24 * 12)
            yield clock
            try:
                lead.receive_payment(self.ctx("finance", clock), self.new_id(), str(part), "EUR",
                                     f"PAY-{lead.id.hex[:10]}-{number}")
            except RuleViolation as violation:
                self.refused(violation)
        if rng.random() < 0.45:
            yield from self.repeat_purchases(customer, self.later(clock, 24 * 45), records)

    # -- purchases ----------------------------------------------------------------------------

    def purchase(self, customer: Customer, at: datetime, amount: Decimal | None,
                 lead_id: UUID | None) -> Purchase:
        rng = self.rng
        items: list[PurchaseItem] = []
        if amount is None:
            for sku, name, price in rng.sample(PRODUCTS, k=rng.randint(1, 3)):
                items.append(PurchaseItem(sku=sku, name=name, quantity=rng.randint(1, 5),
                                          unit_price=f"{price}.00"))
            amount = sum((Decimal(i.unit_price) * i.quantity for i in items), Decimal(0))
        ctx = self.ctx("erp-sync", at)
        purchase = Purchase.record(
            self.new_id(), ctx, customer_id=customer.id, amount=f"{amount:.2f}",
            currency="EUR", reference=f"INV-{rng.getrandbits(40):010x}", items=items,
            lead_id=lead_id,
        )
        customer.link(ctx, "purchase", purchase.id)
        self.summary.purchases += 1
        return purchase

    def repeat_purchases(self, customer: Customer, first_at: datetime,
                         records: list[AggregateRoot]) -> Episode:
        """A buyer's orders: each followed by another with a loyalty that differs by customer,
        about one to three months apart (what the retention cohorts measure)."""
        rng = self.rng
        loyalty = rng.choice((0.0, 0.35, 0.6, 0.8))
        clock = first_at
        for _ in range(24):
            yield clock
            records.append(self.purchase(customer, clock, None, None))
            if rng.random() >= loyalty:
                return
            clock = self.later(clock, 24 * rng.choice((30, 45, 60)))

    # -- a ticket -----------------------------------------------------------------------------

    def ticket(self, customer: Customer, at: datetime, records: list[AggregateRoot]) -> Episode:
        rng = self.rng
        priority = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
        ctx = self.ctx("portal", at)
        agent = rng.choice(AGENTS)
        ticket = Ticket.open(
            self.new_id(), ctx, customer_id=customer.id, subject=rng.choice(TICKET_SUBJECTS),
            priority=priority, channel=rng.choice(["email", "phone", "chat", "web"]),
            assignee=agent if rng.random() < 0.5 else None,
        )
        customer.link(ctx, "ticket", ticket.id)
        self.summary.tickets += 1
        records.append(ticket)
        speed = RESOLVE_HOURS[priority]
        clock = self.later(at, speed / 6)
        yield clock
        try:
            if ticket.assignee is None:
                ticket.assign(self.ctx("dispatcher", clock), agent)
            if rng.random() < 0.7:  # an agent answers publicly (the first response)
                ticket.comment(self.ctx(agent, clock), self.new_id(), "Looking into it", "agent",
                               True)
            else:
                ticket.change_status(self.ctx(agent, clock), "pending", "waiting for customer")
            for _round in range(3):
                if rng.random() < 0.3:
                    clock = self.later(clock, speed / 3)
                    yield clock
                    ticket.comment(self.ctx("customer", clock), self.new_id(), "Any news?",
                                   "customer", True)
                clock = self.later(clock, speed)
                if rng.random() < 0.05:
                    return  # still being worked on
                yield clock
                ticket.change_status(self.ctx(agent, clock), "resolved", None)
                clock = self.later(clock, 24 * 3)
                yield clock
                if rng.random() < 0.85:
                    ticket.change_status(self.ctx("rule:auto-close", clock), "closed", None)
                    if rng.random() > 0.05:
                        return
                    clock = self.later(clock, 24 * 5)  # came back after closing
                    yield clock
                ticket.change_status(self.ctx("customer", clock), "open", "not fixed")
        except RuleViolation as violation:
            self.refused(violation)


    # -- the working day: what is still open at `now` ----------------------------------------

    def working_day(self, customer: Customer, registered_at: datetime, rep: str,
                    records: list[AggregateRoot]) -> list[tuple[datetime, Episode]]:
        rng = self.rng
        episodes: list[tuple[datetime, Episode]] = []
        for chance in (0.8, 0.3):
            if rng.random() < chance * self.present:
                stage = rng.choice(OPEN_PATH)
                stale = rng.random() < 0.35
                last_touch = self.now - timedelta(
                    days=rng.uniform(8, 20) if stale else rng.uniform(0.05, 2.5))
                steps = OPEN_PATH.index(stage)
                start = max(last_touch - timedelta(days=rng.uniform(1.0, 4.0) * steps + 0.5),
                            registered_at + timedelta(minutes=30))
                if start < last_touch:
                    episodes.append((start, self.open_lead(customer, start, last_touch, stage,
                                                           rep, stale, records)))
        if rng.random() < 0.7 * self.present:
            created = max(self.now - timedelta(days=rng.uniform(0.2, 4.0)),
                          registered_at + timedelta(minutes=30))
            if rng.random() < 0.4:  # overdue: it was due a while ago
                due = self.now - timedelta(hours=rng.uniform(1, 48))
            else:  # due later today or tomorrow
                due = self.now + timedelta(hours=rng.uniform(0.5, 30))
            due = max(due, created + timedelta(minutes=10))
            if created < self.now:
                episodes.append((created, self.open_task(customer, created, due, rep, records)))
        if rng.random() < 0.45 * self.present:
            opened = max(self.now - timedelta(hours=rng.uniform(0.5, 72)),
                         registered_at + timedelta(minutes=30))
            if opened < self.now:
                episodes.append((opened, self.open_ticket(customer, opened, records)))
        return episodes

    def open_lead(self, customer: Customer, start: datetime, last_touch: datetime, stage: str,
                  rep: str, stale: bool, records: list[AggregateRoot]) -> Episode:
        """A lead worked up to `stage`, last touched at `last_touch` (long ago when stale:
        its follow-up is overdue), with a discount awaiting approval now and then."""
        rng = self.rng
        lead = Lead.create(
            self.new_id(), self.ctx(rep, start), customer_id=customer.id,
            title=rng.choice(LEAD_TITLES), source=rng.choice(SOURCES),
            channel=rng.choice(["web", "phone", "email", "event"]), region=customer.region,
            industry=customer.industry, amount=f"{rng.randint(4, 160) * 250}.00",
            currency="EUR", owner=rep, rules=self.rules,
        )
        customer.link(self.ctx(rep, start), "lead", lead.id)
        self.summary.leads += 1
        records.append(lead)
        steps = OPEN_PATH.index(stage)
        for step in range(1, steps + 1):
            clock = start + (last_touch - start) * (step / steps)
            yield clock
            self.move(lead, clock, rep, OPEN_PATH[step])
        if not stale and rng.random() < 0.6:
            records.append(self.interaction(customer, last_touch, rep, lead.id))
        if stage in ("proposal", "negotiation") and rng.random() < 0.7:
            try:
                lead.request_discount(self.ctx(rep, last_touch), self.new_id(),
                                      str(rng.choice([12, 15, 18, 22, 25, 30])),
                                      "competitive offer", self.rules)
            except RuleViolation as violation:
                self.refused(violation)

    def open_task(self, customer: Customer, created: datetime, due: datetime, rep: str,
                  records: list[AggregateRoot]) -> Episode:
        """A task the rep gave themselves, due soon or already overdue, filed in the
        customer's file (the task-reminder rule raises its alerts once `crm serve` runs)."""
        rng = self.rng
        ctx = self.ctx(rep, created)
        task = Task.create(
            self.new_id(), ctx, customer_id=customer.id, title=rng.choice(TASK_TITLES),
            assignee=rep, due_at=due,
            remind_before=timedelta(minutes=rng.choice((15, 30, 60))) if rng.random() < 0.6
            else None)
        filing = next((r for r in records if isinstance(r, CustomerFile)), None)
        if filing is None:
            filing = CustomerFile.at_version(customer.id, self.tenant_id, 0)
            records.append(filing)
        filing.file(ctx, "task", task.id)
        records.append(task)
        yield from ()  # one step

    def open_ticket(self, customer: Customer, opened: datetime,
                    records: list[AggregateRoot]) -> Episode:
        """A ticket still open: answered, waiting for the customer, or not answered yet (past
        its first-response target when it has waited long enough: the SLA policy escalates)."""
        rng = self.rng
        priority = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
        agent = rng.choice(AGENTS)
        ticket = Ticket.open(
            self.new_id(), self.ctx("portal", opened), customer_id=customer.id,
            subject=rng.choice(TICKET_SUBJECTS), priority=priority,
            channel=rng.choice(["email", "phone", "chat", "web"]),
            assignee=agent if rng.random() < 0.7 else None,
        )
        customer.link(self.ctx("portal", opened), "ticket", ticket.id)
        self.summary.tickets += 1
        records.append(ticket)
        roll = rng.random()
        if roll < 0.5:
            return  # nobody has answered yet
        clock = self.later(opened, RESOLVE_HOURS[priority] / 12)
        yield clock
        try:
            if ticket.assignee is None:
                ticket.assign(self.ctx("dispatcher", clock), agent)
            if roll < 0.8:
                ticket.comment(self.ctx(agent, clock), self.new_id(), "Looking into it",
                               "agent", True)
            else:
                ticket.change_status(self.ctx(agent, clock), "pending", "waiting for customer")
        except RuleViolation as violation:
            self.refused(violation)


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small means used here."""
    limit, k, product = pow(2.718281828459045, -mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k
