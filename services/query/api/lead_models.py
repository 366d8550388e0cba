"""Response documents of the lead routes (kept apart from the read-model rows)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_LEAD_EXAMPLE: dict[str, Any] = {
    "lead_id": "d8a1d944-a7f8-4f0f-ae05-416b4ce82ee4", "title": "Difference engine upgrade",
    "pipeline": "default", "stage": "negotiation", "status": "open", "open": True,
    "owner": "rep-7", "created_by": "rep-7", "source": "web", "channel": "form",
    "region": "EMEA", "industry": "manufacturing", "amount": "12000.00", "currency": "EUR",
    "external_ref": "ERP-OPP-0042", "created_at": "2026-03-02T09:00:00.000000+00:00",
    "stage_entered_at": "2026-03-09T14:00:00.000000+00:00", "closed_at": None,
    "last_contact_at": "2026-03-10T10:30:00.000000+00:00",
    "next_follow_up_at": "2026-03-17T10:30:00.000000+00:00", "follow_up_overdue": False,
    "stale": False, "version": 9,
    "customer_id": "6a2ec81c-b024-4755-9c07-4ce0dc537015", "customer_name": "Ada Lovelace",
    "customer_company": "Analytical Engines Ltd", "customer_external_ref": "ERP-0042",
    "customer_erased": False,
}


class LeadSummary(BaseModel):
    """A lead as lists show it."""

    model_config = ConfigDict(extra="allow")

    lead_id: str
    title: str
    pipeline: str = Field(examples=["default"], description="A tenant has one pipeline, "
                          "`default`: the stages of its rules file")
    stage: str = Field(examples=["negotiation"])
    status: str = Field(examples=["open"], description="open, won or lost")
    open: bool
    owner: str | None = Field(None, description="null while the lead waits for assignment")
    created_by: str
    source: str | None = None
    channel: str | None = None
    region: str | None = None
    industry: str | None = None
    amount: str | None = Field(None, description="Decimal string")
    currency: str | None = None
    external_ref: str | None = Field(None, description="The lead's id in a source system")
    created_at: str = Field(description="Business time")
    stage_entered_at: str = Field(description="When the lead entered its current stage")
    closed_at: str | None = None
    last_contact_at: str = Field(description="The latest of the lead's creation, its stage "
                                 "changes, interactions logged for it and any interaction "
                                 "with its customer (what the follow-up rule counts)")
    next_follow_up_at: str | None = Field(None, description="Last contact (or the latest "
                                          "overdue flag) plus the follow-up window of the "
                                          "stage; null for a closed lead, or without one")
    follow_up_overdue: bool = Field(description="`next_follow_up_at` has passed")
    stale: bool = Field(description="An open lead with no contact (`last_contact_at`) for "
                        "longer than the follow-up window of its stage in the tenant's rules; "
                        "an overdue flag does not reset it, only a contact does")
    version: int = Field(description="The lead's version (events applied to it): send it as "
                         "`expected_version` to refuse a change if someone else changed the "
                         "lead since")
    customer_id: str
    customer_name: str | None = Field(None, description="The customer's name; its external "
                                      "reference until a profile names it (a customer an "
                                      "import met first), or for a caller whose roles "
                                      "withhold personal data; null once erased")
    customer_company: str | None = None
    customer_external_ref: str | None = None
    customer_erased: bool = False


class LeadPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [_LEAD_EXAMPLE], "next_cursor": None, "total": 1}]})

    items: list[LeadSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at "
                                    "the end")
    total: int | None = Field(None, description="Matching leads, when `include_total=true`")


class StageStay(BaseModel):
    stage: str
    entered_at: str
    left_at: str | None = None
    seconds: float | None = Field(None, description="Time in the stage (business time); the "
                                  "current stay of an open lead counts up to now; null for "
                                  "the closing stage")
    current: bool
    by: str = Field(description="Who moved the lead into the stage")
    reason: str | None = Field(None, description="\"[erased]\" once the customer is erased")


class LeadDiscount(BaseModel):
    model_config = ConfigDict(extra="allow")

    discount_id: str
    percent: str
    status: str = Field(description="pending, applied (below the threshold), approved or "
                        "rejected")
    requires_approval: bool
    threshold_percent: str
    requested_by: str
    requested_at: str
    reason: str | None = None
    approver: str | None = Field(None, description="Who the rules sent it to")
    approval_requested_at: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    note: str | None = Field(None, description="The approver's note")
    rejection_reason: str | None = None


class LeadAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    alert_id: str
    kind: str = Field(examples=["follow_up_overdue"])
    status: str = Field(examples=["open"], description="open or acknowledged")
    summary: str
    assignees: list[str]
    raised_at: str
    due_at: str | None = None


class LeadDetail(LeadSummary):
    """A lead's page."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        **_LEAD_EXAMPLE,
        "stage_history": [
            {"stage": "new", "entered_at": "2026-03-02T09:00:00.000000+00:00",
             "left_at": "2026-03-03T09:00:00.000000+00:00", "seconds": 86400.0,
             "current": False, "by": "rep-7", "reason": None},
            {"stage": "negotiation", "entered_at": "2026-03-09T14:00:00.000000+00:00",
             "left_at": None, "seconds": 172800.0, "current": True, "by": "rep-7",
             "reason": "Asked for a volume price"}],
        "stays": 5, "time_in_stage": {"new": 86400.0, "negotiation": 172800.0},
        "lost_reason": None, "won": None,
        "discounts": [{"discount_id": "3b0f9d8e-1a2b-4c3d-9e8f-7a6b5c4d3e2f", "percent": "15",
                       "status": "pending", "requires_approval": True,
                       "threshold_percent": "10", "requested_by": "rep-7",
                       "requested_at": "2026-03-10T10:00:00.000000+00:00",
                       "reason": "Three-year commitment", "approver": "manager-2",
                       "approval_requested_at": "2026-03-10T10:01:00.000000+00:00",
                       "decided_by": None, "decided_at": None, "note": None,
                       "rejection_reason": None}],
        "payments": {"count": 0, "by_currency": {}, "items": []},
        "follow_ups_overdue": 0,
        "alerts": [{"alert_id": "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                    "kind": "discount_approval", "status": "open",
                    "summary": "Discount of 15% on lead 'Difference engine upgrade' needs "
                               "approval",
                    "assignees": ["manager-2"], "raised_at": "2026-03-10T10:01:00.000000+00:00",
                    "due_at": None}],
        "last_position": 1042,
    }]})

    stage_history: list[StageStay] = Field(description="Every stay in a stage, oldest first "
                                           "(the latest 100)")
    stays: int = Field(description="Stays in all (`stage_history` keeps the latest 100)")
    time_in_stage: dict[str, float] = Field(description="Seconds spent in each stage over "
                                            "every stay, the current one up to now")
    lost_reason: str | None = Field(None, description="\"[erased]\" once the customer is "
                                    "erased")
    won: dict[str, Any] | None = Field(None, description="amount, currency and "
                                       "discount_percent at the win")
    discounts: list[LeadDiscount] = Field(description="Discounts and their approvals, oldest "
                                          "first (the latest 100)")
    payments: dict[str, Any] | None = Field(None, description="count, by_currency (totals), "
                                            "items (the latest 100)")
    follow_ups_overdue: int = Field(description="Times the follow-up rule flagged the lead")
    alerts: list[LeadAlert] = Field(description="The lead's open and acknowledged alerts, "
                                    "newest first")
    last_position: int
