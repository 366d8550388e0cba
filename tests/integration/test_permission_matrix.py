"""The permission matrix, generated from the permission table: every route × every role ×
a record of the caller's own book, another's, one waiting for assignment, and one of another
tenant — each asserting the exact status, and that lists hold nothing outside the book.

Expected answers come from `permissions.py` alone: no role allows the route's action → 403; the
record is another tenant's → 404 (a route without a record, asked for another tenant with
`X-Tenant-ID` → 403); a `team` or `own` scope and a record outside the book → 404; else the
route's success status. Each case works on records made for it, so a write never changes what
another case sees. Runs on the embedded store and on PostgreSQL with row-level security on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from services.command.accounts import add_user
from services.command.domain.aggregate import CommandContext
from services.command.service import AlertSpec, CommandService, NewCustomer
from services.common.auth.permissions import ACTION_OF, ROLES, ROUTES, SCOPES, Route, scope_of
from services.common.auth.principal import Principal
from services.common.auth.users import UserDirectory
from services.common.events.customer import CustomerPersonal
from tests.contract.query_api import compose_serve
from tests.errors import error_shaped
from tests.harness.auth import Keys, fastapi_app, keys_of
from tests.harness.engines import embedded_or_postgres

Kind = Literal["own", "other", "unassigned", "other_tenant"]
KINDS: tuple[Kind, ...] = ("own", "other", "unassigned", "other_tenant")

ORG = """
[org]
managers = { rep-a = "mgr-n", rep-b = "mgr-n", rep-c = "mgr-s" }

[[assignment.teams]]
id = "north"
members = ["rep-a", "rep-b"]
"""
SUBJECT = {"sales_rep": "rep-a", "sales_manager": "mgr-n"}
"""The caller of each role (`x-<role>` for the others)."""


def owner_of(kind: Kind, role: str) -> str | None:
    """Who owns a case's records: for `own`, the caller (for a sales manager, rep-a of their
    team); for `other`, rep-c (in no caller's book); `unassigned`: nobody."""
    if kind == "other":
        return "rep-c"
    if kind == "unassigned":
        return None
    return "rep-a" if role == "sales_manager" else principal_of(role).subject


def principal_of(role: str) -> Principal:
    return Principal(subject=SUBJECT.get(role, f"x-{role}"), tenants=("t",),
                     roles=frozenset({role}),
                     scopes=frozenset(SCOPES) if role == "integration" else frozenset())


@dataclass
class Records:
    """What one case works on, made on demand in the case's tenant."""

    service: CommandService
    tenant: str
    kind: Kind
    role: str
    made: dict[str, str] = field(default_factory=dict)
    position: int = 0

    @property
    def owner(self) -> str | None:
        return owner_of(self.kind, self.role)

    def ctx(self) -> CommandContext:
        return CommandContext(actor="setup", tenant_id=self.tenant)

    def _note(self, result: Any) -> None:
        self.position = max(self.position, result.position)

    def customer(self) -> str:
        if "customer" not in self.made:
            result = self.service.register_customer(self.ctx(), NewCustomer(
                personal=CustomerPersonal(name="Ada Matrix", email="ada@example.com"),
                owner=self.owner, tags=["seed"]))
            self._note(result)
            self.made["customer"] = result.ids["customer_id"]
            if self.kind == "unassigned":  # a lead waiting for assignment puts it in every book
                self.lead()
        return self.made["customer"]

    def lead(self) -> str:
        if "lead" not in self.made:
            result = self.service.create_lead(
                self.ctx(), customer_id=UUID(self.customer()), new_customer=None,
                title="Matrix deal", amount="100.00", currency="EUR", owner=self.owner)
            self._note(result)
            self.made["lead"] = result.ids["lead_id"]
        return self.made["lead"]

    def discount(self) -> str:
        if "discount" not in self.made:
            result = self.service.request_discount(self.ctx(), UUID(self.lead()), "20")
            self._note(result)
            self.made["discount"] = result.ids["discount_id"]
        return self.made["discount"]

    def ticket(self) -> str:
        if "ticket" not in self.made:
            result = self.service.open_ticket(self.ctx(), UUID(self.customer()),
                                              subject="Matrix ticket", priority="normal",
                                              assignee=self.owner)
            self._note(result)
            self.made["ticket"] = result.ids["ticket_id"]
        return self.made["ticket"]

    def task(self) -> str:
        """A task on the case's customer, given by `setup` to the case's owner."""
        if "task" not in self.made:
            result = self.service.create_task(
                self.ctx(), customer_id=UUID(self.customer()), title="Matrix task",
                assignee=self.owner or "nobody-yet", due_at=datetime.now(UTC) + timedelta(days=2))
            self._note(result)
            self.made["task"] = result.ids["task_id"]
        return self.made["task"]

    def note(self) -> str:
        """A note on the case's customer, written by the caller itself (`own`; a note is in
        its author's book alone), by rep-c (`other`), or by `setup` (`unassigned`)."""
        if "note" not in self.made:
            author = {"own": principal_of(self.role).subject, "other": "rep-c"}.get(
                self.kind, "setup")
            result = self.service.add_note(
                CommandContext(actor=author, tenant_id=self.tenant), "customer",
                UUID(self.customer()), body="Matrix note")
            self._note(result)
            self.made["note"] = result.ids["note_id"]
        return self.made["note"]

    def alert(self) -> str:
        if "alert" not in self.made:
            spec = AlertSpec(uuid4(), "follow_up_overdue", [self.owner or "nobody-yet"],
                             "Matrix alert")
            result = self.service.mark_follow_up_overdue(
                CommandContext(actor="rule:follow-up", tenant_id=self.tenant), UUID(self.lead()),
                manager=None, days_without_contact=8, repeat=False, alert=spec)
            self._note(result)
            self.made["alert"] = str(spec.alert_id)
        return self.made["alert"]


@dataclass(frozen=True)
class Call:
    """How a route is called on a case's records, and what it answers when allowed."""

    request: Callable[[Records, Keys], tuple[str, dict[str, Any]]]
    """(url, httpx keyword arguments)."""
    success: int = 200
    record: bool = True
    """Whether it names a record (else another tenant is chosen with X-Tenant-ID)."""
    in_book_if_unassigned: bool = True
    """Whether the `unassigned` record is in every sales book (tickets and alerts are not)."""
    endless: bool = False
    """An answer that never ends by itself (the event stream): its head is read, then the
    client hangs up."""


def body(value: dict[str, Any]) -> dict[str, Any]:
    return {"json": value}


def rules_text() -> dict[str, Any]:
    return {"content": f"{ORG}\n# {uuid4()}\n",
            "headers": {"Content-Type": "application/toml"}}


CALLS: dict[tuple[str, str], Call] = {
    ("GET", "/v1/me"): Call(lambda r, k: ("/v1/me", {}), record=False),
    ("GET", "/v1/session"): Call(lambda r, k: ("/v1/session", {}), record=False),
    ("DELETE", "/v1/session"): Call(lambda r, k: ("/v1/session", {}), 204, record=False),
    ("POST", "/v1/customers"): Call(lambda r, k: ("/v1/customers", body(
        {"personal": {"name": "New"}})), 201, record=False),
    ("GET", "/v1/customers"): Call(lambda r, k: ("/v1/customers", {
        "params": {"min_position": r.position, "limit": 200}}), record=False),
    ("GET", "/v1/customers/{customer_id}"): Call(lambda r, k: (
        f"/v1/customers/{r.customer()}", {"params": {"min_position": r.position}})),
    ("GET", "/v1/customers/{customer_id}/timeline"): Call(lambda r, k: (
        f"/v1/customers/{r.customer()}/timeline", {"params": {"min_position": r.position}})),
    ("GET", "/v1/customers/{customer_id}/history"): Call(lambda r, k: (
        f"/v1/customers/{r.customer()}/history", {})),
    ("POST", "/v1/customers/{customer_id}/profile"): Call(lambda r, k: (
        f"/v1/customers/{r.customer()}/profile", body({"company": f"C {uuid4().hex[:6]}"}))),
    ("GET", "/v1/customers/{customer_id}/export"): Call(lambda r, k: (
        f"/v1/customers/{r.customer()}/export", {})),
    ("POST", "/v1/customers/{customer_id}/erase"): Call(lambda r, k: (
        f"/v1/customers/{r.customer()}/erase", body({
            "legal_basis": "gdpr_art_17", "request_reference": "DSR-1", "reason": "Asked"}))),
    ("POST", "/v1/customers/{customer_id}/tags"): Call(lambda r, k: (
        f"/v1/customers/{r.customer()}/tags", body({"tag": "matrix"}))),
    ("DELETE", "/v1/customers/{customer_id}/tags/{tag}"): Call(lambda r, k: (
        f"/v1/customers/{r.customer()}/tags/seed", {})),
    ("POST", "/v1/customers/{customer_id}/consents"): Call(lambda r, k: (
        f"/v1/customers/{r.customer()}/consents", body({"channel": "email", "granted": True}))),
    ("POST", "/v1/customers/{customer_id}/owner"): Call(lambda r, k: (
        f"/v1/customers/{r.customer()}/owner", body({"owner": "rep-z"}))),
    ("POST", "/v1/customers/{customer_id}/interactions"): Call(lambda r, k: (
        f"/v1/customers/{r.customer()}/interactions", body({"channel": "call"})), 201),
    ("POST", "/v1/customers/{customer_id}/tickets"): Call(lambda r, k: (
        f"/v1/customers/{r.customer()}/tickets", body({"subject": "Help",
                                                       "priority": "low"})), 201),
    ("POST", "/v1/customers/{customer_id}/purchases"): Call(lambda r, k: (
        f"/v1/customers/{r.customer()}/purchases", body({"amount": "5.00",
                                                         "currency": "EUR"})), 201),
    ("GET", "/v1/leads"): Call(lambda r, k: ("/v1/leads", {
        "params": {"min_position": r.position, "limit": 200}}), record=False),
    ("GET", "/v1/leads/{lead_id}"): Call(lambda r, k: (
        f"/v1/leads/{r.lead()}", {"params": {"min_position": r.position}})),
    ("POST", "/v1/leads"): Call(lambda r, k: ("/v1/leads", body(
        {"customer_id": r.customer(), "title": "Another"})), 201),
    ("POST", "/v1/leads/{lead_id}/stage"): Call(lambda r, k: (
        f"/v1/leads/{r.lead()}/stage", body({"stage": "contacted"}))),
    ("POST", "/v1/leads/{lead_id}/amount"): Call(lambda r, k: (
        f"/v1/leads/{r.lead()}/amount", body({"amount": "200.00", "currency": "EUR"}))),
    ("POST", "/v1/leads/{lead_id}/payments"): Call(lambda r, k: (
        f"/v1/leads/{r.lead()}/payments", body({"amount": "10.00", "currency": "EUR"})), 201),
    ("POST", "/v1/leads/{lead_id}/assign"): Call(lambda r, k: (
        f"/v1/leads/{r.lead()}/assign", body({"owner": "rep-b"}))),
    ("POST", "/v1/leads/{lead_id}/discounts"): Call(lambda r, k: (
        f"/v1/leads/{r.lead()}/discounts", body({"percent": "5"})), 201),
    ("POST", "/v1/leads/{lead_id}/discounts/{discount_id}/approve"): Call(lambda r, k: (
        f"/v1/leads/{r.lead()}/discounts/{r.discount()}/approve", body({}))),
    ("POST", "/v1/leads/{lead_id}/discounts/{discount_id}/reject"): Call(lambda r, k: (
        f"/v1/leads/{r.lead()}/discounts/{r.discount()}/reject", body({}))),
    ("POST", "/v1/tickets/{ticket_id}/status"): Call(lambda r, k: (
        f"/v1/tickets/{r.ticket()}/status", body({"status": "pending"})),
        in_book_if_unassigned=False),
    ("POST", "/v1/tickets/{ticket_id}/comments"): Call(lambda r, k: (
        f"/v1/tickets/{r.ticket()}/comments", body({"personal": {"body": "On it"}})), 201,
        in_book_if_unassigned=False),
    ("POST", "/v1/tickets/{ticket_id}/priority"): Call(lambda r, k: (
        f"/v1/tickets/{r.ticket()}/priority", body({"priority": "urgent"})),
        in_book_if_unassigned=False),
    ("POST", "/v1/tickets/{ticket_id}/assign"): Call(lambda r, k: (
        f"/v1/tickets/{r.ticket()}/assign", body({"assignee": "agent-9"})),
        in_book_if_unassigned=False),
    ("GET", "/v1/tickets"): Call(lambda r, k: ("/v1/tickets", {
        "params": {"min_position": r.position, "limit": 200}}), record=False),
    # a ticket is in a book through its assignee, its opener or its customer (whose lead
    # waiting for assignment puts it in every sales book)
    ("GET", "/v1/tickets/{ticket_id}"): Call(lambda r, k: (
        f"/v1/tickets/{r.ticket()}", {"params": {"min_position": r.position}})),
    ("POST", "/v1/tasks"): Call(lambda r, k: ("/v1/tasks", body({
        "customer_id": r.customer(), "title": "Call", "assignee": "rep-a",
        "due_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()})), 201),
    ("GET", "/v1/tasks"): Call(lambda r, k: ("/v1/tasks", {
        "params": {"min_position": r.position, "limit": 200, "status": "any"}}), record=False),
    ("POST", "/v1/tasks/{task_id}/complete"): Call(lambda r, k: (
        f"/v1/tasks/{r.task()}/complete", body({})), in_book_if_unassigned=False),
    ("POST", "/v1/tasks/{task_id}/reschedule"): Call(lambda r, k: (
        f"/v1/tasks/{r.task()}/reschedule", body({
            "due_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()})),
        in_book_if_unassigned=False),
    ("POST", "/v1/tasks/{task_id}/reassign"): Call(lambda r, k: (
        f"/v1/tasks/{r.task()}/reassign", body({"assignee": "rep-z"})),
        in_book_if_unassigned=False),
    ("POST", "/v1/tasks/{task_id}/cancel"): Call(lambda r, k: (
        f"/v1/tasks/{r.task()}/cancel", body({})), in_book_if_unassigned=False),
    ("POST", "/v1/customers/{customer_id}/notes"): Call(lambda r, k: (
        f"/v1/customers/{r.customer()}/notes", body({"body": "A note"})), 201),
    ("GET", "/v1/customers/{customer_id}/notes"): Call(lambda r, k: (
        f"/v1/customers/{r.customer()}/notes", {"params": {"min_position": r.position}})),
    ("POST", "/v1/leads/{lead_id}/notes"): Call(lambda r, k: (
        f"/v1/leads/{r.lead()}/notes", body({"body": "A note"})), 201),
    ("POST", "/v1/tickets/{ticket_id}/notes"): Call(lambda r, k: (
        f"/v1/tickets/{r.ticket()}/notes", body({"body": "A note"})), 201,
        in_book_if_unassigned=False),
    ("POST", "/v1/notes/{note_id}/edit"): Call(lambda r, k: (
        f"/v1/notes/{r.note()}/edit", body({"body": "Edited"})), in_book_if_unassigned=False),
    ("DELETE", "/v1/notes/{note_id}"): Call(lambda r, k: (
        f"/v1/notes/{r.note()}", {}), in_book_if_unassigned=False),
    ("GET", "/v1/alerts"): Call(lambda r, k: ("/v1/alerts", {
        "params": {"min_position": r.position, "limit": 200}}), record=False),
    ("POST", "/v1/alerts/{alert_id}/acknowledge"): Call(lambda r, k: (
        f"/v1/alerts/{r.alert()}/acknowledge", body({})), in_book_if_unassigned=False),
    ("POST", "/v1/alerts/{alert_id}/resolve"): Call(lambda r, k: (
        f"/v1/alerts/{r.alert()}/resolve", body({})), in_book_if_unassigned=False),
    **{("GET", f"/v1/analytics/{name}"): Call(
        lambda r, k, name=name: (f"/v1/analytics/{name}", {}), record=False)
       for name in ("funnel", "lifecycle", "retention", "service", "sales")},
    ("GET", "/v1/rules"): Call(lambda r, k: ("/v1/rules", {}), record=False),
    ("GET", "/v1/rules/history"): Call(lambda r, k: ("/v1/rules/history", {}), record=False),
    ("PUT", "/v1/rules"): Call(lambda r, k: ("/v1/rules", rules_text()), record=False),
    ("POST", "/v1/rules/check"): Call(lambda r, k: ("/v1/rules/check", rules_text()),
                                      record=False),
    ("GET", "/v1/admin/keys"): Call(lambda r, k: ("/v1/admin/keys", {}), record=False),
    ("POST", "/v1/admin/keys"): Call(lambda r, k: ("/v1/admin/keys", body(
        {"subject": "new-key", "roles": ["analyst"]})), 201, record=False),
    ("DELETE", "/v1/admin/keys/{key_id}"): Call(lambda r, k: (
        f"/v1/admin/keys/{issued_key_id(r, k)}", {})),
    ("GET", "/v1/admin/users"): Call(lambda r, k: ("/v1/admin/users", {}), record=False),
    ("POST", "/v1/admin/users"): Call(lambda r, k: ("/v1/admin/users", body(
        {"name": f"user-{uuid4().hex[:8]}", "roles": ["analyst"], "generate_password": True})),
        201, record=False),
    ("POST", "/v1/admin/users/{name}/password"): Call(lambda r, k: (
        f"/v1/admin/users/{account_of(r)}/password", body({"generate_password": True}))),
    ("POST", "/v1/admin/users/{name}/disable"): Call(lambda r, k: (
        f"/v1/admin/users/{account_of(r)}/disable", body({}))),
    ("GET", "/v1/audit/access"): Call(lambda r, k: ("/v1/audit/access", {}), record=False),
    ("GET", "/v1/audit/verify"): Call(lambda r, k: ("/v1/audit/verify", {}), record=False),
    ("GET", "/v1/projections"): Call(lambda r, k: ("/v1/projections", {}), record=False),
    ("GET", "/v1/projections/{name}/dead-letters"): Call(lambda r, k: (
        "/v1/projections/customer_360/dead-letters", {}), record=False),
    ("GET", "/metrics"): Call(lambda r, k: ("/metrics", {}), record=False),
    ("GET", "/v1/stream"): Call(lambda r, k: ("/v1/stream", {}), record=False, endless=True),
    ("POST", "/v1/stream/tickets"): Call(lambda r, k: ("/v1/stream/tickets", {}), 201,
                                         record=False),
}


def account_of(records: Records) -> str:
    """A local account of the case's tenant (accounts are the tenant's, whoever's book)."""
    name = f"account-{uuid4().hex[:8]}"
    add_user(records.service, UserDirectory(records.service.store), records.ctx(), name=name,
             roles=["analyst"], teams=[], password=f"matrix-{uuid4().hex}")
    return name


def issued_key_id(records: Records, keys: Keys) -> str:
    """A key of the case's tenant to revoke (keys are the tenant's, whoever's book)."""
    token = keys.token(records.tenant, f"revocable-{uuid4().hex[:8]}", ["analyst"])
    return str(UUID(token.split("_")[1]))


def expected(route: Route, role: str, kind: Kind, call: Call) -> int:
    scope = scope_of(principal_of(role), route.action)
    if scope is None:
        return 403
    if kind == "other_tenant":
        return 404 if call.record else 403
    if not call.record or scope == "tenant" or kind == "own":
        return call.success
    if kind == "unassigned" and call.in_book_if_unassigned:
        return call.success
    return 404


def cases() -> Iterator[Any]:
    for route in ROUTES:
        call = CALLS[(route.method, route.path)]
        for role in ROLES:
            for kind in KINDS:
                if not call.record and kind in ("other", "unassigned"):
                    continue  # nothing to be in or out of a book
                yield pytest.param(route, role, kind, id=f"{route.method} {route.path} "
                                   f"{role} {kind}")


def test_every_route_has_a_call_in_the_matrix() -> None:
    assert set(CALLS) == set(ACTION_OF)


@dataclass
class Served:
    client: TestClient
    keys: Keys
    service: CommandService
    tenants: dict[str, str]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres-reader",
                                                               marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """On the embedded store, and on PostgreSQL with row-level security on."""
    settings = embedded_or_postgres(request.param, request,
                                    Path(tmp_path_factory.mktemp("crm-data")),
                                    read_wait_timeout_s=30.0)
    with ExitStack() as stack:
        client, _ = compose_serve(stack, settings)
        keys = keys_of(client.app)
        tenants = {"t": f"t-{uuid4().hex[:8]}", "u": f"u-{uuid4().hex[:8]}"}
        for tenant in tenants.values():
            applied = client.put("/v1/rules", content=ORG, headers={
                **keys.headers(tenant, "boss"), "Content-Type": "application/toml"})
            assert applied.status_code == 200, applied.text
        yield Served(client, keys, fastapi_app(client.app).state.command_service, tenants)


@pytest.mark.parametrize(("route", "role", "kind"), list(cases()))
def test_the_matrix(served: Served, route: Route, role: str, kind: Kind) -> None:
    call = CALLS[(route.method, route.path)]
    ours = served.tenants["t"]
    records = Records(served.service, served.tenants["u"] if kind == "other_tenant" and
                      call.record else ours, kind, role)
    url, options = call.request(records, served.keys)
    principal = principal_of(role)
    headers = served.keys.headers(ours, principal.subject, principal.roles, principal.scopes)
    if kind == "other_tenant" and not call.record:
        headers["X-Tenant-ID"] = served.tenants["u"]
    headers |= options.pop("headers", {})
    if call.endless:
        with served.client.stream(route.method, url, headers=headers, **options) as response:
            if response.status_code != 200:
                response.read()
    else:
        response = served.client.request(route.method, url, headers=headers, **options)
    want = expected(route, role, kind, call)
    assert response.status_code == want, response.text
    if want >= 400:
        body = error_shaped(response, want)
        if want == 403 and kind != "other_tenant":
            assert body["code"] == "forbidden" and body["details"]["action"] == route.action
    elif (route.method, route.path) in (("GET", "/v1/customers"), ("GET", "/v1/leads")):
        assert_lists_only_the_book(served, role, route.action, response.json())
    elif (route.method, route.path) == ("GET", "/v1/tasks"):
        assert_lists_only_the_books_tasks(role, response.json())


def assert_lists_only_the_book(served: Served, role: str, action: str,
                               page: dict[str, Any]) -> None:
    """Nothing outside the caller's book appears in the list or its total."""
    scope = scope_of(principal_of(role), action)
    if scope == "tenant":
        return
    subject = SUBJECT[role]
    people = {subject, "*unassigned*"} | ({"rep-a", "rep-b"} if scope == "team" else set())
    owners = {item["owner"] for item in page["items"]}
    assert owners <= people | {None}, owners


def assert_lists_only_the_books_tasks(role: str, page: dict[str, Any]) -> None:
    """Every task listed is assigned to or given by someone in the caller's book."""
    scope = scope_of(principal_of(role), "tasks.read")
    if scope == "tenant":
        return
    subject = principal_of(role).subject
    people = {subject, "*unassigned*"} | ({"rep-a", "rep-b"} if scope == "team" else set())
    outside = [(t["assignee"], t["created_by"]) for t in page["items"]
               if t["assignee"] not in people and t["created_by"] not in people]
    assert not outside, outside
