"""The alerts inbox on the embedded composition (`crm serve` on SQLite): alerts the rules raise
are listed per assignee, acknowledged and resolved through the command API; and the ticket
priority command.

The read side's filters and pagination also run on PostgreSQL in the query API contract
(`tests/contract/query_api.py`); these tests add the commands and every field of an alert.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.common.events.alert import AlertAcknowledged, AlertRaised
from services.common.settings import Settings
from services.projections.alerts.projection import ALERTS, ASSIGNEES, AlertsProjection
from services.projections.model import ConsumedEvent, fold
from services.projections.registry import NAMES
from tests.contract.query_api import Crm, Rules, at, compose_serve, moment
from tests.errors import error_shaped


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("crm-data")),
                        read_wait_timeout_s=5.0)
    with ExitStack() as stack:
        client, _ = compose_serve(stack, settings)
        yield client


@pytest.fixture
def crm(client: TestClient) -> Crm:
    return Crm(client, f"t-{uuid4().hex[:12]}")


def _alerts(crm: Crm, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = crm.get("/v1/alerts", **params)["items"]
    return items


def test_alerts_is_a_registered_read_model() -> None:
    assert "alerts" in NAMES
    assert NAMES.index("alerts") == NAMES.index("lifecycle") + 1


def test_a_raised_alert_is_listed_for_each_assignee_with_every_field(crm: Crm) -> None:
    rules = Rules(crm)
    customer = crm.customer()
    lead = crm.lead(customer, at(0))
    alert = rules.follow_up(lead, at(9), assignees=("rep-1", "manager-1"))
    for assignee in ("rep-1", "manager-1"):
        assert [item["alert_id"] for item in _alerts(crm, assignee=assignee)] == [alert]
    item = _alerts(crm, assignee="rep-1")[0]
    assert (item["kind"], item["subject_kind"], item["subject_id"], item["customer_id"]) == (
        "follow_up_overdue", "lead", lead, customer)
    assert item["assignees"] == ["rep-1", "manager-1"]
    assert item["summary"] == "Lead 'Difference engine upgrade' without contact for 8 days"
    assert (item["status"], item["raised_by"]) == ("open", "rule:follow-up")
    assert moment(item["raised_at"]) == moment(at(9))
    assert moment(item["due_at"]) == moment(at(8))
    assert item["position"] > 0 and item["cause_event_id"]
    assert (item["acknowledged_at"], item["acknowledged_by"], item["resolved_at"],
            item["resolved_by"], item["note"]) == (None, None, None, None, None)
    assert "tenant_id" not in item
    assert _alerts(crm, assignee="rep-2") == []


def test_every_rule_decision_raises_its_kind_of_alert(crm: Crm) -> None:
    rules = Rules(crm)
    customer = crm.customer()
    lead = crm.lead(customer, at(0))
    ticket = crm.ticket(customer, "normal", at(1))
    approval = rules.discount_approval(lead, at(2), approver="manager-1")
    breach = rules.sla_breach(ticket, at(3), assignees=("agent-1", "lead-agent"))
    found = {item["alert_id"]: item for item in _alerts(crm)}
    assert (found[approval]["kind"], found[approval]["subject_kind"],
            found[approval]["assignees"], found[approval]["due_at"]) == (
        "discount_approval", "lead", ["manager-1"], None)
    assert (found[breach]["kind"], found[breach]["subject_kind"], found[breach]["subject_id"],
            found[breach]["raised_by"]) == ("sla_breached", "ticket", ticket, "rule:sla")


def test_acknowledge_then_resolve_moves_the_alert_through_its_statuses(crm: Crm) -> None:
    alert = Rules(crm).follow_up(crm.lead(crm.customer(), at(0)), at(2))
    acknowledged = crm.post(f"/v1/alerts/{alert}/acknowledge",
                            {"note": "calling them today", "occurred_at": at(3)},
                            actor="manager-1")
    assert acknowledged["alert_id"] == alert and acknowledged["version"] == 2
    item = _alerts(crm, status="acknowledged")[0]
    assert (item["alert_id"], item["status"], item["acknowledged_by"], item["note"]) == (
        alert, "acknowledged", "manager-1", "calling them today")
    assert moment(item["acknowledged_at"]) == moment(at(3))
    assert [i["alert_id"] for i in _alerts(crm)] == [alert]  # still active
    assert _alerts(crm, status="open") == []

    resolved = crm.post(f"/v1/alerts/{alert}/resolve", None, actor="rep-1")  # no body at all
    assert resolved["version"] == 3
    assert _alerts(crm) == [] and _alerts(crm, status="acknowledged") == []
    item = _alerts(crm, status="resolved")[0]
    assert (item["status"], item["resolved_by"], item["acknowledged_by"], item["note"]) == (
        "resolved", "rep-1", "manager-1", "calling them today")  # a note-less resolve keeps it

    again = crm.client.post(f"/v1/alerts/{alert}/resolve", json={"note": "twice"},
                            headers=crm.auth("rep-1"))
    body = error_shaped(again, 422, "rule_violation")
    assert body["details"]["rule"] == "alert_resolved"
    late = crm.client.post(f"/v1/alerts/{alert}/acknowledge",
                           headers=crm.auth())
    error_shaped(late, 422, "rule_violation")


def test_an_open_alert_can_be_resolved_without_an_acknowledgement(crm: Crm) -> None:
    alert = Rules(crm).follow_up(crm.lead(crm.customer(), at(0)), at(2))
    crm.post(f"/v1/alerts/{alert}/resolve", {"note": "already won"}, actor="rep-1")
    item = _alerts(crm, status="resolved")[0]
    assert (item["acknowledged_at"], item["resolved_by"], item["note"]) == (
        None, "rep-1", "already won")


def test_unknown_alert_is_404_on_both_commands(crm: Crm) -> None:
    for action in ("acknowledge", "resolve"):
        response = crm.client.post(f"/v1/alerts/{uuid4()}/{action}",
                                   headers=crm.auth())
        error_shaped(response, 404, "not_found")
        error_shaped(crm.client.post(f"/v1/alerts/not-a-uuid/{action}", headers=crm.auth()), 422)


def test_another_tenants_alert_is_404_and_stays_open(crm: Crm, client: TestClient) -> None:
    alert = Rules(crm).follow_up(crm.lead(crm.customer(), at(0)), at(2))
    for action in ("acknowledge", "resolve"):
        response = client.post(f"/v1/alerts/{alert}/{action}",
                               headers=Crm(client, "someone-else").auth("rep-1"))
        error_shaped(response, 404, "not_found")
    assert [item["status"] for item in _alerts(crm)] == ["open"]


def test_alert_commands_honour_if_match_and_idempotency_keys(crm: Crm) -> None:
    alert = Rules(crm).follow_up(crm.lead(crm.customer(), at(0)), at(2))
    headers = crm.auth("rep-1")
    stale = crm.client.post(f"/v1/alerts/{alert}/acknowledge",
                            headers={**headers, "If-Match": '"5"'})
    error_shaped(stale, 409, "version_conflict")
    keyed = {**headers, "Idempotency-Key": f"ack-{alert}", "If-Match": '"1"'}
    first = crm.client.post(f"/v1/alerts/{alert}/acknowledge", json={"note": "on it"},
                            headers=keyed)
    assert first.status_code == 200, first.text
    assert first.headers["ETag"] == '"2"'
    retry = crm.client.post(f"/v1/alerts/{alert}/acknowledge", json={"note": "on it"},
                            headers=keyed)
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    other_body = crm.client.post(f"/v1/alerts/{alert}/acknowledge", json={"note": "changed"},
                                 headers=keyed)
    error_shaped(other_body, 422, "idempotency_key_reused")


@pytest.mark.parametrize("body", [
    {"note": ""}, {"note": "two\nlines"}, {"note": "x" * 201}, {"note": 5},
    {"notes": "typo"}, {"expected_version": -1},
])
def test_an_invalid_alert_note_is_refused_and_writes_nothing(crm: Crm,
                                                            body: dict[str, Any]) -> None:
    alert = Rules(crm).follow_up(crm.lead(crm.customer(), at(0)), at(2))
    response = crm.client.post(f"/v1/alerts/{alert}/acknowledge", json=body,
                               headers=crm.auth())
    error_shaped(response, 422, "invalid_request")
    assert [item["status"] for item in _alerts(crm)] == ["open"]


def test_filters_select_exactly_the_matching_alerts(crm: Crm) -> None:
    rules = Rules(crm)
    ada, grace = crm.customer("Ada Lovelace"), crm.customer("Grace Hopper")
    ada_lead, grace_lead = crm.lead(ada, at(0)), crm.lead(grace, at(0))
    ticket = crm.ticket(grace, "high", at(0))
    first = rules.follow_up(ada_lead, at(1), assignees=("rep-1",))
    second = rules.follow_up(grace_lead, at(2), assignees=("rep-2", "manager-1"))
    approval = rules.discount_approval(ada_lead, at(3), approver="manager-1")
    breach = rules.sla_breach(ticket, at(4), assignees=("agent-1",))
    crm.post(f"/v1/alerts/{second}/acknowledge")

    def ids(**params: Any) -> list[str]:
        return [item["alert_id"] for item in _alerts(crm, **params)]

    assert ids() == [breach, approval, second, first]
    assert ids(customer_id=ada) == [approval, first]
    assert ids(customer_id=grace) == [breach, second]
    assert ids(subject_id=ada_lead) == [approval, first]
    assert ids(subject_id=ticket) == [breach]
    assert ids(kind="follow_up_overdue") == [second, first]
    assert ids(kind="follow_up_overdue", status="open") == [first]
    assert ids(assignee="manager-1") == [approval, second]
    assert ids(assignee="manager-1", status="open") == [approval]
    assert ids(assignee="manager-1", kind="sla_breached") == []
    assert ids(assignee="rep-2", customer_id=ada) == []
    assert ids(status="resolved") == []


def test_pages_of_one_assignee_walk_their_alerts_once_newest_first(crm: Crm) -> None:
    rules = Rules(crm)
    lead = crm.lead(crm.customer(), at(0))
    mine = [rules.follow_up(lead, at(day), assignees=("rep-1",)) for day in (1, 3, 3, 4, 6)]
    rules.follow_up(lead, at(5), assignees=("rep-2",))  # someone else's, between mine
    seen: list[str] = []
    cursor = None
    for _ in range(4):
        params: dict[str, Any] = {"assignee": "rep-1", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = crm.get("/v1/alerts", **params)
        seen += [item["alert_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [mine[4], mine[3], mine[2], mine[1], mine[0]]
    assert crm.get("/v1/alerts", assignee="rep-1", limit=5)["next_cursor"] is None


def test_the_list_reads_its_own_writes_and_reports_its_position(crm: Crm) -> None:
    alert = Rules(crm).follow_up(crm.lead(crm.customer(), at(0)), at(2))
    written = crm.post(f"/v1/alerts/{alert}/acknowledge")
    response = crm.get_raw("/v1/alerts", {"status": "acknowledged"},
                           headers={"X-Min-Position": str(written["position"])})
    assert response.status_code == 200, response.text
    assert int(response.headers["X-Projection-Position"]) >= written["position"]
    assert [item["alert_id"] for item in response.json()["items"]] == [alert]
    beyond = crm.get_raw("/v1/alerts", {"min_position": crm.position + 1_000_000})
    error_shaped(beyond, 422, "position_beyond_log")


@pytest.mark.parametrize("params", [
    {"status": "closed"}, {"status": "all"}, {"kind": "gossip"}, {"customer_id": "ada"},
    {"subject_id": "1"}, {"assignee": "x" * 65}, {"limit": 0}, {"limit": 201},
    {"cursor": "%%%"},
])
def test_bad_filter_values_get_422_in_the_error_shape(crm: Crm, params: dict[str, Any]) -> None:
    body = error_shaped(crm.get_raw("/v1/alerts", params), 422)
    assert body["code"] in ("invalid_request", "invalid_cursor")


def test_an_acknowledgement_of_an_alert_never_raised_stops_the_projection() -> None:
    """Its raise shares the alert's stream, so a missing row means lost events: say so."""
    envelope: dict[str, Any] = {
        "aggregate_id": uuid4(), "customer_id": uuid4(), "tenant_id": "t", "actor": "rep-1",
        "occurred_at": moment(at(1)), "recorded_at": moment(at(1)), "correlation_id": uuid4()}
    acknowledged = AlertAcknowledged(event_id=uuid4(), aggregate_version=2, **envelope,
                                     subject_kind="lead", subject_id=uuid4(), by="rep-1")
    with pytest.raises(LookupError, match="never raised"):
        fold(AlertsProjection(), [ConsumedEvent(0, 1, 1, acknowledged)])
    raised = AlertRaised(event_id=uuid4(), aggregate_version=1, **envelope,
                         kind="sla_breached", subject_kind="ticket", subject_id=uuid4(),
                         assignees=["agent-1", "agent-2"], summary="Ticket breached",
                         due_at=moment(at(1)) - timedelta(hours=1))
    rows = fold(AlertsProjection(), [ConsumedEvent(0, 1, 7, raised),
                                     ConsumedEvent(0, 2, 8, acknowledged)])
    (alert,) = rows.all(ALERTS)
    assert (alert["status"], alert["position"], alert["acknowledged_by"]) == (
        "acknowledged", 7, "rep-1")
    assert sorted(row["id"] for row in rows.all(ASSIGNEES)) == sorted(
        f"{envelope['aggregate_id']}:{who}" for who in ("agent-1", "agent-2"))


# -- ticket priority ------------------------------------------------------------------------------


def test_ticket_priority_changes_once_and_refuses_the_same_or_an_unknown_priority(crm: Crm
                                                                                 ) -> None:
    customer = crm.customer()
    ticket = crm.ticket(customer, "normal", at(1))
    headers = crm.auth("agent-1")

    def change(body: dict[str, Any], **extra: str) -> Any:
        return crm.client.post(f"/v1/tickets/{ticket}/priority", json=body,
                               headers={**headers, **extra})

    changed = change({"priority": "urgent", "reason": "customer escalated"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["ticket_id"] == ticket and changed.headers["ETag"] == '"2"'
    same = change({"priority": "urgent"})
    assert error_shaped(same, 422, "rule_violation")["details"]["rule"] == "no_change"
    error_shaped(change({"priority": "asap"}), 422, "invalid_request")
    error_shaped(change({}), 422, "invalid_request")
    error_shaped(change({"priority": "low"}, **{"If-Match": '"1"'}), 409, "version_conflict")
    missing = crm.client.post(f"/v1/tickets/{uuid4()}/priority", json={"priority": "low"},
                              headers=headers)
    error_shaped(missing, 404, "not_found")
    history = crm.get_raw(f"/v1/customers/{customer}/history").json()["events"]
    assert [(e["actor"], e["data"]["from_priority"], e["data"]["to_priority"],
             e["data"]["personal"]["reason"]) for e in history
            if e["type"] == "crm.ticket.priority_changed"] == [
        ("agent-1", "normal", "urgent", "customer escalated")]
