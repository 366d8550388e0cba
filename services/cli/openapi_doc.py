"""The OpenAPI document of the API `crm serve` serves (command and query routes on one app),
which the web app's types are generated from (services/web/src/api/schema.d.ts)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI


def serve_openapi_document() -> dict[str, Any]:
    """Build `crm serve`'s app on a throwaway embedded store (nothing started, no network)
    and return its OpenAPI document."""
    from services.bootstrap import Chronicle, Parts
    from services.common.settings import Settings
    from services.projections.registry import NAMES

    with tempfile.TemporaryDirectory(prefix="crm-openapi-") as scratch:
        settings = Settings(data_dir=Path(scratch) / "crm-data", postgres_url=None,
                            kafka_bootstrap=None, policies_enabled=False, auth_mode="on")
        crm = Chronicle(settings, Parts(commands=True, read_models=NAMES, queries=True))
        try:
            app: Any = crm.api()
            while not isinstance(app, FastAPI):  # inside the edge's ASGI layers
                app = app.app
            return app.openapi()
        finally:
            crm.stop()


def render(document: dict[str, Any]) -> str:
    """The document as written to a file: stable key order, one trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
