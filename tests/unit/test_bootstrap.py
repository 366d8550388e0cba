"""The composition root builds the parts a process asks for, serves them, and stops them all."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.bootstrap import Chronicle, Parts
from services.common.settings import Settings
from services.projections.registry import NAMES
from tests.harness.auth import keys_of


def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "crm-data", read_wait_timeout_s=5.0)


def test_a_process_gets_only_the_parts_it_asks_for(tmp_path: Path) -> None:
    with Chronicle(settings(tmp_path), Parts(commands=True)) as crm:
        assert crm.commands is not None and crm.store is not None
        assert crm.projectors is None and crm.relay is None and crm.policy_thread is None
        with pytest.raises(RuntimeError, match="no projectors"):
            crm.query_api()


def test_everything_serves_writes_and_reads_on_one_app_and_stops_every_thread(
        tmp_path: Path) -> None:
    before = {thread.name for thread in threading.enumerate()}
    crm = Chronicle(settings(tmp_path), Parts.everything(settings(tmp_path)))
    try:
        assert crm.relay is None  # no Kafka configured: the projectors follow the store
        assert set(crm.projector_host.runners) == set(NAMES)
        crm.start()
        with TestClient(crm.api()) as client:
            client.headers.update(keys_of(client.app).headers(subject="rep-1"))
            created = client.post("/v1/customers",
                                  json={"personal": {"name": "Ada Lovelace"}})
            assert created.status_code == 201, created.text
            body = created.json()
            read = client.get(f"/v1/customers/{body['customer_id']}",
                              params={"min_position": body["position"]})
            assert read.status_code == 200, read.text
            assert read.json()["personal"]["name"] == "Ada Lovelace"
        running = {thread.name for thread in threading.enumerate()} - before
        assert "policies" in running and any(n.startswith("projector-") for n in running)
    finally:
        crm.stop()
    left = {thread.name for thread in threading.enumerate() if thread.is_alive()} - before
    assert not {n for n in left if n in ("policies", "group-commit")
                or n.startswith("projector-")}, left
    assert crm.store is None and crm.commands is None and crm.projectors is None
    crm.stop()  # a second stop is harmless


def test_a_part_that_fails_to_build_leaves_nothing_open(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import services.bootstrap as bootstrap

    closed: list[bool] = []
    real_open = bootstrap.open_event_store

    def tracked_open(config: Settings) -> object:
        store = real_open(config)
        real_close = store.close

        def close() -> None:
            closed.append(True)
            real_close()

        store.close = close  # type: ignore[method-assign]
        return store

    def broken_host(*args: object, **kwargs: object) -> object:
        raise OSError("the read-model database is unreachable")

    monkeypatch.setattr(bootstrap, "open_event_store", tracked_open)
    monkeypatch.setattr(bootstrap, "ProjectorHost", broken_host)
    before = {thread.name for thread in threading.enumerate()}
    with pytest.raises(OSError, match="unreachable"):
        Chronicle(settings(tmp_path), Parts(commands=True, read_models=NAMES))
    assert closed == [True]
    started = {t.name for t in threading.enumerate() if t.is_alive()} - before
    assert "group-commit" not in started
