"""`crm serve` with open event streams, stopped as an operator stops it: the streams end
cleanly (the chunked answer is finished, not cut) and the process exits, instead of waiting
for ever for answers that never end by themselves."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_crm_serve import CRM
from tests.harness.services import free_port
from tests.harness.sse import SseClient
from tests.waiting import eventually

WAIT_S = 30.0


@pytest.mark.parametrize(("stop", "exit_codes"), [
    (signal.SIGINT, {0}),
    # uvicorn re-raises a SIGTERM once its graceful shutdown is done
    (signal.SIGTERM, {0, -signal.SIGTERM}),
], ids=["SIGINT", "SIGTERM"])
def test_stopping_crm_serve_ends_its_open_streams_and_the_process(
        tmp_path: Path, stop: signal.Signals, exit_codes: set[int]) -> None:
    data_dir = tmp_path / "crm-data"
    env = {**os.environ, "CRM_LOG_LEVEL": "warning", "CRM_STREAM_HEARTBEAT_S": "0.5"}
    issued = subprocess.run([CRM, "keys", "create", "--role", "admin", "--subject", "ops",
                             "--data-dir", str(data_dir)], capture_output=True, text=True,
                            timeout=120, env=env)
    assert issued.returncode == 0, issued.stderr
    auth = {"Authorization": f"Bearer {issued.stdout.splitlines()[-1]}"}
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen([CRM, "serve", "--port", str(port), "--data-dir",
                                    str(data_dir)], stdout=out, stderr=subprocess.STDOUT,
                                   env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        def answering() -> bool:
            assert process.poll() is None, log.read_text()[-2000:]
            try:
                return httpx.get(f"{base}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        eventually(answering, 60, lambda: f"crm serve did not answer: {log.read_text()[-2000:]}",
                   interval_s=0.1)
        streams = [SseClient(base, headers=auth) for _ in range(2)]
        for stream in streams:
            assert stream.status == 200
            stream.next_block(WAIT_S)
        written = httpx.post(f"{base}/v1/customers", headers=auth, timeout=WAIT_S,
                             json={"personal": {"name": "Ada Lovelace"}})
        assert written.status_code == 201, written.text
        for stream in streams:
            assert [e.id for e in stream.events(1, WAIT_S)] == [written.json()["position"]]
        process.send_signal(stop)
        for stream in streams:
            stream.wait_for_end(WAIT_S)
            assert stream.complete  # the answer's last chunk came: ended, not cut
            stream.close()
        assert process.wait(timeout=WAIT_S) in exit_codes, log.read_text()[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
