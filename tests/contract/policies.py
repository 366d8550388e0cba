"""The automation policies, run against one composition (embedded, or PostgreSQL + Kafka).

Each test uses a tenant of its own and a `ManualClock` of its own. Facts are back-dated (their
business time set by the command context) and the clock starts at the first of them, so a
deadline passes when the test moves the clock, never by waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.bootstrap import Chronicle, Parts
from services.command.domain.aggregate import CommandContext
from services.command.domain.errors import InvalidRules, RuleViolation
from services.command.policies.engine import PolicyEngine, RoundResult
from services.command.service import CommandService, NewCustomer
from services.common.clock import ManualClock
from services.common.event_store import ChronicleStore
from services.common.events.customer import CustomerPersonal
from services.common.events.envelope import CrmEvent
from services.common.settings import Settings
from services.projections.host import ProjectorHost
from services.projections.policy_state.reads import NAME as STATE
from services.projections.policy_state.reads import PolicyStateReads
from services.projections.stores.sql import SqlReadStore
from services.query.read_models import PublishedThrough
from tests.waiting import eventually

SETTLE_TIMEOUT_S = 60.0

RULES = '''
[org]
managers = { alice = "maria", bob = "maria", carol = "victor", agent-1 = "sam" }

[[assignment.teams]]
id = "emea"
members = ["alice", "bob"]
max_open_leads = 1

[[assignment.rules]]
id = "strategic-accounts"
min_amount = "100000"
to = "carol"

[[assignment.rules]]
id = "proposal-to-seniors"
stages = ["proposal"]
to = "carol"
reassign = true

[assignment]
default_team = "emea"

[follow_up]
default = "5d"
[follow_up.stages]
new = "2d"

[sla.first_response]
normal = "4h"
[sla.resolution]
normal = "3d"
high = "2d"
[sla.escalation]
raise_priority = true
reassign_to = "agent-lead"
notify = ["support-manager"]

[discount]
approval_threshold_percent = "10"
approvers = [{ above_percent = "10", approver = "maria" }, { above_percent = "25", approver = "vp-sales" }]

[lifecycle]
dormant_after = "90d"
'''


@dataclass
class Stack:
    crm: Chronicle
    settings: Settings
    store: ChronicleStore
    service: CommandService
    projectors: ProjectorHost
    published_through: PublishedThrough
    engines: list[PolicyEngine] = field(default_factory=list)
    """Every engine made for a test; the test's `world` closes them when it ends."""

    def settle(self, position: int) -> None:
        """Wait until the policy state has applied the event at `position`."""
        runner = self.projectors.runners[STATE]
        assert runner.wait_until(position, SETTLE_TIMEOUT_S, self.published_through), \
            f"policy state did not reach position {position}"

    def engine(self, tenant: str, clock: ManualClock, limit: int = 500,
               state_reached: Callable[[int, float], bool] | None = None) -> PolicyEngine:
        """An engine for `tenant` on the policy state (`state_reached`: how it waits for the
        state to apply a position; by default it asks the state's runner)."""
        self.engines.append(self.crm.new_policy_engine(
            clock, tenants=[tenant], limit=limit, state_reached=state_reached))
        return self.engines[-1]


@dataclass
class Tenant:
    """One test's world: a tenant, its clock, its engine, and helpers to act in it."""

    stack: Stack
    tenant: str
    clock: ManualClock
    engine: PolicyEngine
    last_position: int = 0
    rounds: list[RoundResult] = field(default_factory=list)

    def ctx(self, actor: str = "rep-1", at: datetime | None = None) -> CommandContext:
        return CommandContext(actor=actor, tenant_id=self.tenant,
                              occurred_at=at or self.clock.now())

    def did(self, result: Any) -> Any:
        self.last_position = max(self.last_position, result.position)
        return result

    def run(self) -> RoundResult:
        """Let the state catch up with everything done so far, then one policy round."""
        if self.last_position:
            self.stack.settle(self.last_position)
        result = self.engine.run_once()
        self.last_position = max(self.last_position, result.position)
        self.rounds.append(result)
        return result

    def customer(self, at: datetime | None = None) -> UUID:
        result = self.did(self.stack.service.register_customer(
            self.ctx(at=at), NewCustomer(personal=CustomerPersonal(name="Grace"))))
        return UUID(result.ids["customer_id"])

    def lead(self, customer: UUID, *, amount: str | None = None, owner: str | None = None,
             at: datetime | None = None, title: str = "Deal") -> UUID:
        result = self.did(self.stack.service.create_lead(
            self.ctx(at=at), customer_id=customer, new_customer=None, title=title,
            amount=amount, currency="EUR" if amount else None, owner=owner))
        return UUID(result.ids["lead_id"])

    def events(self, aggregate: UUID) -> list[CrmEvent]:
        return [p.event for p in self.stack.service.log.events_of([aggregate])]

    def history(self, customer: UUID) -> list[CrmEvent]:
        found = self.stack.service.log.customer_history(customer, self.tenant)
        assert found is not None
        return [p.event for p in found]


class AppliedDuringTheRound(PolicyStateReads):
    """The policy state of a projector that applies a new lead while a round runs: the first
    time the assignment asks for leads without an owner, it is not there yet; every later
    question sees it."""

    def __init__(self, store: SqlReadStore) -> None:
        super().__init__(store)
        self._asked = False

    def unassigned_leads(self, tenant: str, *, limit: int,
                         after_position: int | None = None) -> list[dict[str, Any]]:
        if not self._asked:
            self._asked = True
            return []
        return super().unassigned_leads(tenant, limit=limit, after_position=after_position)


def of_type(events: list[CrmEvent], name: str) -> list[Any]:
    return [e for e in events if type(e).__name__ == name]


START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=200)


class PoliciesContract:
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, tmp_path_factory: pytest.TempPathFactory) -> Settings:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def stack(cls, settings: Settings) -> Iterator[Stack]:
        # The policy state and the command service, with the relay when Kafka is configured;
        # each test runs its own engine, for its own tenant, on its own clock.
        with Chronicle(settings, Parts(commands=True, read_models=[STATE],
                                       relay=bool(settings.kafka_bootstrap))) as crm:
            assert crm.store is not None
            yield Stack(crm, settings, crm.store, crm.command_service, crm.projector_host,
                        crm.published_through)

    @pytest.fixture
    def world(self, stack: Stack) -> Iterator[Tenant]:
        tenant = f"t-{uuid4().hex[:10]}"
        clock = ManualClock(START)
        stack.service.change_rules(CommandContext("ops-lead", tenant), RULES, "rules.toml")
        yield Tenant(stack, tenant, clock, stack.engine(tenant, clock))
        while stack.engines:  # their threads that issue commands stop
            stack.engines.pop().close()

    # -- lead assignment ----------------------------------------------------------------------

    def test_new_leads_go_to_the_first_matching_rule_else_round_robin_under_the_cap(
            self, world: Tenant) -> None:
        customer = world.customer()
        strategic = world.lead(customer, amount="250000.00")
        first, second, third = (world.lead(customer, title=f"Deal {n}") for n in range(3))
        result = world.run()
        assert result.issued == 3 and result.by_policy == {"assignment": 3}
        owners = {lead: of_type(world.events(lead), "LeadAssigned") for lead in
                  (strategic, first, second, third)}
        assert [(e.to_owner, e.actor) for e in owners[strategic]] == \
            [("carol", "rule:strategic-accounts")]
        assert [(e.to_owner, e.actor) for e in owners[first]] == [("alice", "rule:default-team")]
        assert [e.to_owner for e in owners[second]] == ["bob"]
        assert owners[third] == []  # alice and bob are at their cap of one open lead
        created = world.events(strategic)[0]
        assert owners[strategic][0].causation_id == created.event_id
        assert owners[strategic][0].correlation_id == created.correlation_id

        # A closed lead frees a place: the waiting lead goes to that rep.
        world.did(world.stack.service.change_lead_stage(
            world.ctx("alice"), first, "lost", reason="no budget"))
        assert world.run().issued == 1
        assert [e.to_owner for e in of_type(world.events(third), "LeadAssigned")] == ["alice"]
        assert world.run().issued == 0

    def test_leads_waiting_for_room_in_a_full_team_do_not_hide_a_lead_a_person_rule_takes(
            self, world: Tenant) -> None:
        world.engine = world.stack.engine(world.tenant, world.clock, limit=2)
        customer = world.customer()
        waiting = [world.lead(customer, title=f"Deal {n}") for n in range(5)]
        strategic = world.lead(customer, amount="250000.00")
        # Alice and bob (then the limit), then past three leads waiting for room in the full
        # team, the strategic lead behind them.
        assert world.run().by_policy == {"assignment": 3}
        assert [e.to_owner for e in of_type(world.events(strategic), "LeadAssigned")] == ["carol"]
        assert [len(of_type(world.events(lead), "LeadAssigned")) for lead in waiting] == \
            [1, 1, 0, 0, 0]
        assert world.run().issued == 0

    def test_a_running_engine_assigns_a_new_lead_without_waiting_for_its_interval(
            self, world: Tenant) -> None:
        stop = threading.Event()
        worker = threading.Thread(target=world.engine.run, args=(stop, 3600.0), daemon=True)
        worker.start()
        try:
            eventually(lambda: world.engine.last_round_at is not None, SETTLE_TIMEOUT_S,
                       "the running engine did its first round (every policy)")
            lead = world.lead(world.customer())
            eventually(lambda: of_type(world.events(lead), "LeadAssigned"), SETTLE_TIMEOUT_S,
                       "the new lead was assigned before the hourly round")
        finally:
            stop.set()
            worker.join(timeout=15)
            world.engine.close()
        assert not worker.is_alive()
        assigned = of_type(world.events(lead), "LeadAssigned")
        assert [(e.to_owner, e.actor) for e in assigned] == [("alice", "rule:default-team")]

    def test_a_lead_reaching_a_stage_named_by_a_reassign_rule_changes_hands(
            self, world: Tenant) -> None:
        customer = world.customer()
        lead = world.lead(customer, owner="bob", amount="5000.00")
        service = world.stack.service
        world.did(service.change_lead_stage(world.ctx("bob"), lead, "contacted"))
        world.did(service.change_lead_stage(world.ctx("bob"), lead, "qualified",
                                            budget_confirmed=True))
        assert world.run().issued == 0
        world.did(service.change_lead_stage(world.ctx("bob"), lead, "proposal"))
        assert world.run().by_policy == {"assignment": 1}
        handed = of_type(world.events(lead), "LeadAssigned")
        assert [(e.from_owner, e.to_owner, e.actor) for e in handed] == \
            [("bob", "carol", "rule:proposal-to-seniors")]
        stage_change = of_type(world.events(lead), "LeadStageChanged")[-1]
        assert handed[0].causation_id == stage_change.event_id
        assert world.run().issued == 0

    def test_leads_no_reassign_rule_matches_do_not_hide_a_later_one_it_does(
            self, world: Tenant) -> None:
        large_only = RULES.replace('stages = ["proposal"]\nto = "carol"',
                                   'stages = ["proposal"]\nmin_amount = "50000"\nto = "carol"')
        assert large_only != RULES
        world.stack.service.change_rules(CommandContext("ops-lead", world.tenant), large_only,
                                         "rules.toml")
        world.engine = world.stack.engine(world.tenant, world.clock, limit=2)
        customer = world.customer()
        service = world.stack.service
        leads = []
        for amount in ("5000.00", "6000.00", "7000.00", "60000.00"):
            lead = world.lead(customer, owner="bob", amount=amount)
            world.did(service.change_lead_stage(world.ctx("bob"), lead, "contacted"))
            world.did(service.change_lead_stage(world.ctx("bob"), lead, "qualified",
                                                budget_confirmed=True))
            world.did(service.change_lead_stage(world.ctx("bob"), lead, "proposal"))
            leads.append(lead)
        assert world.run().by_policy == {"assignment": 1}
        assert [[(e.to_owner, e.actor) for e in of_type(world.events(lead), "LeadAssigned")]
                for lead in leads] == [[], [], [], [("carol", "rule:proposal-to-seniors")]]
        assert world.run().issued == 0

    # -- follow-ups ---------------------------------------------------------------------------

    def test_an_untouched_lead_is_overdue_once_per_window_and_clears_on_contact(
            self, world: Tenant) -> None:
        customer = world.customer()
        lead = world.lead(customer, owner="alice")
        world.clock.advance(timedelta(days=2) - timedelta(seconds=1))
        assert world.run().issued == 0
        world.clock.advance(timedelta(seconds=1))
        assert world.run().by_policy == {"follow_up": 1}
        assert world.run().issued == 0  # once per window
        overdue = of_type(world.events(lead), "FollowUpOverdue")
        assert [(e.owner, e.manager, e.stage, e.window, e.actor) for e in overdue] == \
            [("alice", "maria", "new", "first", "rule:follow-up")]
        assert overdue[0].days_without_contact == 2
        assert overdue[0].causation_id == world.events(lead)[0].event_id
        alerts = of_type(world.history(customer), "AlertRaised")
        assert [(a.kind, a.assignees, a.subject_id) for a in alerts] == \
            [("follow_up_overdue", ["alice", "maria"], lead)]

        world.clock.advance(timedelta(days=2))
        assert world.run().by_policy == {"follow_up": 1}
        assert [e.window for e in of_type(world.events(lead), "FollowUpOverdue")] == \
            ["first", "repeat"]

        # Contact: the open alerts resolve themselves, and the window starts again.
        logged = world.did(world.stack.service.log_interaction(
            world.ctx("alice"), customer, channel="call", direction="outbound", lead_id=lead))
        assert world.run().by_policy == {"alert_clearing": 2}
        resolved = of_type(world.history(customer), "AlertResolved")
        assert len(resolved) == 2 and {r.actor for r in resolved} == {"rule:follow-up"}
        interaction = UUID(logged.ids["interaction_id"])
        assert {r.causation_id for r in resolved} == {world.events(interaction)[0].event_id}
        world.clock.advance(timedelta(days=1))
        assert world.run().issued == 0

    def test_a_lead_assigned_and_overdue_in_one_round_is_chased_with_its_new_owner(
            self, world: Tenant) -> None:
        customer = world.customer()
        lead = world.lead(customer)
        world.clock.advance(timedelta(days=3))
        assert world.run().by_policy == {"assignment": 1, "follow_up": 1}
        assigned = of_type(world.events(lead), "LeadAssigned")
        overdue = of_type(world.events(lead), "FollowUpOverdue")
        assert [e.to_owner for e in assigned] == ["alice"]
        assert [(e.owner, e.manager) for e in overdue] == [("alice", "maria")]
        alerts = of_type(world.history(customer), "AlertRaised")
        assert [(a.kind, a.assignees) for a in alerts] == \
            [("follow_up_overdue", ["alice", "maria"])]

    def test_a_lead_the_state_shows_only_after_assignment_looked_is_chased_with_its_owner(
            self, world: Tenant) -> None:
        customer = world.customer()
        lead = world.lead(customer)
        world.stack.settle(world.last_position)
        world.clock.advance(timedelta(days=3))
        # The projector applies the new lead while the round runs (`crm serve` on Kafka, its
        # consumer catching up after joining the group): assignment asks before, follow-up after.
        assert world.stack.projectors.sql_store is not None
        world.engine.state = AppliedDuringTheRound(world.stack.projectors.sql_store)
        assert world.run().by_policy == {"assignment": 1, "follow_up": 1}
        overdue = of_type(world.events(lead), "FollowUpOverdue")
        assert [(e.owner, e.manager) for e in overdue] == [("alice", "maria")]
        alerts = of_type(world.history(customer), "AlertRaised")
        assert [(a.kind, a.assignees) for a in alerts] == \
            [("follow_up_overdue", ["alice", "maria"])]

    def test_a_round_whose_assignments_the_state_does_not_show_in_time_stops_before_follow_ups(
            self, world: Tenant) -> None:
        customer = world.customer()
        lead = world.lead(customer)
        world.stack.settle(world.last_position)
        world.clock.advance(timedelta(days=3))
        lagging = world.stack.engine(world.tenant, world.clock,
                                     state_reached=lambda position, timeout_s: False)
        stopped = world.did(lagging.run_once())
        assert stopped.by_policy == {"assignment": 1} and stopped.stopped_early
        assert of_type(world.events(lead), "FollowUpOverdue") == []
        assert world.run().by_policy == {"follow_up": 1}  # the next round, on a caught-up state
        overdue = of_type(world.events(lead), "FollowUpOverdue")
        assert [(e.owner, e.manager) for e in overdue] == [("alice", "maria")]

    def test_a_round_places_every_lead_it_can_before_chasing_follow_ups_past_its_limit(
            self, world: Tenant) -> None:
        world.engine = world.stack.engine(world.tenant, world.clock, limit=1)
        customer = world.customer()
        leads = [world.lead(customer, title=f"Deal {n}") for n in range(2)]
        world.clock.advance(timedelta(days=3))
        assert world.run().by_policy == {"assignment": 2, "follow_up": 1}
        assert world.run().by_policy == {"follow_up": 1}  # the limit holds for follow-ups
        overdue = [of_type(world.events(lead), "FollowUpOverdue") for lead in leads]
        assert sorted((e.owner, e.manager) for found in overdue for e in found) == \
            [("alice", "maria"), ("bob", "maria")]

    # -- ticket SLAs --------------------------------------------------------------------------

    def test_a_missed_first_response_is_recorded_and_escalated_once(self, world: Tenant) -> None:
        customer = world.customer()
        service = world.stack.service
        opened = world.did(service.open_ticket(world.ctx("agent-1"), customer, subject="Broken",
                                               priority="normal", assignee="agent-1"))
        ticket = UUID(opened.ids["ticket_id"])
        world.clock.advance(timedelta(hours=4) - timedelta(seconds=1))
        assert world.run().issued == 0
        world.clock.advance(timedelta(seconds=1))
        assert world.run().by_policy == {"sla": 1}
        events = world.events(ticket)
        breach = of_type(events, "TicketSlaBreached")
        assert [(b.sla, b.priority, b.target_seconds, b.actor) for b in breach] == \
            [("first_response", "normal", 4 * 3600, "rule:sla-first-response")]
        assert breach[0].deadline == START + timedelta(hours=4)
        assert [(e.from_priority, e.to_priority) for e in of_type(events, "TicketPriorityChanged")] \
            == [("normal", "high")]
        assert [e.to_assignee for e in of_type(events, "TicketAssigned")] == ["agent-lead"]
        alert = of_type(world.history(customer), "AlertRaised")[0]
        assert alert.kind == "sla_breached" and alert.assignees == ["agent-lead", "support-manager"]
        assert world.run().issued == 0

        # Raised to high: its resolution target (2 days from opening) applies.
        world.clock.advance(timedelta(days=2))
        assert world.run().by_policy == {"sla": 1}
        assert [b.sla for b in of_type(world.events(ticket), "TicketSlaBreached")] == \
            ["first_response", "resolution"]
        # high → urgent; the ticket is already with agent-lead
        world.did(service.change_ticket_status(world.ctx("agent-lead"), ticket, "resolved"))
        assert world.run().by_policy == {"alert_clearing": 2}
        assert world.run().issued == 0

    # -- discount approval --------------------------------------------------------------------

    def test_a_large_discount_waits_for_the_approver_of_its_tier(self, world: Tenant) -> None:
        customer = world.customer()
        service = world.stack.service
        lead = world.lead(customer, owner="alice", amount="1000.00")
        requested = world.did(service.request_discount(world.ctx("alice"), lead, "30"))
        discount = UUID(requested.ids["discount_id"])
        result = world.run()
        assert result.by_policy.get("discount_approval") == 1
        asked = of_type(world.events(lead), "DiscountApprovalRequested")
        assert [(a.approver, a.actor) for a in asked] == [("vp-sales", "rule:discount-approval-above-25")]
        alerts = [a for a in of_type(world.history(customer), "AlertRaised")
                  if a.kind == "discount_approval"]
        assert [a.assignees for a in alerts] == [["vp-sales"]]
        with pytest.raises(RuleViolation) as refused:
            service.approve_discount(world.ctx("maria"), lead, discount)
        assert refused.value.rule == "approver_not_designated"
        world.did(service.approve_discount(world.ctx("vp-sales"), lead, discount))
        assert world.run().by_policy.get("alert_clearing") == 1

    # -- dormancy -----------------------------------------------------------------------------

    def test_a_quiet_buyer_becomes_dormant_once_per_quiet_spell(self, world: Tenant) -> None:
        customer = world.customer()
        service = world.stack.service
        world.did(service.record_purchase(world.ctx(), customer, amount="10.00", currency="EUR"))
        world.clock.advance(timedelta(days=90) - timedelta(seconds=1))
        assert world.run().issued == 0
        world.clock.advance(timedelta(seconds=1))
        assert world.run().by_policy == {"dormancy": 1}
        assert world.run().issued == 0
        dormant = of_type(world.history(customer), "CustomerBecameDormant")
        assert [(d.last_activity_at, d.dormant_after_days, d.actor) for d in dormant] == \
            [(START, 90, "rule:dormancy")]
        world.did(service.record_purchase(world.ctx(), customer, amount="12.00", currency="EUR"))
        world.clock.advance(timedelta(days=90))
        assert world.run().by_policy == {"dormancy": 1}
        assert len(of_type(world.history(customer), "CustomerBecameDormant")) == 2

    # -- time, restarts and replays -----------------------------------------------------------

    def test_a_restart_between_the_command_and_its_event_issues_nothing_twice(
            self, world: Tenant) -> None:
        customer = world.customer()
        lead = world.lead(customer, owner="alice")
        world.stack.settle(world.last_position)
        world.clock.advance(timedelta(days=3))
        now = world.clock.now()
        due = [a for a in world.engine.decide(now) if a.policy == "follow_up"]
        assert len(due) == 1
        # A restarted process reads the same state: its policy state had not yet applied the
        # command the first process issued just before it stopped.
        restarted = world.stack.engine(world.tenant, world.clock)
        due_again = [a for a in restarted.decide(now) if a.policy == "follow_up"]
        assert [a.key for a in due_again] == [due[0].key]
        first = due[0].issue(world.stack.service, due[0].context(now), due[0].idempotency())
        second = due_again[0].issue(world.stack.service, due_again[0].context(now),
                                    due_again[0].idempotency())
        assert (first.replayed, second.replayed) == (False, True)
        assert second.position == first.position
        assert len(of_type(world.events(lead), "FollowUpOverdue")) == 1
        world.stack.settle(first.position)
        assert restarted.run_once().issued == 0
        assert len(of_type(world.events(lead), "FollowUpOverdue")) == 1

    def test_the_same_state_and_clock_give_the_same_decisions(self, world: Tenant) -> None:
        customer = world.customer()
        for n in range(3):
            world.lead(customer, title=f"Deal {n}")
        world.did(world.stack.service.open_ticket(world.ctx(), customer, subject="Slow",
                                                  priority="normal"))
        world.stack.settle(world.last_position)
        world.clock.advance(timedelta(days=3))
        now = world.clock.now()
        first = world.engine.decide(now)
        again = world.stack.engine(world.tenant, ManualClock(now)).decide(now)
        assert [a.key for a in first] == [a.key for a in again]
        assert {a.policy for a in first} == {"assignment", "follow_up", "sla"}
        assert [(a.actor, a.cause_event_id) for a in first] == \
            [(a.actor, a.cause_event_id) for a in again]

    def test_the_state_lists_every_tenant_with_customers_once(self, world: Tenant) -> None:
        world.customer()
        world.customer()
        world.stack.settle(world.last_position)
        assert world.stack.projectors.sql_store is not None
        state = PolicyStateReads(world.stack.projectors.sql_store)
        distinct = state.store.query("SELECT DISTINCT tenant_id FROM policy_customers")
        listed = state.tenants()
        assert world.tenant in listed
        assert listed == sorted(row["tenant_id"] for row in distinct)

    # -- the rules file -----------------------------------------------------------------------

    def test_a_refused_rules_file_names_the_line_and_the_rules_in_force_stay(
            self, world: Tenant) -> None:
        bad = RULES.replace('new = "2d"', 'new = "two days"')
        line = bad.splitlines().index('new = "two days"') + 1
        with pytest.raises(InvalidRules) as refused:
            world.stack.service.change_rules(CommandContext("ops-lead", world.tenant), bad,
                                             "rules.toml")
        problems = refused.value.details["problems"]
        assert [(p["line"], p["path"]) for p in problems] == [(line, "follow_up.stages.new")]
        assert "not a duration" in problems[0]["reason"]
        rules = world.stack.service.rules_book.rule_set(world.tenant)
        assert rules.follow_up_window("new") == timedelta(days=2)
        customer = world.customer()
        world.lead(customer, owner="bob")
        world.clock.advance(timedelta(days=2))
        assert world.run().by_policy == {"follow_up": 1}
