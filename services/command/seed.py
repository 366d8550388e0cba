"""Sample data: a small, believable book of business, written through the command service
(so every domain rule applies) with business times spread over the last fourteen months."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from services.command.domain.aggregate import CommandContext
from services.command.domain.errors import RuleViolation
from services.command.service import CommandService, NewCustomer
from services.common.events.customer import CustomerPersonal

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Frances",
         "John", "Radia", "Tim", "Katherine", "Dennis", "Hedy", "Claude", "Sophie", "Niklaus"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson",
        "Allen", "Backus", "Perlman", "Berners-Lee", "Johnson", "Ritchie", "Lamarr", "Shannon"]
COMPANIES = ["Analytical Engines Ltd", "Difference Works", "Harbor Logistics", "Nordlicht GmbH",
             "Sable & Sons", "Copperleaf Foods", "Lumen Health", "Atlas Freight", "Bright Forge"]
REGIONS = ["EMEA", "NA", "APAC", "LATAM"]
INDUSTRIES = ["manufacturing", "logistics", "retail", "healthcare", "software", "finance"]
SOURCES = ["web", "referral", "event", "outbound", "partner"]
REPS = ["rep-1", "rep-2", "rep-3", "rep-7"]
LOST_REASONS = ["price", "timing", "competitor", "no_budget", "no_response"]


@dataclass
class SeedSummary:
    customers: int = 0
    leads: int = 0
    interactions: int = 0
    tickets: int = 0
    purchases: int = 0
    last_position: int = 0


def seed_demo(service: CommandService, *, customers: int = 24, rng_seed: int = 7,
              tenant_id: str = "default", now: datetime | None = None) -> SeedSummary:
    rng = random.Random(rng_seed)
    now = now or datetime.now(UTC)
    summary = SeedSummary()
    for index in range(customers):
        start = now - timedelta(days=rng.randint(60, 420), hours=rng.randint(0, 23))
        clock = _Clock(start, now, rng)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        rep = rng.choice(REPS)

        def ctx(actor: str = rep, clock: _Clock = clock) -> CommandContext:
            return CommandContext(actor=actor, tenant_id=tenant_id, occurred_at=clock.tick())

        new = NewCustomer(
            personal=CustomerPersonal(
                name=f"{first} {last}",
                email=f"{first.lower()}.{last.lower().replace(' ', '')}{index}@example.com",
                phone=f"+44 20 7946 {index:04d}",
            ),
            company=rng.choice(COMPANIES), region=rng.choice(REGIONS),
            industry=rng.choice(INDUSTRIES), source=rng.choice(SOURCES), owner=rep,
            tags=rng.sample(["vip", "newsletter", "trial", "enterprise", "smb"], k=rng.randint(0, 2)),
        )
        result = service.register_customer(ctx(), new)
        customer_id = UUID(result.ids["customer_id"])
        summary.customers += 1
        for _ in range(rng.randint(1, 4)):
            service.log_interaction(
                ctx(), customer_id, channel=rng.choice(["call", "email", "meeting", "chat"]),
                direction=rng.choice(["inbound", "outbound"]), subject="Check-in",
                duration_s=rng.randint(60, 3600), body="Notes from the conversation",
            )
            summary.interactions += 1
        for _ in range(rng.randint(0, 2)):
            summary.leads += 1
            _walk_a_lead(service, rng, ctx, customer_id, rep)
        for number in range(rng.randint(0, 4)):
            result = service.record_purchase(
                ctx(), customer_id, amount=f"{rng.randint(20, 5000)}.{rng.randint(0, 99):02d}",
                currency="EUR", reference=f"INV-{index:03d}-{number}",
            )
            summary.purchases += 1
        if rng.random() < 0.5:
            result = service.open_ticket(
                ctx(), customer_id, subject=rng.choice(["Cannot log in", "Invoice question",
                                                        "Delivery delayed", "Feature request"]),
                priority=rng.choice(["low", "normal", "high", "urgent"]), channel="email",
            )
            summary.tickets += 1
            ticket_id = UUID(result.ids["ticket_id"])
            service.comment_on_ticket(ctx("agent-1"), ticket_id, "Looking into it")
            if rng.random() < 0.7:
                service.change_ticket_status(ctx("agent-1"), ticket_id, "resolved", None)
                if rng.random() < 0.6:
                    service.change_ticket_status(ctx("agent-1"), ticket_id, "closed", None)
        summary.last_position = service.log.max_position()
    return summary


class _Clock:
    """Business time moving forward a few hours to days per fact, never past `end`."""

    def __init__(self, start: datetime, end: datetime, rng: random.Random) -> None:
        self.now, self.end, self.rng = start, end, rng

    def tick(self) -> datetime:
        self.now = min(self.now + timedelta(hours=self.rng.randint(2, 240)), self.end)
        return self.now


def _walk_a_lead(service: CommandService, rng: random.Random, ctx, customer_id: UUID,  # type: ignore[no-untyped-def]
                 rep: str) -> None:
    result = service.create_lead(
        ctx(), customer_id=customer_id, new_customer=None,
        title=rng.choice(["Platform upgrade", "Annual licence", "Pilot project", "Support plan"]),
        source=rng.choice(SOURCES), amount=f"{rng.randint(1, 90) * 500}.00", currency="EUR",
        owner=rep,
    )
    lead_id = UUID(result.ids["lead_id"])
    path = ["contacted", "qualified", "proposal", "negotiation", "won"]
    stop = rng.randint(0, len(path))
    for stage in path[:stop]:
        if stage == "won" and rng.random() < 0.4:
            discount = service.request_discount(ctx(), lead_id, str(rng.choice([5, 15, 20])))
            if discount.ids["status"] == "pending":
                service.approve_discount(ctx("manager-1"), lead_id, UUID(discount.ids["discount_id"]))
        try:
            service.change_lead_stage(ctx(), lead_id, stage, budget_confirmed=True
                                      if stage == "qualified" else None)
        except RuleViolation:
            return
    if stop < len(path) and rng.random() < 0.5:
        service.change_lead_stage(ctx(), lead_id, "lost", reason=rng.choice(LOST_REASONS))
    if stop == len(path) and rng.random() < 0.7:
        service.receive_payment(ctx(), lead_id, "500.00", "EUR", reference=f"PAY-{lead_id.hex[:8]}")
