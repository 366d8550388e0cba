"""The web app's API types (services/web/src/api/schema.d.ts) are generated from the current
OpenAPI document of `crm serve`'s API: regenerate them with `npm run api-types --prefix
services/web` when a route or a model changes, so the app and the API cannot drift apart."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from services.cli.openapi_doc import render, serve_openapi_document
from tests.web_build import WEB, node_modules, unavailable

COMMITTED = WEB / "src" / "api" / "schema.d.ts"


def test_the_committed_api_types_match_the_api(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("Node.js is needed to generate the web app's API types")
    generator = node_modules() / "openapi-typescript" / "bin" / "cli.js"
    document = tmp_path / "openapi.json"
    document.write_text(render(serve_openapi_document()), encoding="utf-8")
    generated = tmp_path / "schema.d.ts"
    done = subprocess.run([node, str(generator), str(document), "--output", str(generated)],
                          capture_output=True, text=True, timeout=300, cwd=WEB)
    assert done.returncode == 0, done.stderr
    assert generated.read_text() == COMMITTED.read_text(), (
        "services/web/src/api/schema.d.ts is not the API's current types: run "
        "`npm run api-types --prefix services/web` and commit the result")


def test_crm_schemas_openapi_writes_the_serve_document_the_same_every_time(
        tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from services.cli import app

    output = tmp_path / "openapi.json"
    done = CliRunner().invoke(app, ["schemas", "openapi", "--output", str(output)])
    assert done.exit_code == 0, done.output
    written = output.read_text(encoding="utf-8")
    assert written == render(serve_openapi_document())
    document = json.loads(written)
    assert {"/v1/customers", "/v1/leads", "/v1/tasks", "/v1/alerts", "/v1/me"} <= set(
        document["paths"])
