"""Response documents of the query API (kept apart from the read-model rows)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_CUSTOMER_EXAMPLE: dict[str, Any] = {
    "customer_id": "6a2ec81c-b024-4755-9c07-4ce0dc537015",
    "personal": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "company": "Analytical Engines Ltd", "region": "EMEA", "lifecycle_stage": "customer",
    "owner": "rep-7", "tags": ["vip"],
    "leads": [{"lead_id": "d8a1d944-a7f8-4f0f-ae05-416b4ce82ee4", "stage": "proposal",
               "amount": "12000.00", "currency": "EUR", "owner": "rep-7", "status": "open"}],
    "purchases": {"count": 2, "total": "199.80", "average": "99.90", "currency": "EUR",
                  "first_at": "2026-01-05T10:00:00.000000+00:00",
                  "last_at": "2026-03-05T10:00:00.000000+00:00"},
    "interactions": {"count": 3, "by_channel": {"call": 2, "email": 1},
                     "last_at": "2026-03-02T10:00:00.000000+00:00"},
    "tickets": {"open": 0, "total": 1, "avg_resolution_hours": 5.5},
    "tasks": {"open": 1, "overdue": 0, "next_due_at": "2026-03-10T08:00:00.000000+00:00",
              "items": [{"task_id": "3b9d0c2e-8f41-4a57-9e1c-5d2a7b6c4e10",
                         "title": "Call Ada back about the upgrade", "assignee": "rep-7",
                         "status": "open", "due_at": "2026-03-10T08:00:00.000000+00:00",
                         "remind_before": "15m", "overdue": False}]},
    "notes": {"count": 1, "pinned": 1,
              "items": [{"note_id": "9e2b7c4a-1d3f-4b6e-8a5c-7f0e2d1c3b4a",
                         "subject_kind": "customer", "pinned": True, "author": "rep-7",
                         "body": "Prefers calls after 4pm; decision with the CFO in May.",
                         "created_at": "2026-03-02T09:30:00.000000+00:00"}]},
    "timeline": [{"event_id": "27731d44-33cc-497f-a9a1-6d540c91a409", "kind": "lead",
                  "type": "crm.lead.stage_changed", "occurred_at": "2026-03-02T09:30:00.000000+00:00",
                  "summary": "Lead 'Difference engine upgrade' moved negotiation → proposal"}],
    "version": 14,
}


class Customer360(BaseModel):
    """One view of a customer; more fields than listed here may be present."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [_CUSTOMER_EXAMPLE]})

    customer_id: str
    personal: dict[str, Any] = Field(default_factory=dict)
    display_name: str | None = Field(None, description="The name, else the external "
                                     "reference (a customer an import met first, until a "
                                     "profile names it); null once erased")
    company: str | None = None
    lifecycle_stage: str | None = Field(None, description="prospect, engaged, customer, loyal "
                                        "or dormant, as of now (or `as_of`)")
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    leads: list[dict[str, Any]] = Field(default_factory=list)
    purchases: dict[str, Any] = Field(default_factory=dict)
    interactions: dict[str, Any] = Field(default_factory=dict)
    tickets: dict[str, Any] = Field(default_factory=dict)
    tasks: dict[str, Any] = Field(default_factory=dict, description="Open tasks: `open`, "
                                  "`overdue`, `next_due_at`, and the 20 soonest due as `items` "
                                  "(GET /v1/tasks?customer_id= lists every one)")
    notes: dict[str, Any] = Field(default_factory=dict, description="Notes on the customer, its "
                                  "leads and tickets: `count`, `pinned`, and the first 20 as "
                                  "`items`, pinned first, then newest (GET "
                                  "/v1/customers/{id}/notes pages through every one)")
    timeline: list[dict[str, Any]] = Field(default_factory=list,
                                           description="The 20 most recent timeline entries")
    version: int = Field(description="Events applied to this document")


class CustomerSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    customer_id: str
    name: str | None = None
    email: str | None = None
    display_name: str | None = Field(None, description="The name, else the external "
                                     "reference (a customer an import met first, until a "
                                     "profile names it); null once erased")
    external_ref: str | None = Field(None, description="The customer's id in a source system")
    erased: bool = False
    company: str | None = None
    owner: str | None = None
    region: str | None = None
    source: str | None = None
    lifecycle_stage: str | None = None
    tags: list[str] = Field(default_factory=list)
    created_at: str | None = None


class CustomerPage(BaseModel):
    items: list[CustomerSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end")
    total: int | None = Field(None, description="Matching customers, when `include_total=true`")


class TimelineEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    event_id: str
    kind: str = Field(examples=["lead"])
    type: str = Field(examples=["crm.lead.stage_changed"])
    occurred_at: str
    recorded_at: str
    position: int
    actor: str
    aggregate_id: str
    summary: str = Field(examples=["Lead 'Difference engine upgrade' moved contacted → qualified"])
    data: dict[str, Any] = Field(default_factory=dict)


class TimelinePage(BaseModel):
    items: list[TimelineEntry]
    next_cursor: str | None


class AlertItem(BaseModel):
    """An alert a rule raised, and where it stands."""

    model_config = ConfigDict(extra="allow")

    alert_id: str
    customer_id: str
    kind: str = Field(examples=["follow_up_overdue"],
                      description="follow_up_overdue, sla_breached, discount_approval, "
                      "task_reminder or task_overdue")
    subject_kind: str = Field(examples=["lead"], description="lead, ticket, task or customer")
    subject_id: str
    assignees: list[str] = Field(examples=[["rep-7", "manager-2"]])
    summary: str = Field(examples=["Lead 'Difference engine upgrade' without contact for 8 days"])
    status: str = Field(examples=["open"], description="open, acknowledged or resolved")
    raised_at: str
    raised_by: str = Field(examples=["rule:follow-up"])
    due_at: str | None = Field(None, description="The deadline that was missed, if any")
    acknowledged_at: str | None = None
    acknowledged_by: str | None = None
    resolved_at: str | None = None
    resolved_by: str | None = None
    note: str | None = Field(None, description="The latest note given on acknowledge or resolve")
    position: int = Field(description="Global position of the raise")
    cause_event_id: str | None = Field(None, description="The event the rule reacted to")


class AlertPage(BaseModel):
    items: list[AlertItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end")


_TICKET_EXAMPLE: dict[str, Any] = {
    "ticket_id": "0f6b5a8e-3c1d-4e0a-9d7b-2a1f6c3e4b5d",
    "customer_id": "6a2ec81c-b024-4755-9c07-4ce0dc537015",
    "customer_name": "Ada Lovelace", "customer_company": "Analytical Engines Ltd",
    "customer_external_ref": "ERP-0042", "customer_erased": False,
    "subject": "Cannot log in to the portal", "status": "open", "priority": "urgent",
    "channel": "email", "assignee": "agent-3", "opened_by": "agent-3", "lead_id": None,
    "external_ref": None, "opened_at": "2026-03-02T09:00:00.000000+00:00",
    "updated_at": "2026-03-02T09:40:00.000000+00:00", "first_response_at": None,
    "resolved_at": None, "closed_at": None, "reopened": 0,
    "due_at": "2026-03-02T10:00:00.000000+00:00", "due_sla": "first_response",
    "breached": False, "breaches": 0,
}


class TicketSummary(BaseModel):
    """A ticket as lists show it; its clocks are read at `as_of` (default now)."""

    model_config = ConfigDict(extra="allow")

    ticket_id: str
    customer_id: str
    customer_name: str | None = Field(None, description="The customer's name, or its "
                                      "external reference until a profile names it (and for "
                                      "a caller whose roles withhold personal data); "
                                      "\"[erased]\" once the customer is erased")
    customer_company: str | None = None
    customer_external_ref: str | None = None
    customer_erased: bool = False
    subject: str | None = Field(None, description="\"[erased]\" once the customer is erased; "
                                "null for a caller whose roles withhold personal data")
    status: str = Field(examples=["open"], description="open, pending, resolved, closed or "
                        "reopened")
    priority: str = Field(examples=["urgent"], description="low, normal, high or urgent")
    channel: str | None = None
    assignee: str | None = None
    opened_by: str | None = None
    lead_id: str | None = None
    external_ref: str | None = None
    opened_at: str
    updated_at: str = Field(description="Business time of the ticket's latest change")
    first_response_at: str | None = None
    resolved_at: str | None = Field(None, description="Its first resolution")
    closed_at: str | None = None
    reopened: int = 0
    due_at: str | None = Field(None, description="The earliest deadline of its SLA clocks "
                               "still running, passed or not; null once none runs")
    due_sla: str | None = Field(None, description="first_response or resolution: whose "
                                "deadline `due_at` is")
    breached: bool = Field(description="A breach was recorded, a clock is overdue or finished "
                           "late, at `as_of`")
    breaches: int = Field(0, description="SLA breaches the rule recorded")


class TicketPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [_TICKET_EXAMPLE], "next_cursor": None, "total": 1}]})

    items: list[TicketSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end")
    total: int | None = Field(None, description="Matching tickets, when `include_total=true`")


class TicketClock(BaseModel):
    target_seconds: int | None = Field(description="The target in force for the ticket's "
                                       "priority; null without one")
    started_at: str
    deadline: str | None
    stopped_at: str | None
    elapsed_seconds: float | None
    remaining_seconds: float | None = Field(description="Until the deadline, while running "
                                            "(negative once passed)")
    state: str = Field(examples=["running"], description="running, overdue, "
                       "waiting_on_customer, met, missed or stopped")
    breach_recorded: bool


class TicketClocks(BaseModel):
    as_of: str
    first_response: TicketClock
    resolution: TicketClock


class TicketDetail(TicketSummary):
    """A ticket page: its clocks, history, escalations, alerts and comments."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        **_TICKET_EXAMPLE,
        "clocks": {"as_of": "2026-03-02T09:45:00.000000+00:00",
                   "first_response": {
                       "target_seconds": 3600, "started_at": "2026-03-02T09:00:00.000000+00:00",
                       "deadline": "2026-03-02T10:00:00.000000+00:00", "stopped_at": None,
                       "elapsed_seconds": 2700.0, "remaining_seconds": 900.0,
                       "state": "running", "breach_recorded": False},
                   "resolution": {
                       "target_seconds": 28800, "started_at": "2026-03-02T09:00:00.000000+00:00",
                       "deadline": "2026-03-02T17:00:00.000000+00:00", "stopped_at": None,
                       "elapsed_seconds": 2700.0, "remaining_seconds": 26100.0,
                       "state": "running", "breach_recorded": False}},
        "status_history": [{"from_status": None, "to_status": "open",
                            "at": "2026-03-02T09:00:00.000000+00:00", "by": "agent-3",
                            "reason": None}],
        "assignments": [], "priority_changes": [{
            "from_priority": "high", "to_priority": "urgent",
            "at": "2026-03-02T09:40:00.000000+00:00", "by": "agent-3",
            "reason": "Whole team locked out"}],
        "escalations": [], "alerts": [],
        "comments": [{"comment_id": "a3c1e2d4-5b6f-4a7e-8d9c-0b1a2c3d4e5f", "author": "agent-3",
                      "author_type": "agent", "public": False,
                      "at": "2026-03-02T09:30:00.000000+00:00",
                      "body": "Asked the identity team"}],
        "comments_total": 1, "changes_total": 2, "version": 3, "last_position": 4711}]})

    clocks: TicketClocks
    status_history: list[dict[str, Any]] = Field(description="from_status, to_status, at, by, "
                                                 "reason; oldest first")
    assignments: list[dict[str, Any]] = Field(description="from_assignee, to_assignee, at, by")
    priority_changes: list[dict[str, Any]] = Field(description="from_priority, to_priority, "
                                                   "at, by, reason")
    escalations: list[dict[str, Any]] = Field(description="SLA breaches the rule recorded: "
                                              "sla, priority, target_seconds, deadline, at, by")
    alerts: list[dict[str, Any]] = Field(description="Alerts raised about the ticket, with "
                                         "where they stand")
    comments: list[dict[str, Any]] = Field(description="The latest 200 comments, oldest of "
                                           "them first: comment_id, author, author_type, "
                                           "public, at, body")
    comments_total: int
    changes_total: int = Field(description="Status, assignment, priority and breach entries; "
                               "the latest 500 are shown")
    version: int = Field(description="Events applied to this ticket")
    last_position: int


_TASK_EXAMPLE: dict[str, Any] = {
    "task_id": "3b9d0c2e-8f41-4a57-9e1c-5d2a7b6c4e10",
    "customer_id": "6a2ec81c-b024-4755-9c07-4ce0dc537015",
    "lead_id": "d8a1d944-a7f8-4f0f-ae05-416b4ce82ee4", "ticket_id": None,
    "title": "Call Ada back about the upgrade", "note": None, "assignee": "rep-7",
    "created_by": "rep-7", "status": "open", "due_at": "2026-03-10T08:00:00.000000+00:00",
    "remind_before": "15m", "remind_at": "2026-03-10T07:45:00.000000+00:00", "overdue": False,
    "reminded_at": None, "created_at": "2026-03-02T09:30:00.000000+00:00", "closed_at": None,
    "closed_by": None, "outcome_note": None, "version": 1,
}


class TaskItem(BaseModel):
    """A task, soonest due first in lists."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [_TASK_EXAMPLE]})

    task_id: str
    customer_id: str
    lead_id: str | None = None
    ticket_id: str | None = None
    title: str | None = Field(None, description="Null once the customer is erased, and for a "
                              "caller whose roles withhold personal data")
    note: str | None = None
    assignee: str
    created_by: str
    status: str = Field(examples=["open"], description="open, completed or cancelled")
    due_at: str
    remind_before: str | None = Field(None, examples=["15m"],
                                      description="As the task was given it, e.g. `15m`")
    remind_at: str | None = Field(None, description="When the reminder alert is raised")
    overdue: bool = Field(description="Open and past its due time, now")
    reminded_at: str | None = Field(None, description="When the reminder of the current due "
                                    "time was raised")
    created_at: str
    closed_at: str | None = None
    closed_by: str | None = None
    outcome_note: str | None = Field(None, description="The note given on completion")
    version: int = Field(description="The task's version: pass it as `expected_version`")


class TaskPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [_TASK_EXAMPLE], "next_cursor": None}]})

    items: list[TaskItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end")


_NOTE_EXAMPLE: dict[str, Any] = {
    "note_id": "9e2b7c4a-1d3f-4b6e-8a5c-7f0e2d1c3b4a",
    "customer_id": "6a2ec81c-b024-4755-9c07-4ce0dc537015", "subject_kind": "customer",
    "subject_id": "6a2ec81c-b024-4755-9c07-4ce0dc537015",
    "body": "Prefers calls after 4pm; decision with the CFO in May.", "pinned": True,
    "author": "rep-7", "created_at": "2026-03-02T09:30:00.000000+00:00", "edited_at": None,
    "edited_by": None, "version": 1, "position": 1042,
}


class NoteItem(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [_NOTE_EXAMPLE]})

    note_id: str
    customer_id: str
    subject_kind: str = Field(examples=["customer"], description="customer, lead or ticket")
    subject_id: str
    body: str | None = Field(None, description="Null once the customer is erased, and for a "
                             "caller whose roles withhold personal data")
    pinned: bool
    author: str
    created_at: str
    edited_at: str | None = None
    edited_by: str | None = None
    version: int = Field(description="The note's version: pass it as `expected_version`")
    position: int


class NotePage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [_NOTE_EXAMPLE], "next_cursor": None}]})

    items: list[NoteItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end")
