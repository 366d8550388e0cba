"""Tasks and notes over HTTP, written once and run against each composition (embedded SQLite;
PostgreSQL + Kafka with the relay): the commands and their rules, the task list, the
customer-360's tasks and notes, the timeline, the audit history, the subject export, and the
scope of each caller's book.

The app is composed as `crm serve` composes it (tests/contract/query_api.py `compose_serve`),
once per class; each test works in a tenant of its own. Reads pass the last write's position
as `min_position`.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.common.settings import Settings
from services.projections.registry import NAMES
from tests.contract.query_api import READY_TIMEOUT_S, Crm, compose_serve, cursor_of
from tests.errors import error_shaped


def soon(days: float = 0, hours: float = 0, minutes: float = 0) -> str:
    """A moment from now on (tasks are due in the future)."""
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days, hours=hours,
                                                                   minutes=minutes)
    return moment.isoformat()


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Desk(Crm):
    """A tenant's view with the calls a rep's day is made of."""

    def as_(self, actor: str, roles: tuple[str, ...] = ("admin",)) -> dict[str, str]:
        return self.auth(actor, roles)

    def send(self, method: str, path: str, body: Any = None, *, actor: str = "rep-1",
             roles: tuple[str, ...] = ("admin",), headers: dict[str, str] | None = None) -> Any:
        """The raw response; a 2xx moves the position read next."""
        response = self.client.request(method, path, json=body,
                                       headers={**self.as_(actor, roles), **(headers or {})})
        if response.status_code < 300:
            self.position = max(self.position, int(response.json()["position"]))
        return response

    def task(self, customer_id: str, title: str = "Call Ada back", *, actor: str = "rep-1",
             **fields: Any) -> dict[str, Any]:
        body = {"customer_id": customer_id, "title": title, "assignee": "rep-1",
                "due_at": soon(days=2), **fields}
        return dict(self.post("/v1/tasks", body, actor=actor))

    def note(self, path: str, body: str = "Prefers calls after 4pm", *, actor: str = "rep-1",
             **fields: Any) -> dict[str, Any]:
        return dict(self.post(f"{path}/notes", {"body": body, **fields}, actor=actor))

    def tasks(self, actor: str = "rep-1", roles: tuple[str, ...] = ("admin",),
              **params: Any) -> list[dict[str, Any]]:
        response = self.client.get("/v1/tasks", params={**params, "min_position": self.position},
                                   headers=self.as_(actor, roles))
        assert response.status_code == 200, response.text
        assert int(response.headers["X-Projection-Position"]) >= self.position
        return list(response.json()["items"])

    def history_types(self, customer_id: str) -> list[str]:
        events = self.get_raw(f"/v1/customers/{customer_id}/history").json()["events"]
        return [event["type"] for event in events]


class TasksAndNotesContract:
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls) -> Settings:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def client(cls, settings: Settings) -> Iterator[TestClient]:
        with ExitStack() as stack:
            client, read_models = compose_serve(stack, settings)
            warm_up = Crm(client, f"warmup-{uuid4().hex[:8]}")
            warm_up.customer()
            assert read_models.wait_for(NAMES, warm_up.position, READY_TIMEOUT_S), \
                "the projectors did not catch up"
            yield client

    @pytest.fixture
    def desk(self, client: TestClient) -> Desk:
        return Desk(client, f"t-{uuid4().hex[:12]}")

    # -- tasks: the commands ------------------------------------------------------------------

    def test_a_task_is_listed_in_the_360_timeline_and_history_and_moves_no_customer_version(
            self, desk: Desk) -> None:
        customer = desk.customer()
        lead = desk.lead(customer, soon(days=-1))
        due = soon(days=2)
        created = desk.task(customer, "Call Ada back about the upgrade", due_at=due,
                            remind_before="15m", lead_id=lead, note="She asked for Tuesday")
        assert created["customer_id"] == customer and created["version"] == 1
        task = created["task_id"]

        (item,) = desk.tasks(assignee="me")
        assert (item["task_id"], item["title"], item["note"], item["assignee"], item["status"],
                item["lead_id"], item["remind_before"], item["overdue"], item["version"]) == (
            task, "Call Ada back about the upgrade", "She asked for Tuesday", "rep-1", "open",
            lead, "15m", False, 1)
        assert moment(item["due_at"]) == moment(due)
        assert moment(item["remind_at"]) == moment(due) - timedelta(minutes=15)

        doc = desk.get(f"/v1/customers/{customer}")
        assert (doc["tasks"]["open"], doc["tasks"]["overdue"]) == (1, 0)
        assert moment(doc["tasks"]["next_due_at"]) == moment(due)
        assert [t["title"] for t in doc["tasks"]["items"]] == ["Call Ada back about the upgrade"]
        summaries = [e["summary"] for e in desk.get(f"/v1/customers/{customer}/timeline",
                                                    kind="task")["items"]]
        assert summaries == ["Task 'Call Ada back about the upgrade' for rep-1, due "
                             f"{moment(due):%Y-%m-%d %H:%M} UTC"]
        assert desk.history_types(customer)[-1] == "crm.task.created"  # the file's own event not
        assert "crm.internal.record_filed" not in desk.history_types(customer)

        # Filed beside the customer, not on it: a change conditioned on the customer's version
        # (2: registered, its lead linked) still applies after tasks and notes were added.
        desk.task(customer, "Send the quote")
        desk.note(f"/v1/customers/{customer}")
        desk.note(f"/v1/leads/{lead}")
        changed = desk.send("POST", f"/v1/customers/{customer}/profile",
                            {"company": "Analytical Engines Ltd", "expected_version": 2})
        assert changed.status_code == 200, changed.text
        assert changed.json()["version"] == 3

    def test_a_task_moves_through_its_life_and_refuses_what_its_state_forbids(
            self, desk: Desk) -> None:
        customer = desk.customer()
        task = desk.task(customer)["task_id"]
        desk.post(f"/v1/tasks/{task}/reschedule", {"due_at": soon(days=4), "remind_before": "1h"})
        later = soon(days=5)
        desk.post(f"/v1/tasks/{task}/reschedule", {"due_at": later})  # keeps its reminder
        desk.post(f"/v1/tasks/{task}/reassign", {"assignee": "rep-2", "expected_version": 3})
        (item,) = desk.tasks(assignee="rep-2")
        assert (moment(item["due_at"]), item["remind_before"], item["version"]) == \
            (moment(later), "1h", 4)
        assert desk.tasks(assignee="rep-1") == []

        stale = desk.send("POST", f"/v1/tasks/{task}/complete", {"expected_version": 3})
        assert error_shaped(stale, 409, "version_conflict")["details"]["current_version"] == 4
        done = desk.send("POST", f"/v1/tasks/{task}/complete",
                         {"note": "Agreed to sign on Friday"}, actor="rep-2")
        assert done.status_code == 200 and done.headers["ETag"] == '"5"'
        (closed,) = desk.tasks(status="completed")
        assert (closed["status"], closed["closed_by"], closed["outcome_note"]) == \
            ("completed", "rep-2", "Agreed to sign on Friday")
        assert desk.tasks() == []  # `open` by default

        for path, body, rule in (
                (f"/v1/tasks/{task}/complete", None, "task_completed"),
                (f"/v1/tasks/{task}/cancel", None, "task_completed"),
                (f"/v1/tasks/{task}/reassign", {"assignee": "rep-3"}, "task_completed"),
                (f"/v1/tasks/{task}/reschedule", {"due_at": soon(days=9)}, "task_completed")):
            error_shaped(desk.send("POST", path, body), 422, rule=rule)

        cancelled = desk.task(customer, "Cancelled one")["task_id"]
        desk.post(f"/v1/tasks/{cancelled}/cancel")
        error_shaped(desk.send("POST", f"/v1/tasks/{cancelled}/complete"), 422,
                     rule="task_cancelled")
        summaries = [e["summary"] for e in desk.get(f"/v1/customers/{customer}/timeline",
                                                    kind="task")["items"]]
        assert summaries[0] == "Task 'Cancelled one' cancelled", summaries
        assert summaries[2:5] == [
            "Task 'Call Ada back' completed", "Task 'Call Ada back' reassigned rep-1 → rep-2",
            f"Task 'Call Ada back' moved to {moment(later):%Y-%m-%d %H:%M} UTC"], summaries
        dropped = desk.task(customer, "Without reminder", remind_before="15m")["task_id"]
        desk.post(f"/v1/tasks/{dropped}/reschedule", {"due_at": soon(days=3),
                                                      "remind_before": None})
        assert [t["remind_before"] for t in desk.tasks(status="open")
                if t["task_id"] == dropped] == [None]

    def test_a_task_due_in_the_past_or_about_two_records_is_refused_and_writes_nothing(
            self, desk: Desk) -> None:
        customer = desk.customer()
        lead = desk.lead(customer, soon(days=-1))
        ticket = desk.ticket(customer, "low", soon(days=-1))
        other_lead = desk.lead(desk.customer("Grace Hopper"), soon(days=-1))
        before = desk.position
        base = {"customer_id": customer, "title": "Call", "assignee": "rep-1"}
        error_shaped(desk.send("POST", "/v1/tasks", {**base, "due_at": soon(days=-1)}), 422,
                     rule="due_in_the_past")
        error_shaped(desk.send("POST", "/v1/tasks", {**base, "due_at": soon(days=1),
                                                     "lead_id": lead, "ticket_id": ticket}),
                     422, "invalid_request")
        error_shaped(desk.send("POST", "/v1/tasks", {**base, "due_at": soon(days=1),
                                                     "lead_id": other_lead}), 404, "not_found")
        error_shaped(desk.send("POST", "/v1/tasks", {**base, "customer_id": str(uuid4()),
                                                     "due_at": soon(days=1)}), 404, "not_found")
        for bad in ({"remind_before": "15"}, {"remind_before": "366d"},
                    {"remind_before": "0m"}, {"due_at": "tomorrow"},
                    {"due_at": "2030-01-01T09:00:00"}, {"due_at": soon(days=4000)},
                    {"title": ""}, {"title": "x" * 201}, {"assignee": "not a code"},
                    {"note": "x" * 10_001}):
            error_shaped(desk.send("POST", "/v1/tasks", {**base, "due_at": soon(days=1), **bad}),
                         422, "invalid_request")
        assert desk.get_raw("/v1/projections").json()["head_position"] == before
        task = desk.task(customer)["task_id"]
        error_shaped(desk.send("POST", f"/v1/tasks/{task}/reschedule",
                               {"due_at": soon(days=-2)}), 422, rule="due_in_the_past")
        error_shaped(desk.send("POST", f"/v1/tasks/{task}/reassign", {"assignee": "rep-1"}),
                     422, rule="no_change")
        error_shaped(desk.send("POST", f"/v1/tasks/{uuid4()}/complete"), 404, "not_found")
        # back-dated, as an import gives it: judged at its own time
        backdated = desk.send("POST", "/v1/tasks", {
            **base, "due_at": soon(days=-3), "occurred_at": soon(days=-4)})
        assert backdated.status_code == 201, backdated.text
        assert [t["overdue"] for t in desk.tasks(due_before=soon())] == [True]

    def test_a_retried_task_with_one_idempotency_key_is_created_once(self, desk: Desk) -> None:
        customer = desk.customer()
        body = {"customer_id": customer, "title": "Call", "assignee": "rep-1",
                "due_at": soon(days=1)}
        first = desk.send("POST", "/v1/tasks", body, headers={"Idempotency-Key": "task-1"})
        again = desk.send("POST", "/v1/tasks", body, headers={"Idempotency-Key": "task-1"})
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        other = desk.send("POST", "/v1/tasks", {**body, "title": "Other"},
                          headers={"Idempotency-Key": "task-1"})
        error_shaped(other, 422, "idempotency_key_reused")
        assert len(desk.tasks()) == 1

    # -- tasks: the list ----------------------------------------------------------------------

    def test_the_task_list_filters_select_exactly_the_matching_tasks(self, desk: Desk) -> None:
        ada, grace = desk.customer(), desk.customer("Grace Hopper")
        lead = desk.lead(ada, soon(days=-1))
        ticket = desk.ticket(grace, "high", soon(days=-1))
        made = {
            "mine_soon": desk.task(ada, due_at=soon(hours=3))["task_id"],
            "mine_later": desk.task(ada, due_at=soon(days=6), lead_id=lead)["task_id"],
            "theirs": desk.task(grace, assignee="rep-2", due_at=soon(days=1),
                                ticket_id=ticket)["task_id"],
            "done": desk.task(grace, due_at=soon(days=2))["task_id"],
        }
        desk.post(f"/v1/tasks/{made['done']}/complete")
        names = {v: k for k, v in made.items()}

        def found(actor: str = "rep-1", **params: Any) -> list[str]:
            return [names[t["task_id"]] for t in desk.tasks(actor, **params)]

        assert found() == ["mine_soon", "theirs", "mine_later"]  # soonest due first
        assert found(assignee="me") == ["mine_soon", "mine_later"]
        assert found("rep-2", assignee="me") == ["theirs"]
        assert found(assignee="rep-2") == ["theirs"]
        assert found(due_before=soon(days=2)) == ["mine_soon", "theirs"]
        assert found(customer_id=grace) == ["theirs"]
        assert found(lead_id=lead) == ["mine_later"]
        assert found(ticket_id=ticket) == ["theirs"]
        assert found(status="completed") == ["done"]
        assert sorted(found(status="any")) == sorted(made)
        assert found(status="cancelled") == []

    def test_task_pages_walk_every_task_once_soonest_first(self, desk: Desk) -> None:
        customer = desk.customer()
        due = soon(days=3)
        made = {desk.task(customer, f"Task {n}", due_at=due if n % 2 else soon(days=n))["task_id"]
                for n in range(1, 8)}
        seen: list[dict[str, Any]] = []
        cursor = None
        for _ in range(len(made) + 1):
            params: dict[str, Any] = {"limit": 2}
            if cursor is not None:
                params["cursor"] = cursor
            page = desk.get("/v1/tasks", **params)
            assert len(page["items"]) <= 2
            seen += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [t["task_id"] for t in seen] == [t["task_id"] for t in desk.tasks(limit=200)]
        assert {t["task_id"] for t in seen} == made and len(seen) == len(made)
        keys = [(moment(t["due_at"]), t["task_id"]) for t in seen]
        assert keys == sorted(keys)

    @pytest.mark.parametrize("params", [
        {"limit": 0}, {"limit": 201}, {"status": "done"}, {"due_before": "soon"},
        {"customer_id": "nope"}, {"assignee": ""}, {"assignee": "rep\x00"},
        {"cursor": "not base64 at all!"}, {"cursor": cursor_of([1, 2])},
        {"cursor": cursor_of(["2026-03-03T09:00:00", str(uuid4())])},
        {"cursor": cursor_of(["2026-03-03T09:00:00+00:00", "not-an-id"])},
        {"cursor": cursor_of(["0001-01-01T00:00:00+14:00", str(uuid4())])},
        {"min_position": -1},
    ])
    def test_invalid_task_filters_get_422_in_the_error_shape(
            self, desk: Desk, params: dict[str, Any]) -> None:
        error_shaped(desk.get_raw("/v1/tasks", params), 422)

    def test_each_caller_lists_and_changes_only_the_tasks_of_their_book(self, desk: Desk
                                                                        ) -> None:
        customer = desk.customer(owner="rep-a")
        mine = desk.task(customer, "Mine", assignee="rep-a")["task_id"]
        given = desk.task(customer, "Given", assignee="rep-b", actor="rep-a")["task_id"]
        other = desk.task(customer, "Other", assignee="rep-c", actor="boss")["task_id"]
        rep = ("sales_rep",)
        assert {t["task_id"] for t in desk.tasks("rep-a", rep)} == {mine, given}
        assert {t["task_id"] for t in desk.tasks("rep-c", rep)} == {other}
        assert desk.tasks("rep-a", rep, assignee="rep-c") == []
        refused = desk.send("POST", f"/v1/tasks/{other}/complete", actor="rep-a", roles=rep)
        error_shaped(refused, 404, "not_found")
        done = desk.send("POST", f"/v1/tasks/{given}/complete", actor="rep-a", roles=rep)
        assert done.status_code == 200, done.text  # who gave it may close it
        forbidden = desk.client.get("/v1/tasks", headers=desk.as_("x-analyst", ("analyst",)))
        error_shaped(forbidden, 403, "forbidden")

    # -- notes --------------------------------------------------------------------------------

    def test_notes_on_a_customer_its_lead_and_its_ticket_show_pinned_first_then_newest(
            self, desk: Desk) -> None:
        customer = desk.customer()
        lead = desk.lead(customer, soon(days=-1))
        ticket = desk.ticket(customer, "high", soon(days=-1))
        first = desk.note(f"/v1/customers/{customer}", "First thoughts",
                          occurred_at=soon(hours=-5))
        pinned = desk.note(f"/v1/customers/{customer}", "Decision with the CFO", pinned=True,
                           occurred_at=soon(hours=-4))
        on_lead = desk.note(f"/v1/leads/{lead}", "Budget in May", occurred_at=soon(hours=-3))
        on_ticket = desk.note(f"/v1/tickets/{ticket}", "Printer model X200",
                              occurred_at=soon(hours=-2))
        assert (on_lead["lead_id"], on_lead["customer_id"]) == (lead, customer)
        assert (on_ticket["ticket_id"], on_ticket["customer_id"]) == (ticket, customer)

        notes = desk.get(f"/v1/customers/{customer}")["notes"]
        assert (notes["count"], notes["pinned"]) == (4, 1)
        assert [n["body"] for n in notes["items"]] == [
            "Decision with the CFO", "Printer model X200", "Budget in May", "First thoughts"]
        assert [(n["subject_kind"], n["subject_id"]) for n in notes["items"]] == [
            ("customer", customer), ("ticket", ticket), ("lead", lead), ("customer", customer)]
        assert notes["items"][0]["note_id"] == pinned["note_id"]
        assert notes["items"][-1]["note_id"] == first["note_id"]

        paged: list[str] = []
        cursor = None
        for _ in range(5):
            params: dict[str, Any] = {"limit": 3}
            if cursor is not None:
                params["cursor"] = cursor
            page = desk.get(f"/v1/customers/{customer}/notes", **params)
            paged += [n["body"] for n in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert paged == [n["body"] for n in notes["items"]]
        summaries = [e["summary"] for e in desk.get(f"/v1/customers/{customer}/timeline",
                                                    kind="note")["items"]]
        assert summaries == [
            "Note by rep-1 on ticket 'Printer on fire': Printer model X200",
            "Note by rep-1 on lead 'Difference engine upgrade': Budget in May",
            "Note (pinned) by rep-1: Decision with the CFO", "Note by rep-1: First thoughts"]

    def test_only_the_author_or_an_admin_edits_or_deletes_a_note_and_the_history_keeps_it(
            self, desk: Desk) -> None:
        customer = desk.customer(owner="rep-a")
        rep, manager = ("sales_rep",), ("sales_manager",)
        note = desk.send("POST", f"/v1/customers/{customer}/notes",
                         {"body": "Prefers calls after 4pm"}, actor="rep-a", roles=rep)
        assert note.status_code == 201, note.text
        note_id = note.json()["note_id"]
        for actor, roles in (("rep-b", rep), ("mgr", manager)):  # not theirs: 404
            refused = desk.send("POST", f"/v1/notes/{note_id}/edit", {"body": "Mine now"},
                                actor=actor, roles=roles)
            error_shaped(refused, 404, "not_found")
        edited = desk.send("POST", f"/v1/notes/{note_id}/edit",
                           {"body": "Prefers calls after 5pm", "expected_version": 1},
                           actor="rep-a", roles=rep)
        assert edited.status_code == 200 and edited.json()["version"] == 2
        error_shaped(desk.send("POST", f"/v1/notes/{note_id}/edit",
                               {"body": "Prefers calls after 5pm"}, actor="rep-a", roles=rep),
                     422, rule="no_change")
        error_shaped(desk.send("POST", f"/v1/notes/{note_id}/edit", {"pinned": True,
                                                                     "expected_version": 1},
                               actor="rep-a", roles=rep), 409, "version_conflict")
        pinned = desk.send("POST", f"/v1/notes/{note_id}/edit", {"pinned": True},
                           actor="admin-1")
        assert pinned.status_code == 200
        (item,) = desk.get(f"/v1/customers/{customer}")["notes"]["items"]
        assert (item["body"], item["pinned"], item["author"], item["edited_by"],
                item["version"]) == ("Prefers calls after 5pm", True, "rep-a", "admin-1", 3)

        error_shaped(desk.send("DELETE", f"/v1/notes/{note_id}", actor="rep-b", roles=rep), 404)
        deleted = desk.send("DELETE", f"/v1/notes/{note_id}", actor="rep-a", roles=rep)
        assert deleted.status_code == 200, deleted.text
        error_shaped(desk.send("DELETE", f"/v1/notes/{note_id}", actor="rep-a", roles=rep), 422,
                     rule="note_deleted")
        notes = desk.get(f"/v1/customers/{customer}")["notes"]
        assert (notes["count"], notes["items"]) == (0, [])
        summaries = [e["summary"] for e in desk.get(f"/v1/customers/{customer}/timeline",
                                                    kind="note")["items"]]
        assert summaries == ["Note deleted", "Note pinned: [deleted]", "Note edited: [deleted]",
                             "Note by rep-a: [deleted]"]
        history = [(e["type"], e["actor"], e["data"]) for e in
                   desk.get_raw(f"/v1/customers/{customer}/history").json()["events"]
                   if e["type"].startswith("crm.note.")]
        assert [(kind, actor) for kind, actor, _ in history] == [
            ("crm.note.added", "rep-a"), ("crm.note.edited", "rep-a"),
            ("crm.note.edited", "admin-1"), ("crm.note.deleted", "rep-a")]
        assert history[0][2]["personal"]["body"] == "Prefers calls after 4pm"
        assert history[1][2]["personal"]["body"] == "Prefers calls after 5pm"

    def test_many_notes_written_at_once_on_one_customer_are_all_kept_and_move_no_version(
            self, desk: Desk) -> None:
        customer = desk.customer()
        lead = desk.lead(customer, soon(days=-1))
        headers = desk.as_("rep-1")
        paths = [f"/v1/customers/{customer}/notes", f"/v1/leads/{lead}/notes"] * 6

        def write(numbered: tuple[int, str]) -> Any:
            number, path = numbered
            return desk.client.post(path, json={"body": f"Note {number}"}, headers=headers)

        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(pool.map(write, enumerate(paths)))
        assert [a.status_code for a in answers] == [201] * len(paths), \
            [a.text for a in answers if a.status_code != 201]
        desk.position = max(int(a.json()["position"]) for a in answers)
        notes = desk.get(f"/v1/customers/{customer}")["notes"]
        assert notes["count"] == len(paths)
        changed = desk.send("POST", f"/v1/customers/{customer}/tags",
                            {"tag": "noted", "expected_version": 2})
        assert changed.status_code == 200, changed.text

    def test_a_note_is_free_text_up_to_10000_characters_and_never_blank(self, desk: Desk
                                                                        ) -> None:
        customer = desk.customer()
        longest = desk.send("POST", f"/v1/customers/{customer}/notes",
                            {"body": "x" * 9_999 + "\n"})
        assert longest.status_code == 201, longest.text
        before = desk.position
        for bad in ({"body": "x" * 10_001}, {"body": "   "}, {"body": ""}, {"body": "a\x00"},
                    {"body": 5}, {"body": "ok", "pinned": "yes"}, {"body": "ok", "extra": 1},
                    {"pinned": True}):
            error_shaped(desk.send("POST", f"/v1/customers/{customer}/notes", bad), 422,
                         "invalid_request")
        for path in (f"/v1/customers/{uuid4()}", f"/v1/leads/{uuid4()}",
                     f"/v1/tickets/{uuid4()}"):
            error_shaped(desk.send("POST", f"{path}/notes", {"body": "Hello"}), 404, "not_found")
        error_shaped(desk.send("POST", f"/v1/notes/{uuid4()}/edit", {"body": "Hello"}), 404)
        error_shaped(desk.send("POST", f"/v1/notes/{longest.json()['note_id']}/edit", {}), 422,
                     "invalid_request")
        assert desk.get_raw("/v1/projections").json()["head_position"] == before

    # -- erasure, the past, the export ----------------------------------------------------------

    def test_an_erased_customers_tasks_and_notes_refuse_commands_and_leave_the_lists(
            self, desk: Desk) -> None:
        customer = desk.customer()
        task = desk.task(customer)["task_id"]
        note = desk.note(f"/v1/customers/{customer}")["note_id"]
        assert len(desk.tasks()) == 1
        desk.post(f"/v1/customers/{customer}/erase", {
            "legal_basis": "gdpr_art_17", "request_reference": "DSR-7", "reason": "Asked"})
        for method, path, body in (
                ("POST", f"/v1/tasks/{task}/complete", None),
                ("POST", f"/v1/notes/{note}/edit", {"body": "Again"}),
                ("DELETE", f"/v1/notes/{note}", None),
                ("POST", f"/v1/customers/{customer}/notes", {"body": "New"}),
                ("POST", "/v1/tasks", {"customer_id": customer, "title": "New",
                                       "assignee": "rep-1", "due_at": soon(days=1)})):
            error_shaped(desk.send(method, path, body), 422, rule="customer_erased")
        assert desk.tasks(status="any") == []
        doc = desk.get(f"/v1/customers/{customer}")
        assert [t["title"] for t in doc["tasks"]["items"]] == [None]
        assert [n["body"] for n in doc["notes"]["items"]] == [None]

    def test_the_past_view_and_the_subject_export_hold_the_tasks_and_notes_of_then(
            self, desk: Desk) -> None:
        customer = desk.customer()
        task = desk.task(customer, "Call back", due_at=soon(days=3))["task_id"]
        desk.note(f"/v1/customers/{customer}", "Likes tea")
        then = datetime.now(UTC).isoformat()
        desk.post(f"/v1/tasks/{task}/complete", {"note": "Called"})
        desk.task(customer, "Second call", due_at=soon(days=4))
        past = desk.get(f"/v1/customers/{customer}", as_of_recorded=then)
        assert [(t["title"], t["status"]) for t in past["tasks"]["items"]] == \
            [("Call back", "open")]
        assert [n["body"] for n in past["notes"]["items"]] == ["Likes tea"]
        live = desk.get(f"/v1/customers/{customer}")
        assert [t["title"] for t in live["tasks"]["items"]] == ["Second call"]

        export = desk.get_raw(f"/v1/customers/{customer}/export").json()
        assert [(t["title"], t["status"], t["outcome_note"]) for t in export["tasks"]] == [
            ("Call back", "completed", "Called"), ("Second call", "open", None)]
        assert [n["body"] for n in export["notes"]] == ["Likes tea"]
        assert {"crm.task.created", "crm.task.completed", "crm.note.added"} <= \
            {e["type"] for e in export["history"]}

    def test_an_analysts_customer_read_leaves_out_task_titles_and_note_bodies(
            self, desk: Desk) -> None:
        customer = desk.customer()
        desk.task(customer, "Call back")
        desk.note(f"/v1/customers/{customer}", "Likes tea")
        response = desk.client.get(f"/v1/customers/{customer}",
                                   params={"min_position": desk.position},
                                   headers=desk.as_("x-analyst", ("analyst",)))
        assert response.status_code == 200, response.text
        doc = response.json()
        assert [t["title"] for t in doc["tasks"]["items"]] == [None]
        assert [n["body"] for n in doc["notes"]["items"]] == [None]
        assert "Call back" not in response.text and "Likes tea" not in response.text
