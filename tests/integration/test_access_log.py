"""The access log: who read which customer's personal data, and when — on SQLite and PostgreSQL.

Each test works in a tenant of its own (`t-…`), with a sales manager who reads, an analyst
whose reads leave personal data out, and an auditor who asks the log. `flush()` stands in for
waiting: it returns once every entry recorded before it is written.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli import app as cli
from services.common.auth.principal import cli_actor
from services.common.event_store import ChronicleStore
from services.common.settings import Settings
from services.demo.history import generate_history
from services.projections.stores.sql import SqlReadStore
from services.query.access_log import AccessLog, AccessLogUnavailable, read_access
from services.query.read_models import ReadModels
from tests.contract.query_api import Crm, at, compose_serve
from tests.errors import error_shaped
from tests.harness.engines import embedded_or_postgres

CUSTOMER_360 = "GET /v1/customers/{customer_id}"


@pytest.fixture(scope="module", params=[
    "sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("postgres-reader", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, ReadModels]]:
    """`crm serve` on the embedded store, and on PostgreSQL (read models there too), also
    with API reads as the reader role behind row-level security."""
    settings = embedded_or_postgres(request.param, request,
                                    Path(tmp_path_factory.mktemp("crm-data")),
                                    read_wait_timeout_s=10.0)
    with ExitStack() as stack:
        yield compose_serve(stack, settings)


class Tenant:
    """One tenant of the served app, with its readers and its auditor."""

    def __init__(self, served: tuple[TestClient, ReadModels]) -> None:
        client, self.read_models = served
        self.crm = Crm(client, f"t-{uuid4().hex[:10]}")
        self.manager = self.crm.auth("mgr-n", ("sales_manager",))
        self.analyst = self.crm.auth("ana", ("analyst",))
        self.auditor = self.crm.auth("audra", ("auditor",))

    def customer(self, name: str) -> str:
        """A customer in the manager's book."""
        return self.crm.customer(name, owner="mgr-n")

    def read(self, path: str, who: dict[str, str], **params: Any) -> Any:
        answer = self.crm.client.get(path, headers=who,
                                     params={**params, "min_position": self.crm.position})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def log(self, **params: Any) -> list[dict[str, Any]]:
        """Every entry the auditor finds, after a flush, one page at a time."""
        assert self.read_models.access_log.flush()
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.read("/v1/audit/access", self.auditor, **params,
                             **({"cursor": cursor} if cursor else {}))
            found += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return found


@pytest.fixture
def tenant(served: tuple[TestClient, ReadModels]) -> Tenant:
    return Tenant(served)


def test_a_managers_customer_360_records_who_read_which_customer(tenant: Tenant) -> None:
    customer = tenant.customer("Ada Lovelace")
    before = datetime.now(UTC)
    document = tenant.read(f"/v1/customers/{customer}", tenant.manager)
    assert document["personal"]["name"] == "Ada Lovelace"
    tenant.read(f"/v1/customers/{customer}", tenant.manager, as_of=at(1))
    entries = tenant.log(customer_id=customer)
    assert [(e["subject"], e["customer_id"], e["what"], e["route"]) for e in entries] == [
        ("mgr-n", customer, "customer_360_as_of", CUSTOMER_360),
        ("mgr-n", customer, "customer_360", CUSTOMER_360)]
    for entry in entries:
        assert before <= datetime.fromisoformat(entry["at"]) <= datetime.now(UTC)
    assert "Ada" not in json.dumps(entries) and "example.com" not in json.dumps(entries)


def test_an_analysts_read_without_personal_data_records_nothing(tenant: Tenant) -> None:
    customer = tenant.customer("Grace Hopper")
    document = tenant.read(f"/v1/customers/{customer}", tenant.analyst)
    assert document["personal"] == {}
    tenant.read("/v1/customers", tenant.analyst)
    assert tenant.log() == []


def test_reading_the_history_records_and_leaves_the_history_unchanged(tenant: Tenant) -> None:
    customer = tenant.customer("Alan Turing")
    path = f"/v1/customers/{customer}/history"
    events = tenant.read(path, tenant.manager)["events"]
    tenant.read(f"/v1/customers/{customer}", tenant.manager)
    assert [e["what"] for e in tenant.log(customer_id=customer)] == ["customer_360", "history"]
    assert tenant.log(customer_id=customer)[1]["route"] == \
        "GET /v1/customers/{customer_id}/history"
    # the log is kept apart: no read became an event of the customer
    assert tenant.read(path, tenant.manager)["events"] == events


def test_a_search_records_one_entry_per_hit_and_a_plain_list_nothing(tenant: Tenant) -> None:
    ids = {name: tenant.customer(f"{name} Lovelace") for name in ("Ada", "Byron")}
    other = tenant.customer("Charles Babbage")
    tenant.read("/v1/customers", tenant.manager)
    assert tenant.log() == []
    hits = tenant.read("/v1/customers", tenant.manager, q="lovelace")["items"]
    assert {item["customer_id"] for item in hits} == set(ids.values())
    entries = tenant.log()
    assert sorted(e["customer_id"] for e in entries) == sorted(ids.values())
    assert {(e["what"], e["subject"], e["route"]) for e in entries} == {
        ("search", "mgr-n", "GET /v1/customers")}
    assert other not in {e["customer_id"] for e in entries}
    assert "lovelace" not in json.dumps(entries).lower(), "the query text is not kept"


def test_an_auditor_queries_by_customer_subject_and_time_page_by_page(tenant: Tenant) -> None:
    first, second = tenant.customer("Ada Lovelace"), tenant.customer("Grace Hopper")
    admin = tenant.crm.auth("boss")
    for _ in range(3):
        tenant.read(f"/v1/customers/{first}", tenant.manager)
    assert tenant.read_models.access_log.flush()
    middle = datetime.now(UTC)
    tenant.read(f"/v1/customers/{second}", tenant.manager)
    tenant.read(f"/v1/customers/{first}", admin)

    assert [e["subject"] for e in tenant.log(customer_id=first)] == ["boss"] + ["mgr-n"] * 3
    assert {e["customer_id"] for e in tenant.log(subject="mgr-n")} == {first, second}
    assert [e["customer_id"] for e in tenant.log(subject="boss")] == [first]
    later = tenant.log(**{"from": middle.isoformat()})
    assert sorted((e["subject"], e["customer_id"]) for e in later) == sorted(
        [("mgr-n", second), ("boss", first)])
    earlier = tenant.log(to=middle.isoformat())
    assert [(e["subject"], e["customer_id"]) for e in earlier] == [("mgr-n", first)] * 3

    everything = tenant.log()
    assert len(everything) == 5
    moments = [e["at"] for e in everything]
    assert moments == sorted(moments, reverse=True), "newest first"
    paged, cursor = [], None
    while True:
        page = tenant.read("/v1/audit/access", tenant.auditor, limit=2,
                           **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 2
        paged += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == everything


def test_only_auditors_and_admins_read_the_access_log(tenant: Tenant) -> None:
    client = tenant.crm.client
    for roles in (("sales_rep",), ("sales_manager",), ("analyst",), ("support_agent",)):
        error_shaped(client.get("/v1/audit/access", headers=tenant.crm.auth("someone", roles)),
                     403, "forbidden")
    assert client.get("/v1/audit/access", headers=tenant.crm.auth("boss")).status_code == 200


def test_entries_of_another_tenant_never_appear(served: tuple[TestClient, ReadModels]) -> None:
    ours, theirs = Tenant(served), Tenant(served)
    customer = theirs.customer("Ada Lovelace")
    theirs.read(f"/v1/customers/{customer}", theirs.manager)
    assert ours.log() == [] and ours.log(customer_id=customer) == []
    assert [e["customer_id"] for e in theirs.log()] == [customer]


@pytest.mark.parametrize("params", [{"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 501},
                                    {"from": "2026-01-02", "to": "2026-01-01"},
                                    {"customer_id": "nope"}])
def test_bad_queries_are_422(tenant: Tenant, params: dict[str, Any]) -> None:
    answer = tenant.crm.client.get("/v1/audit/access", headers=tenant.auditor, params=params)
    assert answer.status_code == 422, answer.text
    error_shaped(answer, 422)


def test_a_cursor_naming_an_impossible_moment_is_422(tenant: Tenant) -> None:
    forged = base64.urlsafe_b64encode(json.dumps(["0001-01-01T00:00:00+14:00", 1])
                                      .encode()).decode().rstrip("=")
    error_shaped(tenant.crm.client.get("/v1/audit/access", headers=tenant.auditor,
                                       params={"cursor": forged}), 422, "invalid_cursor")


# -- the writer itself, on the served app's store ----------------------------------------------


def test_a_full_log_refuses_rather_than_drops_and_close_writes_what_it_accepted(
        served: tuple[TestClient, ReadModels]) -> None:
    store = served[1].sql
    tenant = f"t-{uuid4().hex[:10]}"
    # a writer that sleeps for an hour unless woken (by a flush or close): the queue fills
    writer = AccessLog(store, capacity=3, put_timeout_s=0.05, interval_s=3600)
    writer.record(tenant, "mgr-n", ["a", "b", "c"], "customer_360", CUSTOMER_360)
    with pytest.raises(AccessLogUnavailable):
        writer.record(tenant, "mgr-n", ["d"], "customer_360", CUSTOMER_360)
    writer.close()  # writes what it accepted
    items, _ = read_access(store, tenant)
    assert sorted(item["customer_id"] for item in items) == ["a", "b", "c"]
    with pytest.raises(AccessLogUnavailable):
        writer.record(tenant, "mgr-n", ["e"], "customer_360", CUSTOMER_360)


def test_read_access_pages_by_time_and_id_without_gaps(
        served: tuple[TestClient, ReadModels]) -> None:
    store = served[1].sql
    tenant = f"t-{uuid4().hex[:10]}"
    writer = AccessLog(store)
    try:
        writer.record(tenant, "mgr-n", [str(n) for n in range(7)], "search",
                      "GET /v1/customers")  # one moment for all: the id breaks the tie
        assert writer.flush()
    finally:
        writer.close()
    seen, before = [], None
    while True:
        items, before = read_access(store, tenant, limit=3, before=before)
        seen += [item["customer_id"] for item in items]
        if before is None:
            break
    assert seen == [str(n) for n in reversed(range(7))]
    window, _ = read_access(store, tenant, start=datetime.now(UTC) - timedelta(hours=1),
                            end=datetime.now(UTC) + timedelta(hours=1))
    assert len(window) == 7


def test_an_export_with_personal_data_records_one_entry_per_tenant_and_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRM_POSTGRES_URL", "CRM_MEMORY_STORE", "CRM_DATA_DIR", "CRM_KAFKA_BOOTSTRAP"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(data_dir=tmp_path / "data")
    seeded = ChronicleStore(env=settings.event_store_env())
    generate_history(seeded, customers=3)
    seeded.close()
    runner = CliRunner()

    def export(out: str, *options: str) -> None:
        result = runner.invoke(cli, ["export", "--data-dir", str(settings.data_dir), "--out",
                                     str(tmp_path / out), "--format", "ndjson", *options])
        assert result.exit_code == 0, result.output

    export("without", "--no-personal")
    export("all")
    customer = json.loads((tmp_path / "all" / "events.ndjson").read_text().splitlines()[0]
                          )["customer_id"]
    export("one", "--customer", customer)
    store = SqlReadStore(sqlite_path=settings.readmodels_sqlite_path)
    try:
        entries, _ = read_access(store, settings.default_tenant)
    finally:
        store.close()
    assert [(e["customer_id"], e["what"], e["subject"], e["route"]) for e in entries] == [
        (customer, "export", cli_actor(), "crm export"),
        (None, "export", cli_actor(), "crm export")], "one per run, none without personal data"
