"""`crm relay` and `crm schemas asyncapi|check` from the command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.common.schemas import DEFAULT_DIR, export_schemas

runner = CliRunner()


def test_relay_refuses_to_start_without_a_kafka_bootstrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRM_KAFKA_BOOTSTRAP", raising=False)
    result = runner.invoke(app, ["relay", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no Kafka bootstrap configured" in result.output
    assert not (tmp_path / "events.sqlite").exists(), "nothing is opened before refusing"


def test_schemas_check_covers_the_asyncapi_document(tmp_path: Path) -> None:
    events = tmp_path / "events"
    shutil.copytree(DEFAULT_DIR, events)  # older versions' schemas are only in committed files
    export_schemas(events)
    missing = runner.invoke(app, ["schemas", "check", "--dir", str(events)])
    assert missing.exit_code == 1 and "missing asyncapi.json" in missing.output

    written = runner.invoke(app, ["schemas", "asyncapi", "--output",
                                  str(tmp_path / "asyncapi.json")])
    assert written.exit_code == 0 and "wrote" in written.output
    checked = runner.invoke(app, ["schemas", "check", "--dir", str(events)])
    assert checked.exit_code == 0, checked.output
