"""HTTP at its edges, through a real server where the test client would hide the behaviour."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from services.bootstrap import Chronicle, Parts
from services.common.settings import Settings
from services.projections.registry import NAMES
from tests.errors import error_shaped
from tests.harness.auth import keys_of
from tests.harness.services import free_port
from tests.waiting import eventually

BODY_LIMIT = 64 * 1024


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """The command API behind a real uvicorn server; yields its base URL."""
    settings = Settings(data_dir=tmp_path / "crm-data", max_body_bytes=BODY_LIMIT)
    with Chronicle(settings, Parts(commands=True)) as crm:
        server = uvicorn.Server(uvicorn.Config(crm.command_api(), host="127.0.0.1",
                                               port=free_port(), log_level="warning"))
        thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
        thread.start()
        try:
            eventually(lambda: server.started, 30, "the server did not start")
            yield f"http://127.0.0.1:{server.config.port}"
        finally:
            server.should_exit = True
            thread.join(timeout=15)


def test_a_client_still_sending_an_oversized_body_reads_the_413(served: str) -> None:
    """The server reads (and drops) the rest of the body before answering, so a client that
    writes the whole body before it reads gets the 413 instead of a reset connection."""
    body = json.dumps({"personal": {"name": "x" * (8 * 1024 * 1024)}}).encode()
    for attempt in range(10):
        request = urllib.request.Request(
            f"{served}/v1/customers", data=body, method="POST",
            headers={"Content-Type": "application/json"})  # refused before credentials
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 413, attempt
        answer = json.loads(refused.value.read())
        assert answer["code"] == "payload_too_large", answer


def test_a_read_model_behind_an_existing_position_still_waits_and_answers_504(
        tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "crm-data", read_wait_timeout_s=0.3)
    crm = Chronicle(settings, Parts(commands=True, read_models=NAMES, queries=True))
    try:  # built but not started: the projectors apply nothing
        with TestClient(crm.api()) as client:
            client.headers.update(keys_of(client.app).headers(subject="rep-1"))
            created = client.post("/v1/customers",
                                  json={"personal": {"name": "Ada Lovelace"}}).json()
            behind = client.get("/v1/customers", params={"min_position": created["position"]})
            body = error_shaped(behind, 504, "projection_timeout")
            assert body["details"]["min_position"] == created["position"]
            beyond = client.get("/v1/customers",
                                params={"min_position": created["position"] + 1})
            assert error_shaped(beyond, 422, "position_beyond_log")["details"][
                "last_position"] == created["position"]
            crm.start()
            caught_up = client.get("/v1/customers", params={"min_position": created["position"]})
            assert caught_up.status_code == 200, caught_up.text
    finally:
        crm.stop()
