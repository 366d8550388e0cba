"""Every secret setting also reads `CRM_<NAME>_FILE` (as container platforms mount secrets):
the file's content without its trailing newline; never both forms; a clear error when the
file cannot be read — and a secret field added later gets all of it without more code."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from pydantic_settings.exceptions import SettingsError
from typer.testing import CliRunner

from services.cli import app
from services.common.secret_files import secret_fields
from services.common.settings import Settings

VALUES = {"postgres_url": "postgresql://crm:s3cret@db.internal:5432/crm",
          "postgres_reader_url": "postgresql://reader:r3ad@db.internal:5432/crm"}
"""Values the fields' own validators accept; any text for the others."""
ALONGSIDE = {
    "kafka_sasl_password": {"CRM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                            "CRM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                            "CRM_KAFKA_SASL_USERNAME": "chronicle"},
    "kafka_ssl_password": {"CRM_KAFKA_SECURITY_PROTOCOL": "SSL",
                           "CRM_KAFKA_SSL_CERTFILE": "/run/secrets/client.pem"},
}
"""The settings a secret is only accepted with."""


@pytest.fixture(autouse=True)
def _no_secrets_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in secret_fields(Settings):
        monkeypatch.delenv(f"CRM_{name.upper()}", raising=False)
        monkeypatch.delenv(f"CRM_{name.upper()}_FILE", raising=False)
    for name in {name for settings in ALONGSIDE.values() for name in settings}:
        monkeypatch.delenv(name, raising=False)


def test_the_secret_settings_are_found_by_their_type() -> None:
    assert {"postgres_url", "postgres_reader_url", "kafka_sasl_password",
            "kafka_ssl_password"} <= set(secret_fields(Settings))
    assert "kafka_sasl_username" not in secret_fields(Settings)


@pytest.mark.parametrize("name", secret_fields(Settings))
def test_every_secret_setting_reads_its_file_without_the_trailing_newline(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    value = VALUES.get(name, "pa ss:wörd")
    secret = tmp_path / name
    secret.write_text(value + "\n")
    monkeypatch.setenv(f"CRM_{name.upper()}_FILE", str(secret))
    for variable, setting in ALONGSIDE.get(name, {}).items():
        monkeypatch.setenv(variable, setting)
    found = getattr(Settings(), name)
    assert isinstance(found, SecretStr) and found.get_secret_value() == value
    assert value not in repr(Settings())


def test_both_forms_at_once_are_refused_naming_both(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-the-file")
    monkeypatch.setenv("CRM_KAFKA_SSL_PASSWORD", "from-the-environment")
    monkeypatch.setenv("CRM_KAFKA_SSL_PASSWORD_FILE", str(secret))
    with pytest.raises(SettingsError, match="both CRM_KAFKA_SSL_PASSWORD and "
                       "CRM_KAFKA_SSL_PASSWORD_FILE are set"):
        Settings()


def test_an_empty_variable_beside_the_file_gives_way_to_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-the-file")
    for variable, setting in ALONGSIDE["kafka_ssl_password"].items():
        monkeypatch.setenv(variable, setting)
    monkeypatch.setenv("CRM_KAFKA_SSL_PASSWORD", "")  # as compose files pass an unset one
    monkeypatch.setenv("CRM_KAFKA_SSL_PASSWORD_FILE", str(secret))
    password = Settings().kafka_ssl_password
    assert password is not None and password.get_secret_value() == "from-the-file"


def test_an_unreadable_file_is_an_error_naming_the_variable_and_the_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("CRM_POSTGRES_URL_FILE", str(missing))
    with pytest.raises(SettingsError, match=f"CRM_POSTGRES_URL_FILE names '{missing}', which "
                       "cannot be read: No such file or directory"):
        Settings()
    monkeypatch.setenv("CRM_POSTGRES_URL_FILE", str(tmp_path))  # a directory
    with pytest.raises(SettingsError, match="cannot be read"):
        Settings()


def test_a_file_with_a_bad_value_is_refused_by_the_fields_own_validation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "url"
    secret.write_text("postgresql://x:y@h:notaport/db z=")
    monkeypatch.setenv("CRM_POSTGRES_URL_FILE", str(secret))
    with pytest.raises(ValueError, match="CRM_POSTGRES_URL is not a valid PostgreSQL URL"):
        Settings()


def test_a_command_line_option_still_wins_over_the_file(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "url"
    secret.write_text(VALUES["postgres_url"])
    monkeypatch.setenv("CRM_POSTGRES_URL_FILE", str(secret))
    given = "postgresql://other:pw@elsewhere:5432/crm"
    settings = Settings(postgres_url=SecretStr(given))
    assert settings.postgres_url is not None and settings.postgres_url.get_secret_value() == given


def test_a_secret_setting_added_later_gets_the_file_form_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Later(Settings):
        master_key: SecretStr | None = None

    secret = tmp_path / "master.key"
    secret.write_text("k" * 44 + "\n")
    monkeypatch.setenv("CRM_MASTER_KEY_FILE", str(secret))
    key = Later().master_key
    assert key is not None and key.get_secret_value() == "k" * 44


def test_crm_reports_a_conflict_plainly_and_exits_2(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-the-file")
    monkeypatch.setenv("CRM_KAFKA_SASL_PASSWORD", "from-the-environment")
    monkeypatch.setenv("CRM_KAFKA_SASL_PASSWORD_FILE", str(secret))
    result = CliRunner().invoke(app, ["keys", "list", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "invalid configuration: both CRM_KAFKA_SASL_PASSWORD and " \
           "CRM_KAFKA_SASL_PASSWORD_FILE are set" in result.output
    assert "from-the-file" not in result.output and "from-the-environment" not in result.output


@pytest.mark.parametrize("environment", [
    {"CRM_POSTGRES_URL": "postgresql://crm:Sup3r-s3cret@db:notaport/crm z="},
    {"CRM_KAFKA_SASL_PASSWORD": "Sup3r-s3cret"},  # refused: SASL without a SASL protocol
], ids=["bad-url", "refused-combination"])
def test_a_refused_configuration_never_echoes_a_secret(
        environment: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(app, ["keys", "list", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "invalid configuration" in result.output
    assert "Sup3r-s3cret" not in result.output, result.output
