"""`GET /v1/audit/verify`: recompute the event log's hash chain and check its signed
checkpoints, as `crm audit verify` does (docs/privacy.md "Tamper evidence").

The log is one for every tenant, so the answer covers all of it: counts, positions, and on a
break the event's ids — never its content. One verification runs at a time per server, in an
expensive-read slot; it reads the whole log (about 30 s per million events).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from services.common.audit_chain.checkpoints import CheckpointFileError, read_file
from services.common.audit_chain.keys import AuditKeyError, checkpoint_file_path, load_verify_keys
from services.common.audit_chain.verify import HOW, VerifyKeyMissing, verify_log
from services.common.limited import ExpensiveRead
from services.common.web import ERROR_RESPONSES, ApiError
from services.query.api.deps import ReadModelsDep

router = APIRouter(prefix="/v1/audit", tags=["audit"],
                   responses={k: v for k, v in ERROR_RESPONSES.items() if k in (400, 422)})

_one_at_a_time = threading.Lock()

_EXAMPLE: dict[str, Any] = {
    "ok": False,
    "line": "FAILED at position 42, event 27731d44-33cc-497f-a9a1-6d540c91a409 (aggregate "
            "6a2ec81c-b024-4755-9c07-4ce0dc537015 version 3): content changed — its stored "
            "bytes no longer hash to what the chain recorded for it when it was written",
    "events": 41, "first_position": 1, "last_position": 41, "trusted_position": None,
    "chain_head": "", "checkpoints": 0, "last_checkpoint": None,
    "break": {"position": 42, "how": "content_changed", "what": "content changed",
              "event_id": "27731d44-33cc-497f-a9a1-6d540c91a409",
              "aggregate_id": "6a2ec81c-b024-4755-9c07-4ce0dc537015", "aggregate_version": 3,
              "detail": "its stored bytes no longer hash to what the chain recorded for it "
                        "when it was written"},
    "seconds": 0.012,
}


class VerifyBreak(BaseModel):
    position: int = Field(description="The first position that breaks")
    how: str = Field(description=f"What broke: {', '.join(f'`{k}`' for k in HOW)}")
    what: str = Field(description="The same in words")
    event_id: str | None = Field(description="The event there (null when it is missing)")
    aggregate_id: str | None
    aggregate_version: int | None
    detail: str


class LastCheckpoint(BaseModel):
    position: int
    count: int = Field(description="Events in the chain up to it")
    created_at: str = Field(description="When it was signed, UTC")
    key_id: str = Field(description="Which signing key")


class VerifyResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True, json_schema_extra={"examples": [_EXAMPLE]})

    ok: bool = Field(description="Every hash recomputed and every checkpoint matched")
    line: str = Field(description="What `crm audit verify` prints")
    events: int = Field(description="Events verified")
    first_position: int | None
    last_position: int = Field(description="The last position verified")
    trusted_position: int | None = Field(description="With `from`: the chain row trusted as "
                                         "the starting point")
    chain_head: str = Field(description="The chain hash at the last position (hex; empty "
                            "when something broke)")
    checkpoints: int = Field(description="Signed checkpoints checked")
    last_checkpoint: LastCheckpoint | None
    broken: VerifyBreak | None = Field(alias="break", description="The first break; null when "
                                       "ok")
    seconds: float


@router.get("/verify", response_model=VerifyResult, summary="Verify the event log: recompute "
            "its hash chain and check its signed checkpoints")
def verify(
    read_models: ReadModelsDep, _slot: ExpensiveRead,
    start: Annotated[int | None, Query(alias="from", ge=1, le=2**62, description="Start at "
                                       "this position, trusting the chain row before it")]
    = None,
) -> dict[str, Any]:
    store = read_models.event_store
    if store is None:
        raise ApiError(503, "event_store_unavailable", "this server reads no event store")
    if not _one_at_a_time.acquire(blocking=False):
        raise ApiError(503, "verification_running", "this server is verifying the log already; "
                       "ask again when it has finished")
    try:
        settings = read_models.settings
        keys = load_verify_keys(settings)
        file = checkpoint_file_path(settings)
        shipped = read_file(file) if file is not None else []
        result = verify_log(store, keys, start=start, more_checkpoints=shipped)
    except (AuditKeyError, CheckpointFileError, VerifyKeyMissing) as exc:
        raise ApiError(503, "audit_keys_unavailable", str(exc)) from None
    finally:
        _one_at_a_time.release()
    return result.as_json()
