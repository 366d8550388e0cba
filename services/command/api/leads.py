"""Routes on leads: creation, pipeline stage, owner, amount, discounts and payments."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from services.command.api.customers import new_customer
from services.command.api.deps import (
    Context,
    IdempotencyHeader,
    IfMatch,
    Run,
    Service,
    accepted,
    expected_version,
)
from services.command.api.models import (
    CommandAccepted,
    DiscountApprovalIn,
    DiscountIn,
    DiscountRejectionIn,
    LeadAmountIn,
    LeadAssignIn,
    LeadIn,
    PaymentIn,
    StageIn,
)
from services.common.web import ERROR_RESPONSES

router = APIRouter(prefix="/v1/leads", tags=["leads"], responses=ERROR_RESPONSES)
LeadId = Annotated[UUID, Path(description="Lead id")]
DiscountId = Annotated[UUID, Path(description="Discount id")]


@router.post("", status_code=201, response_model=CommandAccepted,
             summary="Create a lead for an existing or a new customer")
async def create_lead(body: LeadIn, service: Service, run: Run, ctx: Context,
                      idempotency: IdempotencyHeader) -> JSONResponse:
    return accepted(await run(
        service.create_lead,
        ctx.with_occurred_at(body.occurred_at), customer_id=body.customer_id,
        new_customer=new_customer(body.customer) if body.customer else None, title=body.title,
        source=body.source, channel=body.channel, region=body.region, industry=body.industry,
        amount=body.amount, currency=body.currency, owner=body.owner,
        external_ref=body.external_ref, idempotency=idempotency,
    ))


@router.post("/{lead_id}/stage", response_model=CommandAccepted,
             summary="Move the lead to another pipeline stage")
async def change_stage(lead_id: LeadId, body: StageIn, service: Service, run: Run, ctx: Context,
                       idempotency: IdempotencyHeader, if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.change_lead_stage,
        ctx.with_occurred_at(body.occurred_at), lead_id, body.stage, reason=body.reason,
        budget_confirmed=body.budget_confirmed, idempotency=idempotency,
        expected_version=expected_version(body.expected_version, if_match),
    ))


@router.post("/{lead_id}/assign", response_model=CommandAccepted, summary="Assign the lead")
async def assign(lead_id: LeadId, body: LeadAssignIn, service: Service, run: Run, ctx: Context,
                 idempotency: IdempotencyHeader, if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.assign_lead,
        ctx.with_occurred_at(body.occurred_at), lead_id, body.owner, idempotency,
        expected_version(body.expected_version, if_match),
    ))


@router.post("/{lead_id}/amount", response_model=CommandAccepted, summary="Change the amount")
async def change_amount(lead_id: LeadId, body: LeadAmountIn, service: Service, run: Run,
                        ctx: Context, idempotency: IdempotencyHeader,
                        if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.change_lead_amount,
        ctx.with_occurred_at(body.occurred_at), lead_id, body.amount, body.currency, idempotency,
        expected_version(body.expected_version, if_match),
    ))


@router.post("/{lead_id}/discounts", status_code=201, response_model=CommandAccepted,
             summary="Request a discount (above the tenant threshold it needs an approval)")
async def request_discount(lead_id: LeadId, body: DiscountIn, service: Service, run: Run,
                           ctx: Context, idempotency: IdempotencyHeader,
                           if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.request_discount,
        ctx.with_occurred_at(body.occurred_at), lead_id, body.percent, body.reason, idempotency,
        expected_version(body.expected_version, if_match),
    ))


@router.post("/{lead_id}/discounts/{discount_id}/approve", response_model=CommandAccepted,
             summary="Approve a pending discount (not by the person who asked)")
async def approve_discount(lead_id: LeadId, discount_id: DiscountId, body: DiscountApprovalIn,
                           service: Service, run: Run, ctx: Context,
                           idempotency: IdempotencyHeader, if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.approve_discount,
        ctx.with_occurred_at(body.occurred_at), lead_id, discount_id, body.note, idempotency,
        expected_version(body.expected_version, if_match),
    ))


@router.post("/{lead_id}/discounts/{discount_id}/reject", response_model=CommandAccepted,
             summary="Reject a pending discount")
async def reject_discount(lead_id: LeadId, discount_id: DiscountId, body: DiscountRejectionIn,
                          service: Service, run: Run, ctx: Context, idempotency: IdempotencyHeader,
                          if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.reject_discount,
        ctx.with_occurred_at(body.occurred_at), lead_id, discount_id, body.reason, idempotency,
        expected_version(body.expected_version, if_match),
    ))


@router.post("/{lead_id}/payments", status_code=201, response_model=CommandAccepted,
             summary="Record a payment received for the lead")
async def receive_payment(lead_id: LeadId, body: PaymentIn, service: Service, run: Run,
                          ctx: Context, idempotency: IdempotencyHeader,
                          if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.receive_payment,
        ctx.with_occurred_at(body.occurred_at), lead_id, body.amount, body.currency,
        body.reference, idempotency, expected_version(body.expected_version, if_match),
    ))
