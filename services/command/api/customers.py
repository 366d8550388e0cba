"""Routes on customers and the records created for them."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

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
    ConsentIn,
    CustomerIn,
    ErasureIn,
    InteractionIn,
    OwnerIn,
    ProfileIn,
    PurchaseIn,
    TagIn,
    TicketIn,
)
from services.command.service import NewCustomer
from services.common.events.customer import CustomerPersonal
from services.common.events.purchase import PurchaseItem
from services.common.events.types import Tag
from services.common.web import ERROR_RESPONSES

router = APIRouter(prefix="/v1/customers", tags=["customers"], responses=ERROR_RESPONSES)
CustomerId = Annotated[UUID, Path(description="Customer id")]


def new_customer(body: CustomerIn) -> NewCustomer:
    return NewCustomer(
        personal=CustomerPersonal(**body.personal.model_dump()), company=body.company,
        region=body.region, industry=body.industry, source=body.source, owner=body.owner,
        tags=list(body.tags), external_ref=body.external_ref,
    )


@router.post("", status_code=201, response_model=CommandAccepted, summary="Register a customer")
async def register_customer(body: CustomerIn, service: Service, run: Run, ctx: Context,
                            idempotency: IdempotencyHeader) -> JSONResponse:
    return accepted(await run(service.register_customer, ctx.with_occurred_at(body.occurred_at),
                                              new_customer(body), idempotency))


@router.post("/{customer_id}/profile", response_model=CommandAccepted,
             summary="Change profile fields (only those given)")
async def change_profile(customer_id: CustomerId, body: ProfileIn, service: Service, run: Run,
                         ctx: Context, idempotency: IdempotencyHeader,
                         if_match: IfMatch) -> JSONResponse:
    personal = (CustomerPersonal(**body.personal.model_dump()) if body.personal else None)
    return accepted(await run(
        service.change_customer_profile,
        ctx.with_occurred_at(body.occurred_at), customer_id, personal=personal,
        company=body.company, region=body.region, industry=body.industry,
        idempotency=idempotency, expected_version=expected_version(body.expected_version, if_match),
    ))


@router.post("/{customer_id}/erase", response_model=CommandAccepted,
             summary="Erase a customer's personal data (crypto-shredding; docs/privacy.md)",
             description="Records `CustomerErased` and destroys the data key of the customer and "
             "of every customer merged into it: no personal value of theirs can be read again, "
             "anywhere. Counts, amounts, stages and dates stay. The customer accepts no further "
             "command (422 `customer_erased`).")
async def erase_customer(customer_id: CustomerId, body: ErasureIn, service: Service, run: Run,
                         ctx: Context, idempotency: IdempotencyHeader) -> JSONResponse:
    return accepted(await run(
        service.erase_customer, ctx, customer_id, reason=body.reason,
        legal_basis=body.legal_basis, request_reference=body.request_reference,
        idempotency=idempotency))


@router.post("/{customer_id}/tags", response_model=CommandAccepted, summary="Tag a customer")
async def tag_customer(customer_id: CustomerId, body: TagIn, service: Service, run: Run,
                       ctx: Context, idempotency: IdempotencyHeader,
                       if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.tag_customer,
        ctx.with_occurred_at(body.occurred_at), customer_id, body.tag, idempotency,
        expected_version(body.expected_version, if_match),
    ))


@router.delete("/{customer_id}/tags/{tag}", response_model=CommandAccepted,
               summary="Remove a tag")
async def untag_customer(customer_id: CustomerId, tag: Annotated[Tag, Path()], service: Service,
                         run: Run, ctx: Context, idempotency: IdempotencyHeader,
                         if_match: IfMatch) -> JSONResponse:
    return accepted(await run(service.untag_customer, ctx, customer_id, tag, idempotency, if_match))


@router.post("/{customer_id}/owner", response_model=CommandAccepted, summary="Change the owner")
async def change_owner(customer_id: CustomerId, body: OwnerIn, service: Service, run: Run,
                       ctx: Context, idempotency: IdempotencyHeader,
                       if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.change_customer_owner,
        ctx.with_occurred_at(body.occurred_at), customer_id, body.owner, idempotency,
        expected_version(body.expected_version, if_match),
    ))


@router.post("/{customer_id}/consents", response_model=CommandAccepted,
             summary="Grant or withdraw a consent")
async def change_consent(customer_id: CustomerId, body: ConsentIn, service: Service, run: Run,
                         ctx: Context, idempotency: IdempotencyHeader,
                         if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.change_customer_consent,
        ctx.with_occurred_at(body.occurred_at), customer_id, body.channel, body.granted,
        idempotency, expected_version(body.expected_version, if_match),
    ))


@router.post("/{customer_id}/interactions", status_code=201, response_model=CommandAccepted,
             summary="Log an interaction")
async def log_interaction(customer_id: CustomerId, body: InteractionIn, service: Service, run: Run,
                          ctx: Context, idempotency: IdempotencyHeader) -> JSONResponse:
    return accepted(await run(
        service.log_interaction,
        ctx.with_occurred_at(body.occurred_at), customer_id, channel=body.channel,
        direction=body.direction, subject=body.subject, duration_s=body.duration_s,
        lead_id=body.lead_id, body=body.personal.body if body.personal else None,
        external_ref=body.external_ref, idempotency=idempotency,
    ))


@router.post("/{customer_id}/tickets", status_code=201, response_model=CommandAccepted,
             summary="Open a ticket")
async def open_ticket(customer_id: CustomerId, body: TicketIn, service: Service, run: Run,
                      ctx: Context, idempotency: IdempotencyHeader) -> JSONResponse:
    return accepted(await run(
        service.open_ticket,
        ctx.with_occurred_at(body.occurred_at), customer_id, subject=body.subject,
        priority=body.priority, channel=body.channel, assignee=body.assignee,
        lead_id=body.lead_id, external_ref=body.external_ref, idempotency=idempotency,
    ))


@router.post("/{customer_id}/purchases", status_code=201, response_model=CommandAccepted,
             summary="Record a purchase")
async def record_purchase(customer_id: CustomerId, body: PurchaseIn, service: Service, run: Run,
                          ctx: Context, idempotency: IdempotencyHeader) -> JSONResponse:
    items = [PurchaseItem(**item.model_dump()) for item in body.items]
    return accepted(await run(
        service.record_purchase,
        ctx.with_occurred_at(body.occurred_at), customer_id, amount=body.amount,
        currency=body.currency, reference=body.reference, items=items, lead_id=body.lead_id,
        idempotency=idempotency,
    ))
