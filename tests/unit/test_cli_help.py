"""`crm --help` and every command's help: each option and argument says what it is for, and
the store and server options show their defaults, taken from the settings they fall back to."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from services.cli import app
from services.common.settings import Settings

runner = CliRunner()


def _commands(group: Any, path: tuple[str, ...] = ("crm",)) -> Iterator[tuple[str, Any]]:
    """Every command of a Typer app, sub-apps included, as ("crm rules show", command)."""
    yield " ".join(path), group
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


def _without_help(typer_app: typer.Typer) -> list[str]:
    return [f"{path}: {param.name}"
            for path, command in _commands(typer.main.get_command(typer_app))
            for param in command.params
            if not (getattr(param, "help", None) or "").strip()]


def test_the_walk_reaches_every_command_of_every_sub_app() -> None:
    paths = {path for path, _ in _commands(typer.main.get_command(app))}
    assert {"crm serve", "crm export", "crm replay", "crm rules show", "crm rules apply",
            "crm schemas check"} <= paths


def test_the_walk_finds_an_option_or_argument_without_help() -> None:
    probe = typer.Typer()
    sub = typer.Typer()

    @sub.command()
    def inner(name: str, verbose: bool = False) -> None:
        """Nothing to say about its parameters."""

    @probe.command()
    def outer(size: Annotated[int, typer.Option(help="How big")] = 1) -> None:
        """A documented option."""

    probe.add_typer(sub, name="sub")
    assert _without_help(probe) == ["crm sub inner: name", "crm sub inner: verbose"]


def test_every_option_and_argument_of_every_command_has_help_text() -> None:
    assert _without_help(app) == []


def _default(field: str) -> str:
    """How --help shows a setting's default: in parentheses, Click's way of saying it is
    applied elsewhere (by the settings, after the CRM_* variable), not by the option."""
    value = str(Settings.model_fields[field].default)
    return f"(./{value})" if field == "data_dir" else f"({value})"


@pytest.mark.parametrize("command", ["serve", "command-api", "query-api"])
def test_help_shows_the_defaults_of_host_port_and_data_dir(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    lines = {line.split()[1]: line for line in result.output.splitlines()
             if line.startswith("│ --")}
    assert f"[default: {_default('host')}]" in lines["--host"]
    assert f"[default: {_default('port')}]" in lines["--port"]
    assert f"[default: {_default('data_dir')}]" in lines["--data-dir"]


@pytest.mark.parametrize("command", [["export"], ["seed"], ["import"], ["replay"], ["relay"],
                                     ["project"], ["policies"], ["rules", "show"]])
def test_every_store_command_shows_the_data_dir_default(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert f"[default: {_default('data_dir')}]" in result.output
