"""The task-reminder policy, run against one composition (embedded, or PostgreSQL + Kafka): a
reminder at the due time less `remind_before`, another alert once the task is overdue, both
resolved when it is done, cancelled or moved; and across a restart of the policies no reminder
lost and none doubled.

As in tests/contract/policies.py each test has a tenant and a `ManualClock` of its own; facts
are back-dated to the clock, so deadlines pass when the test moves the clock, never by waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.bootstrap import Chronicle, Parts
from services.command.domain.aggregate import CommandContext
from services.command.service import CommandService, NewCustomer
from services.common.clock import ManualClock
from services.common.events.customer import CustomerPersonal
from services.common.events.envelope import CrmEvent
from services.common.settings import Settings
from services.projections.policy_state.reads import NAME as STATE
from tests.contract.policies import SETTLE_TIMEOUT_S, START, Stack, Tenant, of_type

DAY = timedelta(days=1)


def task_alerts(world: Tenant, customer: UUID, task: UUID) -> list[Any]:
    return [a for a in of_type(world.history(customer), "AlertRaised") if a.subject_id == task]


def new_task(service: CommandService, ctx: CommandContext, customer: UUID, *,
             due: datetime, remind_before: timedelta | None, assignee: str = "rep-1") -> Any:
    return service.create_task(ctx, customer_id=customer, title="Call Ada back",
                               assignee=assignee, due_at=due, remind_before=remind_before)


class TaskRemindersContract:
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, tmp_path_factory: pytest.TempPathFactory) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def restart_settings(self, tmp_path_factory: pytest.TempPathFactory) -> Settings:
        """Settings of a store of its own, for a test that stops and starts the policies."""
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def stack(cls, settings: Settings) -> Iterator[Stack]:
        with Chronicle(settings, Parts(commands=True, read_models=[STATE],
                                       relay=bool(settings.kafka_bootstrap))) as crm:
            assert crm.store is not None
            yield Stack(crm, settings, crm.store, crm.command_service, crm.projector_host,
                        crm.published_through)

    @pytest.fixture
    def world(self, stack: Stack) -> Iterator[Tenant]:
        tenant = f"t-{uuid4().hex[:10]}"
        clock = ManualClock(START)
        yield Tenant(stack, tenant, clock, stack.engine(tenant, clock))
        while stack.engines:
            stack.engines.pop().close()

    def _task(self, world: Tenant, customer: UUID, *, due: datetime,
              remind_before: timedelta | None, actor: str = "rep-1",
              assignee: str = "rep-1") -> UUID:
        result = world.did(new_task(world.stack.service, world.ctx(actor), customer, due=due,
                                    remind_before=remind_before, assignee=assignee))
        return UUID(result.ids["task_id"])

    # -- reminders and overdue alerts ----------------------------------------------------------

    def test_a_task_is_reminded_before_it_is_due_flagged_when_overdue_and_cleared_when_done(
            self, world: Tenant) -> None:
        customer = world.customer()
        due = START + DAY
        task = self._task(world, customer, due=due, remind_before=timedelta(minutes=15),
                          actor="mgr-1")
        world.clock.advance(DAY - timedelta(minutes=15, seconds=1))
        assert world.run().issued == 0
        world.clock.advance(timedelta(seconds=1))
        assert world.run().by_policy == {"task_reminder": 1}
        assert world.run().issued == 0  # once
        created = world.events(task)[0]
        (reminded,) = of_type(world.events(task), "TaskReminded")
        assert (reminded.due_at, reminded.remind_before_s, reminded.actor) == \
            (due, 900, "rule:task-reminder")
        assert (reminded.causation_id, reminded.correlation_id) == \
            (created.event_id, created.correlation_id)
        (alert,) = task_alerts(world, customer, task)
        assert (alert.kind, alert.subject_kind, alert.assignees, alert.due_at) == \
            ("task_reminder", "task", ["rep-1"], due)
        assert "Call Ada back" not in alert.summary  # the title is personal

        world.clock.advance(timedelta(minutes=15) - timedelta(seconds=1))
        assert world.run().issued == 0
        world.clock.advance(timedelta(seconds=1))
        assert world.run().by_policy == {"task_reminder": 1}
        (overdue,) = of_type(world.events(task), "TaskOverdue")
        assert overdue.due_at == due
        alerts = task_alerts(world, customer, task)
        assert [(a.kind, a.assignees) for a in alerts] == \
            [("task_reminder", ["rep-1"]), ("task_overdue", ["rep-1", "mgr-1"])]
        # overdue now: the reminder has done its work and resolves itself
        assert world.run().by_policy == {"alert_clearing": 1}
        (cleared,) = of_type(world.history(customer), "AlertResolved")
        assert (cleared.aggregate_id, cleared.causation_id, cleared.actor) == \
            (alerts[0].aggregate_id, overdue.event_id, "rule:task-reminder")
        assert world.run().issued == 0

        done = world.did(world.stack.service.complete_task(world.ctx(), task))
        assert world.run().by_policy == {"alert_clearing": 1}
        resolved = of_type(world.history(customer), "AlertResolved")
        assert [r.aggregate_id for r in resolved] == [a.aggregate_id for a in alerts]
        completed = of_type(world.events(task), "TaskCompleted")[0]
        assert resolved[-1].causation_id == completed.event_id and done.version == 4
        world.clock.advance(DAY)
        assert world.run().issued == 0

    def test_a_rescheduled_task_is_reminded_again_for_its_new_time_and_its_old_alert_clears(
            self, world: Tenant) -> None:
        customer = world.customer()
        task = self._task(world, customer, due=START + DAY, remind_before=timedelta(hours=1))
        world.clock.advance(DAY - timedelta(minutes=30))
        assert world.run().by_policy == {"task_reminder": 1}
        new_due = START + 3 * DAY
        world.did(world.stack.service.reschedule_task(world.ctx(), task, new_due,
                                                      timedelta(hours=2)))
        assert world.run().by_policy == {"alert_clearing": 1}
        moved = of_type(world.events(task), "TaskRescheduled")[0]
        assert of_type(world.history(customer), "AlertResolved")[0].causation_id == \
            moved.event_id
        world.clock.advance(DAY)  # past the old due time: nothing, the task moved
        assert world.run().issued == 0
        world.clock.set(new_due - timedelta(hours=2))
        assert world.run().by_policy == {"task_reminder": 1}
        assert [(r.due_at, r.remind_before_s) for r in of_type(world.events(task),
                                                               "TaskReminded")] == \
            [(START + DAY, 3600), (new_due, 7200)]
        world.did(world.stack.service.cancel_task(world.ctx(), task))
        assert world.run().by_policy == {"alert_clearing": 1}
        world.clock.advance(DAY)
        assert world.run().issued == 0
        assert of_type(world.events(task), "TaskOverdue") == []

    def test_a_task_without_a_reminder_is_only_flagged_once_overdue(self, world: Tenant
                                                                     ) -> None:
        customer = world.customer()
        task = self._task(world, customer, due=START + DAY, remind_before=None)
        world.clock.advance(DAY - timedelta(seconds=1))
        assert world.run().issued == 0
        world.clock.advance(timedelta(seconds=1))
        assert world.run().by_policy == {"task_reminder": 1}
        assert [a.kind for a in task_alerts(world, customer, task)] == ["task_overdue"]
        assert of_type(world.events(task), "TaskReminded") == []
        world.clock.advance(DAY)
        assert world.run().issued == 0

    def test_an_erased_customers_open_tasks_are_not_chased(self, world: Tenant) -> None:
        customer = world.customer()
        self._task(world, customer, due=START + DAY, remind_before=timedelta(hours=1))
        world.did(world.stack.service.erase_customer(
            world.ctx("dpo"), customer, reason="Asked", legal_basis="gdpr_art_17",
            request_reference="DSR-1"))
        world.clock.advance(2 * DAY)
        result = world.run()
        assert result.issued == 0 and result.refused == 0

    # -- restarts -------------------------------------------------------------------------------

    def test_a_reminder_decided_twice_across_a_restart_is_written_once(self, world: Tenant
                                                                        ) -> None:
        customer = world.customer()
        task = self._task(world, customer, due=START + DAY, remind_before=timedelta(hours=1))
        world.stack.settle(world.last_position)
        world.clock.advance(DAY - timedelta(minutes=30))
        now = world.clock.now()
        due = [a for a in world.engine.decide(now) if a.policy == "task_reminder"]
        assert len(due) == 1
        # A restarted process reads the same state: it had not yet applied the command the
        # first process issued just before it stopped.
        restarted = world.stack.engine(world.tenant, world.clock)
        again = [a for a in restarted.decide(now) if a.policy == "task_reminder"]
        assert [a.key for a in again] == [due[0].key]
        first = due[0].issue(world.stack.service, due[0].context(now), due[0].idempotency())
        second = again[0].issue(world.stack.service, again[0].context(now),
                                again[0].idempotency())
        assert (first.replayed, second.replayed, second.position) == \
            (False, True, first.position)
        world.stack.settle(first.position)
        assert restarted.run_once().issued == 0
        assert len(of_type(world.events(task), "TaskReminded")) == 1
        assert len(task_alerts(world, customer, task)) == 1

    def test_reminders_due_while_the_policies_were_stopped_are_issued_once_after_a_restart(
            self, restart_settings: Settings) -> None:
        tenant, clock = f"t-{uuid4().hex[:10]}", ManualClock(START)
        parts = Parts(commands=True, read_models=[STATE],
                      relay=bool(restart_settings.kafka_bootstrap))

        def ctx(actor: str = "rep-1") -> CommandContext:
            return CommandContext(actor=actor, tenant_id=tenant, occurred_at=clock.now())

        with Chronicle(restart_settings, parts) as crm:
            service = crm.command_service
            customer = UUID(service.register_customer(
                ctx(), NewCustomer(personal=CustomerPersonal(name="Grace"))).ids["customer_id"])
            decided = UUID(new_task(service, ctx(), customer, due=START + DAY,
                                    remind_before=timedelta(hours=1)).ids["task_id"])
            waiting = new_task(service, ctx(), customer, due=START + DAY + timedelta(hours=2),
                               remind_before=timedelta(hours=1))
            undecided = UUID(waiting.ids["task_id"])
            _settle(crm, waiting.position)
            engine = crm.new_policy_engine(clock, tenants=[tenant])
            try:
                assert engine.run_once().issued == 0
                clock.advance(DAY - timedelta(minutes=30))  # the first task's reminder is due
                (action,) = [a for a in engine.decide(clock.now())
                             if a.policy == "task_reminder"]
                first = action.issue(service, action.context(clock.now()), action.idempotency())
                assert not first.replayed
            finally:
                engine.close()
            # ... and the process stops before its policy state shows that reminder.

        clock.advance(DAY)  # both tasks remind and fall due while nothing runs

        with Chronicle(restart_settings, parts) as crm:
            service = crm.command_service
            # On Kafka a restarted relay vouches for the topic from its first publish on: a
            # write of no concern to the policies lets the state be waited for.
            _settle(crm, service.tag_customer(ctx(), customer, "restarted").position)
            # The decision made before the stop, made again, writes nothing.
            repeat = action.issue(service, action.context(clock.now()), action.idempotency())
            assert (repeat.replayed, repeat.position) == (True, first.position)
            engine = crm.new_policy_engine(clock, tenants=[tenant])
            try:
                # The first task is overdue; the second both reminds and is overdue: its
                # reminder was never lost.
                assert engine.run_once().by_policy == {"task_reminder": 3}
                assert engine.run_once().by_policy == {"alert_clearing": 2}
                assert engine.run_once().issued == 0
            finally:
                engine.close()

            def events(aggregate: UUID) -> list[CrmEvent]:
                return [p.event for p in service.log.events_of([aggregate])]

            for task in (decided, undecided):
                assert len(of_type(events(task), "TaskReminded")) == 1, task
                assert len(of_type(events(task), "TaskOverdue")) == 1, task
            history = service.log.customer_history(customer, tenant)
            assert history is not None
            raised: list[Any] = [e.event for e in history
                                 if type(e.event).__name__ == "AlertRaised"]
            assert sorted((a.subject_id == decided, a.kind) for a in raised) == [
                (False, "task_overdue"), (False, "task_reminder"),
                (True, "task_overdue"), (True, "task_reminder")]


def _settle(crm: Chronicle, position: int) -> None:
    runner = crm.projector_host.runners[STATE]
    assert runner.wait_until(position, SETTLE_TIMEOUT_S, crm.published_through), \
        f"the policy state did not reach position {position}: {runner.status()}, " \
        f"published {crm.published_through()}"
