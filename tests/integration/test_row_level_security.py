"""PostgreSQL's row-level security keeps tenants apart behind the application's own filter.

The query side reads as a role that neither owns the read-model tables nor is a superuser (both
would bypass the policies), with the request's tenant in `crm.tenant`; here the application's
filter is left out on purpose, to show that the policies alone hide the other tenant.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.common.settings import Settings
from services.common.tenancy import READING_TENANT
from services.projections.customer_360 import reads as customer_360
from services.query.read_models import ReadModels
from tests.contract.query_api import Crm, compose_serve
from tests.harness.engines import new_postgres_schema, new_reader_url

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def served(postgres_url: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[TestClient, ReadModels, str]]:
    reader = new_reader_url(postgres_url)
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("crm-data")),
                        postgres_url=SecretStr(postgres_url),
                        postgres_schema=new_postgres_schema(postgres_url),
                        postgres_reader_url=SecretStr(reader), postgres_pool_size=4)
    with ExitStack() as stack:
        client, read_models = compose_serve(stack, settings)
        yield client, read_models, reader


def test_the_reader_neither_owns_the_tables_nor_bypasses_row_level_security(
        served: tuple[TestClient, ReadModels, str]) -> None:
    _, read_models, reader = served
    store = read_models.sql
    with psycopg.connect(reader) as conn:
        row = conn.execute("SELECT rolsuper, rolbypassrls FROM pg_roles "
                           "WHERE rolname = current_user").fetchone()
        assert row == (False, False)
        owners = conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = %s",
            (store.schema,)).fetchall()
    assert owners and all(owner != store.reader_role for (owner,) in owners)
    walled = store.query("SELECT tablename FROM pg_tables WHERE schemaname = ? AND rowsecurity",
                         [store.schema])
    names = {row["tablename"].split("__")[0] for row in walled}
    assert {"customer_360", "timeline", "lifecycle_customers", "alerts"} <= names


def test_without_the_applications_filter_the_policies_alone_hide_the_other_tenant(
        served: tuple[TestClient, ReadModels, str]) -> None:
    client, read_models, _ = served
    ours, theirs = Crm(client, f"a-{uuid4().hex[:8]}"), Crm(client, f"b-{uuid4().hex[:8]}")
    mine, other = ours.customer("Ada Ours"), theirs.customer("Grace Theirs")
    # Both written and projected: each tenant's API reads its own.
    assert ours.get(f"/v1/customers/{mine}")["personal"]["name"] == "Ada Ours"
    assert theirs.get(f"/v1/customers/{other}")["personal"]["name"] == "Grace Theirs"
    error_status = ours.get_raw(f"/v1/customers/{other}").status_code
    assert error_status == 404

    store = read_models.sql
    token = READING_TENANT.set(ours.tenant)  # as a request of tenant `ours` runs
    try:
        unfiltered = store.query("SELECT id, tenant_id FROM customer_360 WHERE id IN (?, ?)",
                                 [mine, other])
        assert [(row["id"], row["tenant_id"]) for row in unfiltered] == [(mine, ours.tenant)]
        asked_for_theirs = customer_360.list_customers(
            store, customer_360.CustomerFilter(tenant_id=theirs.tenant))
        assert asked_for_theirs.items == []
        assert not customer_360.customer_visible(store, other, theirs.tenant, None)
        timeline = store.query("SELECT COUNT(*) AS n FROM timeline WHERE customer_id = ?",
                               [other])
        assert timeline[0]["n"] == 0
    finally:
        READING_TENANT.reset(token)
    # Outside a request (the projectors, the policies) the owner reads every tenant.
    everyone = store.query("SELECT COUNT(*) AS n FROM customer_360 WHERE id IN (?, ?)",
                           [mine, other])
    assert everyone[0]["n"] == 2


def test_a_keys_last_use_is_written_beside_the_postgresql_store(
        served: tuple[TestClient, ReadModels, str]) -> None:
    from uuid import UUID

    from services.common.auth.keys import KeyRing
    from tests.harness.auth import bearer, fastapi_app, keys_of

    client, read_models, _ = served
    token = keys_of(client.app).token(f"k-{uuid4().hex[:8]}", "user-y")
    assert client.get("/v1/me", headers=bearer(token)).status_code == 200
    fastapi_app(client.app).state.key_ring.refresh()
    assert read_models.event_store is not None
    listed = KeyRing(read_models.event_store).get(UUID(token.split("_")[1]))
    assert listed is not None and listed.last_used_at is not None
