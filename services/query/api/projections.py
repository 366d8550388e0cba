"""Projection status for operators: positions, lag and dead letters, as JSON and Prometheus."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from services.common.auth.http import CallerDep
from services.common.web import ApiError
from services.projections.registry import NAMES
from services.query.api.deps import ReadModelsDep
from services.query.read_models import ReadModels

MAX_DEAD_LETTERS_PAGE = 200
MAX_DEAD_LETTERS_READ = 10_000

router = APIRouter(tags=["operations"])


class ProjectionStatus(BaseModel):
    projection: str = Field(examples=["customer_360"])
    store: str = Field(examples=["sql"], description="`sql` (PostgreSQL/SQLite) or `analytics` (DuckDB)")
    generation: int = Field(examples=[1], description="Table generation now serving")
    position: int = Field(examples=[1042], description="Highest global position applied")
    partitions: dict[int, dict[str, int]] = Field(
        examples=[{0: {"offset": 1041, "position": 1042}}],
        description="Last applied source offset and global position per source partition")
    lag_events: int | None = Field(examples=[0], description="Events published, not yet applied")
    lag_seconds: float = Field(examples=[0.0])
    applied: int = Field(description="Events applied by this process since it started")
    duplicates_skipped: int
    dead_letters: int = Field(description="Events this projection could not apply, all time")
    last_event_recorded_at: str | None


class ProjectionsPage(BaseModel):
    head_position: int | None = Field(description="Last position in the event store, if reachable")
    projections: list[ProjectionStatus]


@router.get("/v1/projections", response_model=ProjectionsPage,
            summary="Each read model's position, lag and dead letters")
def projections(read_models: ReadModelsDep) -> dict[str, Any]:
    store = read_models.event_store
    head = store.recorder.max_notification_id() if store is not None else None
    return {"head_position": head, "projections": read_models.statuses()}


class DeadLetterOut(BaseModel):
    event_id: str | None = Field(description="Null when the record could not be decoded")
    event_type: str | None
    position: int | None = Field(description="Global position of the event, when known")
    partition: int = Field(description="Source partition of the record")
    offset: int = Field(description="Source offset of the record")
    generation: int = Field(description="Table generation that refused it")
    reason: str = Field(description="The error's type (a validation error by field), never "
                        "its message or the event's values")
    recorded_at: str = Field(description="When the projector set it aside, UTC")


class DeadLettersPage(BaseModel):
    projection: str
    total: int = Field(description="Dead letters of your tenant in this read model")
    items: list[DeadLetterOut] = Field(description="Newest first")
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null on "
                                    "the last page")


def _reason(error: str) -> str:
    """The error's first line (its type, as the projector recorded it: no values)."""
    first = error.split("\n", 1)[0].strip()
    return "undecodable" if first.startswith("undecodable") else first[:300]


def _tenant_of(read_models: ReadModels, payload: object, position: object) -> str | None:
    """The tenant of a dead letter's event: from its published form, else from the store."""
    if isinstance(payload, str):
        try:
            document = json.loads(payload)
        except ValueError:
            document = None
        if isinstance(document, dict) and isinstance(document.get("tenantid"), str):
            return str(document["tenantid"])
    store = read_models.event_store
    if store is None or not isinstance(position, int):
        return None
    try:
        found = store.recorder.select_notifications(position, 1)
        if not found or found[0].id != position:
            return None
        tenant = getattr(store.mapper.to_domain_event(found[0]), "tenant_id", None)
    except Exception:  # an event that cannot be read here is nobody's to see
        return None
    return tenant if isinstance(tenant, str) else None


def dead_letters(read_models: ReadModels, name: str, tenant_id: str, offset: int,
                 limit: int) -> dict[str, Any]:
    runner = read_models.host.runners.get(name)
    stores = [runner.store] if runner is not None else [
        s for s in (read_models.host.sql_store, read_models.host.analytics_store) if s]
    rows: list[dict[str, Any]] = []
    for store in stores:
        rows += store.query(
            "SELECT generation, source_partition, source_offset, position, event_id, "
            "event_type, error, payload, recorded_at FROM projection_dead_letters "
            "WHERE projection = ? ORDER BY recorded_at DESC, source_partition, source_offset "
            f"LIMIT {MAX_DEAD_LETTERS_READ}", (name,))
    ours = [row for row in rows
            if _tenant_of(read_models, row["payload"], row["position"]) == tenant_id]
    page = ours[offset:offset + limit]
    return {
        "projection": name, "total": len(ours),
        "items": [DeadLetterOut(
            event_id=row["event_id"], event_type=row["event_type"],
            position=None if row["position"] is None else int(row["position"]),
            partition=int(row["source_partition"]), offset=int(row["source_offset"]),
            generation=int(row["generation"]), reason=_reason(str(row["error"])),
            recorded_at=str(row["recorded_at"])).model_dump() for row in page],
        "next_offset": offset + limit if offset + limit < len(ours) else None,
    }


@router.get("/v1/projections/{name}/dead-letters", response_model=DeadLettersPage,
            summary="The events a read model could not apply: id, type, position, reason")
def projection_dead_letters(
    read_models: ReadModelsDep, caller: CallerDep,
    name: Annotated[str, Path(max_length=64, description="The read model's name")],
    offset: Annotated[int, Query(ge=0, le=MAX_DEAD_LETTERS_READ)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_DEAD_LETTERS_PAGE)] = 50,
) -> dict[str, Any]:
    if name not in NAMES:
        raise ApiError(404, "not_found", f"no read model {name}", known=list(NAMES))
    return dead_letters(read_models, name, caller.tenant_id, offset, limit)


@router.get("/metrics", response_class=PlainTextResponse,
            summary="Prometheus metrics of the projectors")
def metrics(read_models: ReadModelsDep) -> str:
    statuses = read_models.statuses()
    series = (
        ("chronicle_projection_position", "position", "Highest global position applied."),
        ("chronicle_projection_lag_events", "lag_events", "Events published, not yet applied."),
        ("chronicle_projection_lag_seconds", "lag_seconds", "Age of the unapplied backlog."),
        ("chronicle_projection_dead_letters", "dead_letters", "Events that could not be applied."),
        ("chronicle_projection_applied_total", "applied", "Events applied by this process."),
    )
    lines = []
    for metric, key, help_text in series:
        kind = "counter" if metric.endswith("_total") else "gauge"
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
        for status in statuses:
            value = status.get(key)
            if value is not None:
                lines.append(f'{metric}{{projection="{status["projection"]}"}} {value}')
    return "\n".join(lines) + "\n"
