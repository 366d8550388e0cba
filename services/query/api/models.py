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
    company: str | None = None
    lifecycle_stage: str | None = Field(None, description="prospect, engaged, customer, loyal "
                                        "or dormant, as of now (or `as_of`)")
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    leads: list[dict[str, Any]] = Field(default_factory=list)
    purchases: dict[str, Any] = Field(default_factory=dict)
    interactions: dict[str, Any] = Field(default_factory=dict)
    tickets: dict[str, Any] = Field(default_factory=dict)
    timeline: list[dict[str, Any]] = Field(default_factory=list,
                                           description="The 20 most recent timeline entries")
    version: int = Field(description="Events applied to this document")


class CustomerSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    customer_id: str
    name: str | None = None
    email: str | None = None
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
                      description="follow_up_overdue, sla_breached or discount_approval")
    subject_kind: str = Field(examples=["lead"], description="lead, ticket or customer")
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
