"""Projection status for operators: positions, lag and dead letters, as JSON and Prometheus."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from services.query.api.deps import ReadModelsDep

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
