"""What `crm serve` leaves on the machine besides answers: a log without personal data, and
data files only their owner can read."""

from __future__ import annotations

import stat
from pathlib import Path
from uuid import uuid4

import httpx

from tests.e2e.test_crm_serve import crm_serve


def test_the_server_log_shows_paths_but_no_search_terms_bodies_or_invalid_values(
        tmp_path: Path) -> None:
    email = f"grace.hopper.{uuid4().hex[:10]}@example.com"
    with crm_serve("--data-dir", str(tmp_path / "data"),
                   env={"CRM_LOG_LEVEL": "info"}) as (base, log, key):
        headers = key("rep-1")
        created = httpx.post(f"{base}/v1/customers", headers=headers, json={
            "personal": {"name": "Grace Hopper", "email": email, "phone": "+44 20 7946 0958"}})
        assert created.status_code == 201, created.text
        found = httpx.get(f"{base}/v1/customers", headers=headers, timeout=30, params={
            "q": email, "limit": 5, "min_position": created.json()["position"]})
        assert found.status_code == 200 and email in found.text
        # Where the value is refused, in the query and in the body; and without credentials.
        assert httpx.get(f"{base}/v1/customers", headers=headers,
                         params={"limit": email}).status_code == 422
        assert httpx.post(f"{base}/v1/customers", headers=headers, json={
            "personal": {"email": email, "name": ["Grace"]}}).status_code == 422
        assert httpx.post(f"{base}/v1/customers", headers=headers, content=email.encode(),
                          ).status_code in (400, 415)
        assert httpx.get(f"{base}/v1/customers", params={"q": email}).status_code == 401
        text = log.read_text()

    assert '"POST /v1/customers HTTP/1.1" 201' in text, text[-3000:]  # the access log is on
    assert f'"GET /v1/customers?q=[redacted]&limit=5&min_position={created.json()["position"]}' \
        f' HTTP/1.1" 200' in text
    assert '"GET /v1/customers?limit=[redacted] HTTP/1.1" 422' in text
    assert '"GET /v1/customers?q=[redacted] HTTP/1.1" 401' in text
    assert email not in text and "Grace" not in text and "7946" not in text


def test_a_fresh_data_dir_holds_only_files_its_owner_can_read(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    with crm_serve("--data-dir", str(data_dir)) as (base, _, key):
        created = httpx.post(f"{base}/v1/customers", headers=key("rep-1"),
                             json={"personal": {"name": "Ada Lovelace"}})
        assert created.status_code == 201, created.text
        seen = httpx.get(f"{base}/v1/customers/{created.json()['customer_id']}",
                         headers=key("rep-1"), timeout=30,
                         params={"min_position": created.json()["position"]})
        assert seen.status_code == 200, seen.text
        modes = {path.name: stat.S_IMODE(path.stat().st_mode)
                 for path in [data_dir, *data_dir.rglob("*")]}

    assert {"events.sqlite", "events.sqlite-wal", "readmodels.sqlite",
            "analytics.duckdb"} <= set(modes), modes
    assert modes.pop("fresh") == 0o700
    assert {name: oct(mode) for name, mode in modes.items() if mode != 0o600} == {}
