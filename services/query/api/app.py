"""Composition root of the query API: read-model routes, readiness, projection status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.common.event_store import ChronicleStore, open_event_store
from services.common.settings import Settings
from services.common.web import BodySizeLimit, install_error_handlers, install_health
from services.projections.host import ProjectorHost
from services.query.api import alerts, analytics, customers
from services.query.api.history import include_history_route
from services.query.api.projections import include_projection_routes
from services.query.read_models import PublishedThrough, ReadModels

STALLED_AFTER_S = 300.0


def include_query_routes(app: FastAPI, read_models: ReadModels) -> None:
    """Mount the read routes on an app (the standalone query API, or `crm serve`)."""
    app.state.read_models = read_models
    include_history_route(app)
    app.include_router(customers.router)
    app.include_router(analytics.router)
    app.include_router(alerts.router)
    include_projection_routes(app, read_models.host)

    @app.get("/ready", tags=["operations"], summary="Readiness: stores reachable, projections "
             "not stalled")
    def ready(request: Request) -> JSONResponse:
        problems: list[str] = []
        checks: dict[str, Any] = {}
        for name, probe in (("read_models_sql", lambda: read_models.sql.query("SELECT 1 AS ok")),
                            ("read_models_analytics",
                             lambda: read_models.analytics.query("SELECT 1 AS ok"))):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:  # report, never raise: this is the health answer
                checks[name] = f"unreachable: {type(exc).__name__}"
                problems.append(name)
        if read_models.event_store is not None:
            try:
                read_models.event_store.recorder.max_notification_id()
                checks["event_store"] = "ok"
            except Exception as exc:
                checks["event_store"] = f"unreachable: {type(exc).__name__}"
                problems.append("event_store")
        for status in read_models.statuses():
            stalled = (status["lag_events"] or 0) > 0 and status["lag_seconds"] > STALLED_AFTER_S
            checks[f"projection:{status['projection']}"] = "stalled" if stalled else "ok"
            if stalled:
                problems.append(status["projection"])
        body = {"status": "not_ready" if problems else "ready", "checks": checks}
        return JSONResponse(body, status_code=503 if problems else 200)


def create_query_app(settings: Settings, *, event_store: ChronicleStore | None = None,
                     published_through: PublishedThrough | None = None) -> BodySizeLimit:
    """The query API on its own, with every projector running in this process (DuckDB allows
    one writer per file, so the analytics models live with the API that reads them)."""
    store = event_store or open_event_store(settings)
    host = ProjectorHost(settings, event_store=store)
    read_models = ReadModels(settings, host, store, published_through or (lambda: None))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        host.start()
        yield
        host.stop()
        if event_store is None:
            store.close()

    app = FastAPI(lifespan=lifespan, title="Chronicle CRM — query API", version="1",
                  description="Read models of the CRM. Every query accepts `min_position` (or "
                  "`X-Min-Position`) to read its own writes, and answers with "
                  "`X-Projection-Position`.")
    app.state.settings = settings
    app.state.store = store
    install_error_handlers(app)
    install_health(app)
    include_query_routes(app, read_models)
    return BodySizeLimit(app, settings.max_body_bytes)
