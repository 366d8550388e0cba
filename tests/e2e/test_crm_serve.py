"""`crm serve` as a user runs it: a real process, real HTTP, a real store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.services import free_port
from tests.waiting import eventually

CRM = shutil.which("crm", path=str(Path(sys.executable).parent)) or "crm"


def store_options(args: tuple[str, ...]) -> list[str]:
    """The store options among `crm serve`'s arguments, as every other command takes them."""
    return [part for i, arg in enumerate(args) if arg in ("--data-dir", "--postgres-url")
            for part in (arg, args[i + 1])]


class Keys:
    """API keys issued with `crm keys create` on the store a `crm serve` runs on."""

    def __init__(self, args: tuple[str, ...], env: dict[str, str] | None) -> None:
        self.args, self.env = store_options(args), env
        self.issued: dict[tuple[str, str], dict[str, str]] = {}

    def __call__(self, subject: str = "rep-1", role: str = "admin") -> dict[str, str]:
        """`Authorization` headers of a key for `subject` in the default tenant."""
        if (subject, role) not in self.issued:
            done = subprocess.run([CRM, "keys", "create", "--role", role, "--subject", subject,
                                   *self.args], capture_output=True, text=True, timeout=120,
                                  env={**os.environ, **(self.env or {})})
            assert done.returncode == 0, done.stderr
            self.issued[subject, role] = {"Authorization": f"Bearer {done.stdout.splitlines()[-1]}"}
        return self.issued[subject, role]


@contextmanager
def crm_serve(*args: str, env: dict[str, str] | None = None
              ) -> Iterator[tuple[str, Path, Keys]]:
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"crm-serve-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [CRM, "serve", "--port", str(port), *args], stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "CRM_LOG_LEVEL": "warning", **(env or {})},
        )
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"crm serve exited: {log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        eventually(answering, 60, lambda: f"crm serve did not answer: {log.read_text()[-2000:]}",
                   interval_s=0.1)
        yield base, log, Keys(args, env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.unlink(missing_ok=True)


def _event_count(data_dir: Path) -> int:
    """Events stored, not counting API keys issued (each `--demo` start issues one)."""
    import sqlite3

    with sqlite3.connect(data_dir / "events.sqlite") as db:
        return int(db.execute("SELECT COUNT(*) FROM stored_events WHERE topic NOT LIKE "
                              "'services.common.events.access:%'").fetchone()[0])


def test_serve_on_a_fresh_data_dir_starts_empty_and_records_commands(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    with crm_serve("--data-dir", str(data_dir)) as (base, log, key):
        assert f"listening on {base}" in log.read_text()
        assert "crm keys create --role admin" in log.read_text()  # how to get in
        assert _event_count(data_dir) == 0
        refused = httpx.post(f"{base}/v1/customers", json={"personal": {"name": "Ada"}})
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith(
            "Bearer")
        created = httpx.post(f"{base}/v1/customers", headers={**key("rep-1"), "X-Foo": "1"},
                             json={"personal": {"name": "Ada Lovelace"}})  # issued while running
        assert created.status_code == 201, created.text
        history = httpx.get(f"{base}/v1/customers/{created.json()['customer_id']}/history",
                            headers=key("rep-1"))
        assert [e["actor"] for e in history.json()["events"]] == ["rep-1"]
    with crm_serve("--data-dir", str(data_dir)) as (base, _, key):
        history = httpx.get(f"{base}/v1/customers/{created.json()['customer_id']}/history",
                            headers=key("rep-1"))
        assert history.status_code == 200, "events and keys must survive a restart"


def test_serve_demo_loads_sample_data_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    # Only the sample data is counted here: the policies (which act on it) stay off.
    quiet = {"CRM_POLICIES_ENABLED": "false"}
    with crm_serve("--data-dir", str(data_dir), "--demo", env=quiet) as (base, log, _key):
        assert "loaded sample data" in log.read_text()
        [line] = [line for line in log.read_text().splitlines() if line.startswith("try: curl")]
        demo_key = line.split("Bearer ", 1)[1].split("'", 1)[0]
        me = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {demo_key}"})
        assert me.status_code == 200 and me.json()["roles"] == ["admin"], me.text
    seeded = _event_count(data_dir)
    assert seeded > 100
    with crm_serve("--data-dir", str(data_dir), "--demo", env=quiet) as (_, log, _key):
        assert "sample data not loaded again" in log.read_text()
    assert _event_count(data_dir) == seeded


def _projections(base: str, auth: dict[str, str]) -> dict[str, dict[str, Any]]:
    page = httpx.get(f"{base}/v1/projections", headers=auth).json()
    return {p["projection"]: p for p in page["projections"]}


def _projections_at(base: str, auth: dict[str, str], position: int, timeout: float = 60
                    ) -> dict[str, dict[str, Any]]:
    """Every read model's status once all of them have applied `position`."""

    def statuses() -> dict[str, dict[str, Any]]:
        found = _projections(base, auth)
        return found if found and all(p["position"] >= position for p in found.values()) else {}

    return eventually(statuses, timeout, lambda: f"the read models reached position {position}: "
                      f"{_projections(base, auth)}", interval_s=0.2)


def test_serve_demo_feeds_every_read_model_in_one_process(tmp_path: Path) -> None:
    import sqlite3

    import duckdb

    data_dir = tmp_path / "demo"
    with crm_serve("--data-dir", str(data_dir), "--demo") as (base, _, key):
        head = httpx.get(f"{base}/v1/projections", headers=key()).json()["head_position"]
        _projections_at(base, key(), head)

        # The policies act on the sample data meanwhile (the alerts model gets nothing else),
        # so the log grows after `head`: wait until every model applied something and has
        # caught up with all of it at once.
        def every_model_fed() -> dict[str, dict[str, Any]]:
            found = _projections(base, key())
            fed = all(s["applied"] > 0 and s["lag_events"] == 0 for s in found.values())
            return found if fed else {}

        statuses = eventually(every_model_fed, 120, lambda: "every read model applied "
                              f"events and caught up: {_projections(base, key())}", interval_s=0.2)
        assert set(statuses) == {"customer_360", "timeline", "lifecycle", "alerts",
                                 "policy_state", "funnel", "retention", "service", "leads",
                                 "tickets", "tasks", "notes"}
        assert all(status["dead_letters"] == 0 for status in statuses.values()), statuses

        # A working day: the policies raise alerts on the sample's open work (stale leads,
        # tickets past their targets, discounts waiting for the approver of their tier).
        def work_to_do() -> set[str]:
            page = httpx.get(f"{base}/v1/alerts", headers=key(),
                             params={"limit": 200}).json()
            kinds = {alert["kind"] for alert in page["items"]}
            return kinds if kinds >= {"follow_up_overdue", "sla_breached",
                                      "discount_approval", "task_overdue"} else set()

        eventually(work_to_do, 120, lambda: "alerts of every kind in the demo's inbox: "
                   f"{httpx.get(f'{base}/v1/alerts', headers=key()).text[:2000]}",
                   interval_s=0.5)

        # A rep's day: their open leads, their tasks and their alerts.
        def items(path: str, **params: Any) -> list[dict[str, Any]]:
            answer = httpx.get(f"{base}{path}", headers=key(), params={"limit": 200, **params})
            assert answer.status_code == 200, answer.text
            return list(answer.json()["items"])

        busy = [rep for rep in sorted({lead["owner"] for lead in items("/v1/leads", open="true")})
                if items("/v1/tasks", assignee=rep) and items("/v1/alerts", assignee=rep)]
        assert busy, "no rep of the demo has open leads, tasks and alerts"
        metrics = httpx.get(f"{base}/metrics", headers=key()).text
        after = _projections(base, key())
        [metric] = [float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                    if line.startswith('chronicle_projection_position{projection="funnel"}')]
        assert statuses["funnel"]["position"] <= metric <= after["funnel"]["position"]
        created = httpx.post(f"{base}/v1/customers", headers=key("rep-1"),
                             json={"personal": {"name": "Late Arrival"}}).json()
        _projections_at(base, key(), created["position"])
    with sqlite3.connect(data_dir / "readmodels.sqlite") as db:
        customers = db.execute("SELECT COUNT(*) FROM customer_360").fetchone()[0]
        assert customers == 25  # 24 sample customers and the one registered above
        assert db.execute("SELECT COUNT(*) FROM timeline").fetchone()[0] > 100
    with duckdb.connect(str(data_dir / "analytics.duckdb"), read_only=True) as analytics:
        assert analytics.execute("SELECT COUNT(*) FROM funnel_leads").fetchone()[0] > 0  # type: ignore[index]


@pytest.mark.postgres
def test_serve_on_postgres(postgres_url: str, fresh_postgres_schema: str) -> None:
    with crm_serve("--postgres-url", postgres_url,
                   env={"CRM_POSTGRES_SCHEMA": fresh_postgres_schema}) as (base, log, key):
        assert "PostgreSQL" in log.read_text() and "crm:crm@" not in log.read_text()
        created = httpx.post(f"{base}/v1/leads", headers=key("rep-2"),
                             json={"customer": {"personal": {"email": "grace@example.com"}},
                                   "title": "Compiler licence", "amount": "100", "currency": "USD"})
        assert created.status_code == 201, created.text
        lead_id = created.json()["lead_id"]
        moved = httpx.post(f"{base}/v1/leads/{lead_id}/stage", headers=key("rep-2"),
                           json={"stage": "contacted", "expected_version": 1})
        assert moved.status_code == 200 and moved.json()["version"] == 2
    import psycopg
    from psycopg import sql

    with psycopg.connect(postgres_url) as conn:
        count = conn.execute(sql.SQL("SELECT COUNT(*) FROM {}.chronicle_events WHERE topic NOT "
                                     "LIKE 'services.common.events.access:%%'").format(
            sql.Identifier(fresh_postgres_schema))).fetchone()
    assert count is not None and count[0] == 4


@pytest.mark.postgres
@pytest.mark.kafka
def test_serve_on_postgres_and_kafka_relays_and_projects_every_event(
    postgres_url: str, fresh_postgres_schema: str, kafka_bootstrap: str
) -> None:
    import psycopg
    from psycopg import sql

    topic = f"crm.events.e2e-{fresh_postgres_schema}"
    env = {"CRM_POSTGRES_SCHEMA": fresh_postgres_schema, "CRM_KAFKA_TOPIC": topic,
           "CRM_PROJECTOR_SESSION_TIMEOUT_MS": "6000", "CRM_DATA_DIR": str(Path(
               os.environ.get("TMPDIR", "/tmp")) / f"crm-{fresh_postgres_schema}")}
    with crm_serve("--postgres-url", postgres_url, "--kafka-bootstrap", kafka_bootstrap,
                   env=env) as (base, log, key):
        assert f"Kafka topic {topic}" in log.read_text()
        created = httpx.post(f"{base}/v1/leads", headers=key("rep-2"),
                             json={"customer": {"personal": {"name": "Grace Hopper"}},
                                   "title": "Compiler licence", "amount": "100", "currency": "USD"})
        assert created.status_code == 201, created.text
        lead_id, customer_id = created.json()["lead_id"], created.json()["customer_id"]
        moved = httpx.post(f"{base}/v1/leads/{lead_id}/stage", headers=key("rep-2"),
                           json={"stage": "contacted"}).json()
        statuses = _projections_at(base, key(), moved["position"], timeout=180)
        assert all(s["dead_letters"] == 0 for s in statuses.values())
    with psycopg.connect(postgres_url) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(fresh_postgres_schema)))
        row = conn.execute("SELECT doc FROM customer_360 WHERE id = %s", (customer_id,)).fetchone()
        assert row is not None and row[0]["leads"][0]["stage"] == "contacted"
        kinds = [r[0] for r in conn.execute(
            "SELECT type FROM timeline WHERE customer_id = %s ORDER BY position", (customer_id,))]
        assert kinds == ["crm.customer.registered", "crm.lead.created", "crm.lead.stage_changed"]


def test_invalid_configuration_exits_with_a_reason(tmp_path: Path) -> None:
    result = subprocess.run([CRM, "serve", "--port", "99999", "--data-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "invalid configuration" in result.stderr and "port" in result.stderr


# -- the automation policies inside `crm serve` -------------------------------------------------

POLICY_RULES = """
[org]
managers = { alice = "maria" }

[[assignment.teams]]
id = "inside-sales"
members = ["alice", "bob"]

[assignment]
default_team = "inside-sales"

[follow_up.stages]
new = "3s"

[sla.first_response]
urgent = "2s"
[sla.escalation]
raise_priority = false
reassign_to = "agent-lead"

[discount]
approval_threshold_percent = "10"
approvers = [{ above_percent = "10", approver = "maria" }]

[lifecycle]
dormant_after = "90d"
"""


def _history_until(base: str, auth: dict[str, str], customer: str,
                   found: Callable[[list[dict[str, Any]]], Any], what: str, timeout: float = 90
                   ) -> list[dict[str, Any]]:
    """The customer's audit history once `found(events)` holds (the policies run on their own)."""
    seen: list[list[dict[str, Any]]] = [[]]

    def history() -> list[dict[str, Any]]:
        seen[0] = httpx.get(f"{base}/v1/customers/{customer}/history", headers=auth,
                            params={"limit": 1000}).json()["events"]
        return seen[0] if found(seen[0]) else []

    return eventually(history, timeout, lambda: f"{what}; the history holds "
                      f"{[(e['type'], e['actor']) for e in seen[0]]}", interval_s=0.2)


def _by_rule(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == event_type and e["actor"].startswith("rule:")]


def _serve_policies(base: str, key: Keys) -> None:
    me = key("rep-1")
    applied = httpx.put(f"{base}/v1/rules", content=POLICY_RULES,
                        headers={**me, "Content-Type": "application/toml"})
    assert applied.status_code == 200, applied.text
    bad = httpx.put(f"{base}/v1/rules", content=POLICY_RULES.replace('"3s"', '"soon"'),
                    headers={**me, "Content-Type": "application/toml"})
    line = POLICY_RULES.splitlines().index('new = "3s"') + 1
    assert bad.status_code == 422, bad.text
    assert bad.json()["details"]["problems"][0]["line"] == line

    lead = httpx.post(f"{base}/v1/leads", headers=me, json={
        "customer": {"personal": {"name": "Grace Hopper"}}, "title": "Compiler licence",
        "amount": "1000", "currency": "USD"}).json()
    customer, lead_id = lead["customer_id"], lead["lead_id"]
    discount = httpx.post(f"{base}/v1/leads/{lead_id}/discounts", headers=me,
                          json={"percent": "20"}).json()
    ticket = httpx.post(f"{base}/v1/customers/{customer}/tickets", headers=me,
                        json={"subject": "Cannot log in", "priority": "urgent"}).json()
    old = (datetime.now(UTC) - timedelta(days=120)).isoformat()
    bought = httpx.post(f"{base}/v1/customers", headers=me, json={
        "personal": {"name": "Quiet Buyer"}, "occurred_at": old}).json()["customer_id"]
    assert httpx.post(f"{base}/v1/customers/{bought}/purchases", headers=me, json={
        "amount": "10.00", "currency": "USD", "occurred_at": old}).status_code == 201

    events = _history_until(base, me, customer, lambda ev: all(_by_rule(ev, t) for t in (
        "crm.lead.assigned", "crm.lead.discount_approval_requested",
        "crm.ticket.sla_breached", "crm.lead.follow_up_overdue")),
        "the rules assigned the lead, asked for approval, breached the SLA, chased the lead")
    assigned = _by_rule(events, "crm.lead.assigned")[0]
    created = next(e for e in events if e["type"] == "crm.lead.created")
    assert assigned["actor"] == "rule:default-team"
    assert assigned["causation_id"] == created["event_id"]
    assert _by_rule(events, "crm.lead.discount_approval_requested")[0]["data"]["approver"] == "maria"
    assert _by_rule(events, "crm.ticket.assigned")[0]["data"]["to_assignee"] == "agent-lead"
    assert _by_rule(events, "crm.alert.raised")
    dormant = _history_until(base, me, bought, lambda ev: _by_rule(ev, "crm.customer.became_dormant"),
                             "the quiet buyer became dormant")
    assert _by_rule(dormant, "crm.customer.became_dormant")[0]["actor"] == "rule:dormancy"

    # The alerts inbox: maria has the approval (and the follow-up as alice's manager), once
    # the alerts read model has applied what the history already shows.
    seen = max(e["position"] for e in events)
    # The server waits up to its read wait (10 s) for the alerts model: the client longer.
    answer = httpx.get(f"{base}/v1/alerts", headers=me, timeout=30,
                       params={"assignee": "maria", "min_position": seen})
    assert answer.status_code == 200, answer.text
    inbox = answer.json()["items"]
    kinds = {a["kind"] for a in inbox}
    assert {"discount_approval", "follow_up_overdue"} <= kinds, (
        inbox, _by_rule(events, "crm.lead.follow_up_overdue"))
    approval = next(a for a in inbox if a["kind"] == "discount_approval")
    decided = httpx.post(f"{base}/v1/leads/{lead_id}/discounts/{discount['discount_id']}/approve",
                         headers=key("maria", "sales_manager"), json={})
    assert decided.status_code == 200, decided.text
    events = _history_until(base, me, customer, lambda ev: any(
        e["type"] == "crm.alert.resolved" and e["aggregate_id"] == approval["alert_id"]
        for e in ev), "the approval's alert resolved itself")
    resolved = next(e for e in events if e["type"] == "crm.alert.resolved")
    assert resolved["actor"] == "rule:discount-approval"
    assert ticket["ticket_id"]


def test_serve_runs_the_policies(tmp_path: Path) -> None:
    with crm_serve("--data-dir", str(tmp_path / "policies"),
                   env={"CRM_POLICY_INTERVAL_S": "0.2"}) as (base, _, key):
        _serve_policies(base, key)


@pytest.mark.postgres
@pytest.mark.kafka
def test_serve_on_postgres_and_kafka_runs_the_policies(
    postgres_url: str, fresh_postgres_schema: str, kafka_bootstrap: str
) -> None:
    env = {"CRM_POSTGRES_SCHEMA": fresh_postgres_schema, "CRM_POLICY_INTERVAL_S": "0.2",
           "CRM_KAFKA_TOPIC": f"crm.events.e2e-{fresh_postgres_schema}",
           "CRM_PROJECTOR_SESSION_TIMEOUT_MS": "6000", "CRM_DATA_DIR": str(Path(
               os.environ.get("TMPDIR", "/tmp")) / f"crm-{fresh_postgres_schema}")}
    with crm_serve("--postgres-url", postgres_url, "--kafka-bootstrap", kafka_bootstrap,
                   env=env) as (base, _, key):
        _serve_policies(base, key)
