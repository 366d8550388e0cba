"""Admin routes on API keys: issue one (its secret shown once), list them, revoke one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from services.command.api.deps import Context, Run, Service
from services.command.domain.errors import NotFound
from services.command.service import CommandService
from services.common.auth.keys import KeyRing
from services.common.auth.permissions import ROLES, SCOPES
from services.common.web import ERROR_RESPONSES

router = APIRouter(prefix="/v1/admin/keys", tags=["access"], responses=ERROR_RESPONSES)
KeyId = Annotated[UUID, Path(description="The key's id (`key_id`, also inside the key).")]
NO_STORE = {"Cache-Control": "no-store"}


class NewKeyIn(BaseModel):
    model_config = {"extra": "forbid"}

    subject: str = Field(min_length=1, max_length=128, description="Who the key speaks for: "
                         "the `actor` of what it writes.", examples=["rep-7"])
    roles: list[str] = Field(min_length=1, max_length=len(ROLES),
                             description=f"Any of: {', '.join(ROLES)}.", examples=[["sales_rep"]])
    scopes: list[str] = Field(default_factory=list, max_length=len(SCOPES),
                              description=f"For the integration role only: {', '.join(SCOPES)}.")
    display_name: str | None = Field(default=None, max_length=200)
    expires_at: AwareDatetime | None = Field(default=None, description="When it stops working.")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650,
                                        description="Or: how many days from now.")

    @model_validator(mode="after")
    def _one_expiry(self) -> NewKeyIn:
        if self.expires_at is not None and self.expires_in_days is not None:
            raise ValueError("give expires_at or expires_in_days, not both")
        return self

    def expiry(self) -> datetime | None:
        if self.expires_in_days is not None:
            return datetime.now(UTC) + timedelta(days=self.expires_in_days)
        return self.expires_at


class KeyOut(BaseModel):
    key_id: str
    tenant_id: str
    subject: str
    display_name: str | None
    roles: list[str]
    scopes: list[str]
    expires_at: datetime | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="The latest use any server recorded "
                                          "(each writes its uses about once a second).")


class KeyIssued(BaseModel):
    key_id: str
    key: str = Field(description="The key itself, shown this once: send it as "
                     "`Authorization: Bearer <key>`.")
    tenant_id: str
    subject: str
    roles: list[str]
    scopes: list[str]
    expires_at: datetime | None
    version: int
    position: int


class KeyList(BaseModel):
    keys: list[KeyOut]


def _ring(request: Request) -> KeyRing:
    ring: KeyRing = request.app.state.key_ring
    return ring


@router.post("", status_code=201, response_model=KeyIssued,
             summary="Issue an API key in your tenant (the key is in this answer only)")
async def create_key(body: NewKeyIn, request: Request, service: Service, run: Run,
                     ctx: Context) -> JSONResponse:
    expires_at = body.expiry()
    result, issued = await run(service.create_api_key, ctx, subject=body.subject,
                               roles=body.roles, scopes=body.scopes, expires_at=expires_at,
                               display_name=body.display_name)
    await run(_ring(request).refresh)
    answer = KeyIssued(key_id=str(issued.key_id), key=issued.token, tenant_id=ctx.tenant_id,
                       subject=body.subject, roles=sorted(set(body.roles)),
                       scopes=sorted(set(body.scopes)), expires_at=expires_at,
                       version=result.version, position=result.position)
    return JSONResponse(answer.model_dump(mode="json"), status_code=201, headers=NO_STORE)


@router.get("", response_model=KeyList, summary="The API keys of your tenant (never secrets)")
async def list_keys(request: Request, run: Run, ctx: Context) -> KeyList:
    records = await run(_ring(request).keys, ctx.tenant_id)
    return KeyList(keys=[KeyOut.model_validate(record.describe()) for record in records])


@router.delete("/{key_id}", summary="Revoke an API key: it stops working at once")
async def revoke_key(key_id: KeyId, request: Request, service: Service, run: Run,
                     ctx: Context) -> dict[str, Any]:
    record = await run(_ring(request).get, key_id)
    if record is None or record.tenant_id != ctx.tenant_id:
        raise NotFound("api_key", key_id)
    result = await run(_revoke, service, _ring(request), ctx, key_id)
    return {"key_id": str(key_id), "version": result.version, "position": result.position}


def _revoke(service: CommandService, ring: KeyRing, ctx: Any, key_id: UUID) -> Any:
    result = service.revoke_api_key(ctx, key_id)
    ring.refresh()
    return result
