"""`GET /v1/customers/{id}/export`: everything about a person as one document (subject access
and portability; services/query/subject_export.py). Every export is in the access log."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request

from services.common.auth.http import CallerDep
from services.common.limited import ExpensiveRead
from services.common.people import PeopleDirectory
from services.common.web import ERROR_RESPONSES, ApiError
from services.query.api.deps import ReadModelsDep, RecordAccess
from services.query.subject_export import FORMAT, subject_export

_EXAMPLE: dict[str, Any] = {
    "format": FORMAT, "generated_at": "2026-12-03T10:00:00+00:00", "tenant_id": "acme",
    "customer_id": "6a2ec81c-b024-4755-9c07-4ce0dc537015", "erased": False,
    "profile": {"personal": {"name": "Ada Lovelace", "email": "ada@example.com"},
                "company": "Analytical Engines", "region": "EMEA", "industry": None,
                "source": "web", "owner": "rep-1", "tags": ["vip"], "external_ref": None,
                "registered_at": "2026-03-01T09:00:00+00:00", "registered_by": "rep-1"},
    "consents": {"email": True}, "leads": [], "purchases": [], "interactions": [],
    "tickets": [], "tasks": [], "notes": [], "history": [{
        "position": 1041, "type": "crm.customer.registered", "version": 2,
        "event_id": "27731d44-33cc-497f-a9a1-6d540c91a409",
        "aggregate_id": "6a2ec81c-b024-4755-9c07-4ce0dc537015", "actor": "rep-1",
        "actor_name": "Rita Rep", "occurred_at": "2026-03-01T09:00:00+00:00",
        "recorded_at": "2026-03-01T09:00:00.120000+00:00", "data": {"company": "Analytical Engines"}}],
    "merged": [],
}

router = APIRouter(tags=["customers (read)"],
                   responses={k: v for k, v in ERROR_RESPONSES.items() if k in (400, 404, 422)})


@router.get("/v1/customers/{customer_id}/export",
            summary="Everything about a customer as one JSON document (GDPR art. 15 and 20)",
            description=f"Profile, consents, leads, purchases, interactions, tickets with their "
            f"comments, tasks, notes, and the full history with actors and times, read from the event store "
            f"(`format`: `{FORMAT}`). After an erasure the personal values are gone from it "
            "too. Each export is recorded in the access log.",
            responses={200: {"content": {"application/json": {"example": _EXAMPLE}}}})
def export_customer(customer_id: Annotated[UUID, Path(description="Customer id")],
                    request: Request, read_models: ReadModelsDep, caller: CallerDep,
                    record: RecordAccess, _slot: ExpensiveRead) -> dict[str, Any]:
    if read_models.event_store is None:
        raise ApiError(422, "unavailable", "a subject export needs the event store")
    people: PeopleDirectory | None = getattr(request.app.state, "people", None)
    document = subject_export(
        read_models.event_store, customer_id, caller.tenant_id,
        lambda actors: people.names(caller.tenant_id, actors) if people else {})
    if document is None:
        raise ApiError(404, "not_found", f"customer {customer_id} not found", kind="customer",
                       id=str(customer_id))
    record("subject_export", [str(customer_id)])
    return document
