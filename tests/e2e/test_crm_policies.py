"""`crm policies` as an operator runs it beside the command API: real processes on one store.

Each process rebuilds or resumes the policy state from the store, so a decision taken by one
process and a restart after it must never be issued again by the next.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from services.command.domain.aggregate import CommandContext
from services.command.service import CommandService, NewCustomer
from services.common.event_store import ChronicleStore, open_event_store
from services.common.events.customer import CustomerPersonal
from services.common.events.envelope import CrmEvent
from services.common.settings import Settings
from tests.e2e.test_crm_serve import CRM
from tests.waiting import eventually

RULES = """
[org]
managers = { alice = "maria" }

[[assignment.teams]]
id = "inside-sales"
members = ["alice", "bob"]

[assignment]
default_team = "inside-sales"

[follow_up]
default = "3d"
"""


def _service(data_dir: Path) -> tuple[CommandService, ChronicleStore]:
    settings = Settings(data_dir=data_dir)
    store = open_event_store(settings)
    return CommandService(store, settings), store


def _data_dir_with_rules(tmp_path: Path) -> Path:
    data_dir = tmp_path / "crm-data"
    service, store = _service(data_dir)
    try:
        service.change_rules(CommandContext("ops-lead", "default"), RULES, "rules.toml")
    finally:
        service.close()
        store.close()
    return data_dir


def _new_lead(data_dir: Path, days_ago: int) -> UUID:
    service, store = _service(data_dir)
    try:
        ctx = CommandContext("rep-1", "default",
                             occurred_at=datetime.now(UTC) - timedelta(days=days_ago))
        customer = service.register_customer(ctx, NewCustomer(personal=CustomerPersonal(
            name="Grace Hopper")))
        lead = service.create_lead(ctx, customer_id=UUID(customer.ids["customer_id"]),
                                   new_customer=None, title="Compiler licence", amount=None,
                                   currency=None, owner=None)
        return UUID(lead.ids["lead_id"])
    finally:
        service.close()
        store.close()


def _events(data_dir: Path, aggregate: UUID) -> list[CrmEvent]:
    service, store = _service(data_dir)
    try:
        return [p.event for p in service.log.events_of([aggregate])]
    finally:
        service.close()
        store.close()


def _policies(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CRM, "policies", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CRM_LOG_LEVEL": "warning"})


def _by_rule(events: list[CrmEvent], name: str) -> list[CrmEvent]:
    return [e for e in events if type(e).__name__ == name and e.actor.startswith("rule:")]


def test_each_policies_process_issues_what_is_due_once_across_restarts(tmp_path: Path) -> None:
    data_dir = _data_dir_with_rules(tmp_path)
    lead = _new_lead(data_dir, days_ago=10)
    before = len(_events(data_dir, lead))

    dry = _policies(data_dir, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    due = [json.loads(line) for line in dry.stdout.splitlines()]
    assert sorted((d["policy"], d["lead_id"]) for d in due) == \
        [("assignment", str(lead)), ("follow_up", str(lead))]
    assert len(_events(data_dir, lead)) == before, "a dry run issues nothing"

    first = _policies(data_dir, "--once")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("issued 2 command(s)"), first.stdout
    again = _policies(data_dir, "--once")  # a new process: the state resumes from the store
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("issued 0 command(s)"), again.stdout

    events = _events(data_dir, lead)
    assert [(e.to_owner, e.actor) for e in _by_rule(events, "LeadAssigned")] == \
        [("alice", "rule:default-team")]
    assert [(e.owner, e.manager, e.actor) for e in _by_rule(events, "FollowUpOverdue")] == \
        [("alice", "maria", "rule:follow-up")]


def test_a_running_policies_process_acts_on_new_leads_and_stops_on_sigterm(
        tmp_path: Path) -> None:
    data_dir = _data_dir_with_rules(tmp_path)
    log = tmp_path / "policies.log"
    with log.open("w") as out:
        process = subprocess.Popen([CRM, "policies", "--data-dir", str(data_dir)], stdout=out,
                                   stderr=subprocess.STDOUT,
                                   env={**os.environ, "CRM_LOG_LEVEL": "warning"})
    try:
        lead = _new_lead(data_dir, days_ago=0)

        def assigned() -> bool:
            assert process.poll() is None, f"crm policies exited: {log.read_text()}"
            return bool(_by_rule(_events(data_dir, lead), "LeadAssigned"))

        eventually(assigned, 60, lambda: f"the running process assigned no owner to the new "
                   f"lead: {log.read_text()}", interval_s=0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert "policies running on" in log.read_text()
    assert [e.to_owner for e in _by_rule(_events(data_dir, lead), "LeadAssigned")] == ["alice"]
