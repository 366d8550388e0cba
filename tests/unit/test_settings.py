"""Settings choose the event store and translate into the library's environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from services.common.settings import Settings


def test_embedded_sqlite_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRM_POSTGRES_URL", raising=False)
    settings = Settings(data_dir=tmp_path / "d")
    assert settings.store == "sqlite"
    env = settings.event_store_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert env["SQLITE_DBNAME"] == str(tmp_path / "d" / "events.sqlite")
    assert (tmp_path / "d").is_dir()


def test_a_postgres_url_switches_to_postgres_without_leaking_the_password() -> None:
    settings = Settings(postgres_url=SecretStr("postgresql://crm:s3cret@db.internal:6543/crm"),
                        postgres_schema="sales")
    env = settings.event_store_env()
    assert settings.store == "postgres"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db.internal", "6543", "crm")
    assert env["POSTGRES_USER"] == "crm" and env["POSTGRES_PASSWORD"] == "s3cret"
    assert env["POSTGRES_SCHEMA"] == "sales"
    assert "POSTGRES_ENABLE_DB_FUNCTIONS" not in env  # that path lets log followers skip events
    assert "s3cret" not in settings.describe_store() and "s3cret" not in repr(settings)


def test_environment_variables_are_read_with_the_crm_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_PORT", "9100")
    monkeypatch.setenv("CRM_DISCOUNT_APPROVAL_THRESHOLD_PERCENT", "12.5")
    settings = Settings()
    assert settings.port == 9100
    assert str(settings.discount_approval_threshold_percent) == "12.5"


@pytest.mark.parametrize("bad", [{"port": 70000}, {"postgres_schema": "Robert'); DROP"},
                                 {"postgres_url": SecretStr("postgresql://x:y@h:notaport/db z=")},
                                 {"discount_approval_threshold_percent": "150"}])
def test_bad_settings_are_refused_with_a_reason(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**bad)  # type: ignore[arg-type]
