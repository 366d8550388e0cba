"""Commands that only read the event store refuse a data dir (or PostgreSQL schema) without one:
exit 2 naming where they looked and what to do, and nothing is created there. Only the commands
that start history (`serve`, `seed`, `import`, and the writers `command-api`, `rules apply`)
create a store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app, run
from services.common.event_store import ChronicleStore

runner = CliRunner()

READ_ONLY_COMMANDS: dict[str, list[str]] = {
    "export": ["export", "--out", "{tmp}/out"],
    "export --format ndjson": ["export", "--out", "{tmp}/out", "--format", "ndjson"],
    "replay (in place, from the store)": ["replay"],
    "replay --from store": ["replay", "--from", "store", "-p", "customer_360"],
    "replay --to (from the store)": ["replay", "--to", "{tmp}/analyst.duckdb"],
    "rules show": ["rules", "show"],
    "rules history": ["rules", "history"],
    "project (from the store)": ["project", "timeline"],
    "query-api (from the store)": ["query-api"],
    "relay": ["relay", "--kafka-bootstrap", "127.0.0.1:9"],
    "policies --dry-run": ["policies", "--dry-run"],
    "policies --once": ["policies", "--once"],
    "policies": ["policies"],
}


@pytest.fixture(autouse=True)
def _embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRM_POSTGRES_URL", "CRM_POSTGRES_SCHEMA", "CRM_MEMORY_STORE", "CRM_DATA_DIR",
                 "CRM_KAFKA_BOOTSTRAP", "CRM_ANALYTICS_PATH"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _no_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that wrongly went ahead returns instead of serving until interrupted."""
    monkeypatch.setattr(run, "_until_signalled", lambda: None)
    monkeypatch.setattr(run, "_listen", lambda *args: None)


def _args(template: list[str], tmp_path: Path) -> list[str]:
    return [arg.replace("{tmp}", str(tmp_path)) for arg in template]


@pytest.mark.parametrize("command", list(READ_ONLY_COMMANDS))
def test_a_read_only_command_refuses_a_missing_data_dir_and_creates_nothing(
        tmp_path: Path, command: str) -> None:
    data_dir = tmp_path / "nonexistent"
    result = runner.invoke(app, [*_args(READ_ONLY_COMMANDS[command], tmp_path),
                                 "--data-dir", str(data_dir)])
    assert result.exit_code == 2, result.output
    assert f"no event store in {data_dir}" in result.output
    assert "crm seed" in result.output and "--data-dir" in result.output
    assert not data_dir.exists(), "a command that only reads creates no store"


@pytest.mark.parametrize("command", ["export", "rules show", "policies --dry-run"])
def test_a_data_dir_holding_only_read_models_has_no_store(tmp_path: Path, command: str) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "analytics.duckdb").touch()
    result = runner.invoke(app, [*_args(READ_ONLY_COMMANDS[command], tmp_path),
                                 "--data-dir", str(data_dir)])
    assert result.exit_code == 2, result.output
    assert "events.sqlite" in result.output
    assert not (data_dir / "events.sqlite").exists()


def test_read_only_commands_read_an_existing_store(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seeded = runner.invoke(app, ["seed", "--customers", "2", "--data-dir", str(data_dir)])
    assert seeded.exit_code == 0, seeded.output
    for command in ("export", "rules history", "policies --dry-run"):
        result = runner.invoke(app, [*_args(READ_ONLY_COMMANDS[command], tmp_path / command),
                                     "--data-dir", str(data_dir)])
        assert result.exit_code == 0, (command, result.output)


def test_replay_from_an_export_needs_no_store(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert runner.invoke(app, ["seed", "--customers", "2", "--data-dir", str(data_dir)]
                         ).exit_code == 0
    exported = runner.invoke(app, ["export", "--data-dir", str(data_dir), "--out",
                                   str(tmp_path / "export")])
    assert exported.exit_code == 0, exported.output
    elsewhere = tmp_path / "no-store-here"
    replayed = runner.invoke(app, ["replay", "--to", str(tmp_path / "a.duckdb"),
                                   "--from-export", str(tmp_path / "export"),
                                   "--data-dir", str(elsewhere)])
    assert replayed.exit_code == 0, replayed.output
    assert not elsewhere.exists()


@pytest.mark.parametrize("command", [["seed", "--customers", "1"],
                                     ["rules", "apply", "{rules}"]])
def test_commands_that_start_history_create_the_store(tmp_path: Path,
                                                      command: list[str]) -> None:
    rules = Path(__file__).resolve().parents[2] / "docs" / "rules.example.toml"
    data_dir = tmp_path / "new"
    result = runner.invoke(app, [*[arg.replace("{rules}", str(rules)) for arg in command],
                                 "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert (data_dir / "events.sqlite").is_file()


# -- PostgreSQL: "has a store" means the events table exists in the schema --------------------


def _events_table_exists(postgres_url: str, schema: str) -> bool:
    import psycopg

    table = f"{ChronicleStore.name}_events"
    with psycopg.connect(postgres_url, connect_timeout=10) as conn:
        row = conn.execute("SELECT count(*) FROM pg_catalog.pg_tables "
                           "WHERE schemaname = %s AND tablename = %s", (schema, table)).fetchone()
    return bool(row and row[0])


@pytest.mark.postgres
def test_on_postgresql_a_schema_without_the_events_table_is_refused(
        postgres_url: str, fresh_postgres_schema: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_POSTGRES_SCHEMA", fresh_postgres_schema)
    store_args = ["--postgres-url", postgres_url, "--data-dir", str(tmp_path / "data")]
    for command in ("export", "rules show", "policies --dry-run"):
        refused = runner.invoke(app, [*_args(READ_ONLY_COMMANDS[command], tmp_path),
                                      *store_args])
        assert refused.exit_code == 2, refused.output
        assert f"schema {fresh_postgres_schema}" in refused.output
        assert "chronicle_events" in refused.output and "crm seed" in refused.output
        assert "secret" not in refused.output.lower()
    assert not _events_table_exists(postgres_url, fresh_postgres_schema)

    seeded = runner.invoke(app, ["seed", "--customers", "2", *store_args])
    assert seeded.exit_code == 0, seeded.output
    assert _events_table_exists(postgres_url, fresh_postgres_schema)
    exported = runner.invoke(app, ["export", "--out", str(tmp_path / "out"), "--type",
                                   "crm.customer.registered", *store_args])
    assert exported.exit_code == 0, exported.output
    assert f"exported 2 events (of {_stored(postgres_url, fresh_postgres_schema)} stored)" \
        in exported.output


def _stored(postgres_url: str, schema: str) -> int:
    import psycopg
    from psycopg import sql

    with psycopg.connect(postgres_url, connect_timeout=10) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(f"{ChronicleStore.name}_events"))).fetchone()
    assert row is not None
    return int(row[0])
