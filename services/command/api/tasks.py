"""Routes on tasks: create one for a customer, then complete, reschedule, reassign or cancel it."""

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
    TaskCancelIn,
    TaskCompleteIn,
    TaskIn,
    TaskReassignIn,
    TaskRescheduleIn,
)
from services.common.web import ERROR_RESPONSES

router = APIRouter(prefix="/v1/tasks", tags=["tasks"], responses=ERROR_RESPONSES)
TaskId = Annotated[UUID, Path(description="Task id")]


@router.post("", status_code=201, response_model=CommandAccepted,
             summary="Give someone a task for a customer, due at a time, with a reminder",
             description="The task is the customer's (optionally about one of its leads or "
             "tickets). With `remind_before`, the rule `task-reminder` alerts the assignee that "
             "long before `due_at`; it alerts again if the task is still open when it is due. "
             "A `due_at` already past is refused (422 `due_in_the_past`).")
async def create_task(body: TaskIn, service: Service, run: Run, ctx: Context,
                      idempotency: IdempotencyHeader) -> JSONResponse:
    return accepted(await run(
        service.create_task,
        ctx.with_occurred_at(body.occurred_at), customer_id=body.customer_id, title=body.title,
        assignee=body.assignee, due_at=body.due_at, remind_before=body.remind_before,
        note=body.note, lead_id=body.lead_id, ticket_id=body.ticket_id,
        idempotency=idempotency,
    ))


@router.post("/{task_id}/complete", response_model=CommandAccepted,
             summary="Complete an open task (the body is optional)")
async def complete(task_id: TaskId, service: Service, run: Run, ctx: Context,
                   idempotency: IdempotencyHeader, if_match: IfMatch,
                   body: TaskCompleteIn | None = None) -> JSONResponse:
    body = body or TaskCompleteIn()
    return accepted(await run(
        service.complete_task,
        ctx.with_occurred_at(body.occurred_at), task_id, body.note, idempotency,
        expected_version(body.expected_version, if_match),
    ))


@router.post("/{task_id}/reschedule", response_model=CommandAccepted,
             summary="Move an open task to another due time (and reminder)",
             description="Without `remind_before` the task keeps its reminder, as long before "
             "the new time; `\"remind_before\": null` drops it. The alerts of the old time "
             "resolve themselves, and the new time is reminded of again.")
async def reschedule(task_id: TaskId, body: TaskRescheduleIn, service: Service, run: Run,
                     ctx: Context, idempotency: IdempotencyHeader,
                     if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.reschedule_task,
        ctx.with_occurred_at(body.occurred_at), task_id, body.due_at, body.remind_before,
        keep_reminder="remind_before" not in body.model_fields_set, idempotency=idempotency,
        expected_version=expected_version(body.expected_version, if_match),
    ))


@router.post("/{task_id}/reassign", response_model=CommandAccepted,
             summary="Give an open task to someone else")
async def reassign(task_id: TaskId, body: TaskReassignIn, service: Service, run: Run,
                   ctx: Context, idempotency: IdempotencyHeader, if_match: IfMatch) -> JSONResponse:
    return accepted(await run(
        service.reassign_task,
        ctx.with_occurred_at(body.occurred_at), task_id, body.assignee, idempotency,
        expected_version(body.expected_version, if_match),
    ))


@router.post("/{task_id}/cancel", response_model=CommandAccepted,
             summary="Cancel an open task (the body is optional)")
async def cancel(task_id: TaskId, service: Service, run: Run, ctx: Context,
                 idempotency: IdempotencyHeader, if_match: IfMatch,
                 body: TaskCancelIn | None = None) -> JSONResponse:
    body = body or TaskCancelIn()
    return accepted(await run(
        service.cancel_task,
        ctx.with_occurred_at(body.occurred_at), task_id, idempotency,
        expected_version(body.expected_version, if_match),
    ))
