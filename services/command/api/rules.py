"""Routes on the tenant's rules file: replace it, read the rules in force, read every change.

The reads come straight from the event store, not from a read model: the configuration
aggregate is the rules' source of truth and its stream is their audit trail (like a customer's
history). `crm rules show` and `crm rules history` call the same two readers.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.command.api.deps import Context, IdempotencyHeader, IfMatch, Run, Service
from services.command.domain.configuration import (
    TenantConfiguration,
    configuration_id,
    rules_digest,
)
from services.command.domain.rules import RuleSet, changed_rules, format_duration
from services.command.domain.rules.loading import RulesFileError, parse_rules
from services.command.service import CommandService, Idempotency
from services.common.events.tenant import TenantRulesChanged
from services.common.web import ERROR_RESPONSES, ApiError

router = APIRouter(prefix="/v1/rules", tags=["rules"], responses=ERROR_RESPONSES)

RULES_MEDIA_TYPES = ("application/toml", "text/plain")
_TEXT_CHARSETS = ("utf-8", "utf8", "us-ascii")


class RulesChanged(BaseModel):
    tenant_id: str
    version: int = Field(description="The tenant configuration's new version (If-Match).")
    position: int = Field(description="Global position of the recorded TenantRulesChanged.")
    changed: list[str] = Field(description="Named parts of the rules that differ, sorted.")


class RulesInForce(BaseModel):
    tenant_id: str
    version: int = Field(description="0 while the tenant never changed its rules.")
    changed_by: str | None
    changed_at: datetime | None = Field(description="When the store recorded the change.")
    source: str | None
    digest: str = Field(description="SHA-256 of `rules_toml`.")
    rules_toml: str = Field(description="The file as applied; empty for the built-in rules.")
    rules: dict[str, Any] = Field(description="Every rule, defaults included; durations as "
                                  "\"7d\", \"4h30m\", amounts as strings.")


class RuleProblemOut(BaseModel):
    line: int | None = Field(description="The file's line (1-based); null: the whole file.")
    path: str = Field(description="The rule's dotted path, e.g. `follow_up.default`.")
    reason: str


class RulesChecked(BaseModel):
    ok: bool = Field(description="Whether PUT /v1/rules would accept the file.")
    problems: list[RuleProblemOut] = Field(description="Each problem, in file order; empty "
                                           "when ok.")
    changed: list[str] = Field(description="When ok: the named parts of the rules that "
                               "differ from those in force, sorted.")
    in_force: bool = Field(description="Whether the file is the one in force already (a PUT "
                           "of it is refused as no change).")


class RuleChange(BaseModel):
    version: int
    position: int
    changed_by: str
    changed_at: datetime
    source: str
    changed: list[str]
    digest: str


class RulesHistory(BaseModel):
    tenant_id: str
    changes: list[RuleChange] = Field(description="Newest first.")


# -- reading ----------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def rules_as_json(rules: RuleSet) -> dict[str, Any]:
    """The rule set as JSON written the way a rules file writes it."""
    return _jsonable(rules.model_dump(mode="python"))  # type: ignore[no-any-return]


def _changes(service: CommandService, tenant_id: str) -> list[tuple[int, TenantRulesChanged]]:
    """Every recorded change of the tenant's rules with its global position, oldest first."""
    return [(e.position, e.event) for e in service.log.events_of([configuration_id(tenant_id)])
            if isinstance(e.event, TenantRulesChanged)]


def rules_in_force(service: CommandService, tenant_id: str) -> RulesInForce:
    """The tenant's rules as recorded now (version 0: the built-in rules)."""
    changes = _changes(service, tenant_id)
    if not changes:
        config = service.rules_book.configuration(tenant_id)
        return RulesInForce(tenant_id=tenant_id, version=0, changed_by=None, changed_at=None,
                            source=None, digest=config.digest, rules_toml="",
                            rules=rules_as_json(config.rules))
    projected = TenantConfiguration.project(None, [event for _, event in changes])
    assert projected is not None  # its stream starts with a TenantRulesChanged
    last = changes[-1][1]
    return RulesInForce(tenant_id=tenant_id, version=projected.version, changed_by=last.actor,
                        changed_at=last.recorded_at, source=last.source,
                        digest=projected.digest, rules_toml=projected.rules_toml,
                        rules=rules_as_json(projected.rules))


def rules_history(service: CommandService, tenant_id: str) -> RulesHistory:
    """Who changed which rules when, newest first."""
    return RulesHistory(tenant_id=tenant_id, changes=[
        RuleChange(version=event.aggregate_version, position=position, changed_by=event.actor,
                   changed_at=event.recorded_at, source=event.source,
                   changed=list(event.changed), digest=event.digest)
        for position, event in reversed(_changes(service, tenant_id))
    ])


def check_rules(service: CommandService, tenant_id: str, text: str) -> RulesChecked:
    """What PUT /v1/rules would say of a file, without recording anything."""
    try:
        parsed = parse_rules(text, "check")
    except RulesFileError as exc:
        return RulesChecked(ok=False, changed=[], in_force=False, problems=[
            RuleProblemOut(line=p.line, path=p.path, reason=p.reason) for p in exc.problems])
    config = service.rules_book.configuration(tenant_id)
    return RulesChecked(ok=True, problems=[], changed=sorted(changed_rules(config.rules, parsed)),
                        in_force=rules_digest(text) == config.digest)


# -- the request body -------------------------------------------------------------------------


def rules_text(content_type: str | None, body: bytes) -> str:
    """The body as a rules file's text: TOML or plain text in UTF-8, else 415 or 400."""
    media, *params = (content_type or "").split(";")
    if media.strip().lower() not in RULES_MEDIA_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       "send the rules file as Content-Type application/toml or text/plain",
                       content_type=content_type, accepted=list(RULES_MEDIA_TYPES))
    for param in params:
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in _TEXT_CHARSETS:
            raise ApiError(415, "unsupported_media_type", "the rules file must be UTF-8 text",
                           charset=charset)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_encoding", "the rules file is not UTF-8 text",
                       byte_offset=exc.start) from None
    return text.removeprefix("\ufeff")  # a byte-order mark some editors write


def _keyed_on_source(idempotency: Idempotency | None, source: str) -> Idempotency | None:
    """The idempotency fingerprint covers method, path and body; `source` is in the query."""
    if idempotency is None:
        return None
    fingerprint = hashlib.sha256(f"{idempotency.fingerprint}\0{source}".encode()).hexdigest()
    return Idempotency(idempotency.key, fingerprint)


# -- routes -----------------------------------------------------------------------------------

Source = Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
                              description="Where the file comes from, recorded with the change.")]

_TOML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The rules file (docs/rules.md), UTF-8.",
        "content": {media: {"schema": {"type": "string"},
                            "example": '[follow_up]\ndefault = "5d"\n'}
                    for media in RULES_MEDIA_TYPES},
    },
}


@router.put("", response_model=RulesChanged, openapi_extra=_TOML_BODY,
            summary="Replace the tenant's rules file (a refused file changes nothing)")
async def replace_rules(request: Request, service: Service, run: Run, ctx: Context,
                        idempotency: IdempotencyHeader, if_match: IfMatch,
                        source: Source = "api") -> JSONResponse:
    text = rules_text(request.headers.get("content-type"), await request.body())
    result = await run(service.change_rules, ctx, text, source,
                       idempotency=_keyed_on_source(idempotency, source),
                       expected_version=if_match)
    changed = [name for name in result.ids.get("changed", "").split(",") if name]
    body = RulesChanged(tenant_id=ctx.tenant_id, version=result.version,
                        position=result.position, changed=changed)
    headers = {"ETag": f'"{result.version}"'}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body.model_dump(mode="json"), headers=headers)


@router.post("/check", response_model=RulesChecked, openapi_extra=_TOML_BODY,
             summary="Check a rules file as PUT would, changing nothing (a dry run)")
async def check_rules_file(request: Request, service: Service, run: Run,
                           ctx: Context) -> RulesChecked:
    text = rules_text(request.headers.get("content-type"), await request.body())
    return await run(check_rules, service, ctx.tenant_id, text)


@router.get("", response_model=RulesInForce, summary="The tenant's rules in force")
async def get_rules(service: Service, run: Run, ctx: Context, response: Response) -> RulesInForce:
    in_force = await run(rules_in_force, service, ctx.tenant_id)
    response.headers["ETag"] = f'"{in_force.version}"'
    return in_force


@router.get("/history", response_model=RulesHistory,
            summary="Every change of the tenant's rules: who, when, which rules")
async def get_rules_history(service: Service, run: Run, ctx: Context) -> RulesHistory:
    return await run(rules_history, service, ctx.tenant_id)
