"""`GET /v1/me`: who the credentials name, and what they may do. Served by both APIs; also
their cheapest authenticated route (the benchmarks' floor)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.common.auth.http import AUTHORIZED, CallerDep
from services.common.auth.permissions import ACTIONS, Scope, scope_of
from services.common.web import ERROR_RESPONSES

router = APIRouter(prefix="/v1", tags=["identity"], responses=ERROR_RESPONSES,
                   dependencies=AUTHORIZED)


class Me(BaseModel):
    subject: str = Field(description="Your id: the `actor` of every event you cause.")
    display_name: str | None
    tenant_id: str = Field(description="The tenant this request acts in.")
    tenants: list[str] = Field(description="Every tenant you may choose with X-Tenant-ID "
                               "(`*`: any, only without authentication).")
    roles: list[str]
    teams: list[str]
    scopes: list[str]
    credential: str = Field(description="api_key, oidc, session (signed in with a password), "
                            "or none (authentication off).")
    key_id: str | None
    permissions: dict[str, Scope] = Field(description="Each action you may take, and its "
                                        "scope: tenant, team or own.")


@router.get("/me", response_model=Me, summary="Who you are signed in as, and what you may do")
async def me(caller: CallerDep) -> Me:
    principal = caller.principal
    permissions = {a.name: scope for a in ACTIONS
                   if (scope := scope_of(principal, a.name)) is not None}
    return Me(subject=principal.subject, display_name=principal.display_name,
              tenant_id=caller.tenant_id, tenants=list(principal.tenants),
              roles=sorted(principal.roles), teams=sorted(principal.teams),
              scopes=sorted(principal.scopes), credential=principal.credential,
              key_id=principal.key_id, permissions=permissions)
