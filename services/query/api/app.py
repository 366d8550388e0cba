"""The query API as an app: read-model routes, readiness, projection status."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.common.auth import me, oidc_login, session_api
from services.common.auth.http import AUTHORIZED
from services.common.settings import Settings
from services.common.web import answers_head, install_error_handlers, install_health
from services.query.api import (
    alerts,
    analytics,
    audit,
    audit_verify,
    customers,
    history,
    leads,
    notes,
    projections,
    stream,
    subject,
    tasks,
    tickets,
)
from services.query.read_models import ReadModels

STALLED_AFTER_S = 300.0


def include_query_routes(app: FastAPI, read_models: ReadModels) -> None:
    """Mount the read routes on an app (the standalone query API, or `crm serve`)."""
    app.state.read_models = read_models
    for module in (history, customers, leads, subject, analytics, alerts, tickets, projections,
                   audit, audit_verify, stream, tasks, notes):
        app.include_router(module.router, dependencies=AUTHORIZED)

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

    answers_head(app, "/ready", ready)


def query_app(settings: Settings, read_models: ReadModels) -> FastAPI:
    """The query API on read models the caller runs (services/bootstrap.py)."""
    app = FastAPI(title="Chronicle CRM — query API", version="1",
                  description="Read models of the CRM. Every query accepts `min_position` (or "
                  "`X-Min-Position`) to read its own writes, and answers with "
                  "`X-Projection-Position`.")
    app.state.settings = settings
    install_error_handlers(app)
    install_health(app)
    include_query_routes(app, read_models)
    app.include_router(me.router)
    app.include_router(session_api.router)
    app.include_router(oidc_login.router)
    return app
