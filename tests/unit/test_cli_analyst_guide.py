"""docs/analyst-guide.md as written: every `$` command, SQL query and Python snippet runs on a
small seeded store with what the CRM installs, each `crm` command prints what the guide shows
(figures aside), and the analyst's DuckDB file opens read-only without a DuckDB command line."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from services.cli import app

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "analyst-guide.md"
runner = CliRunner()


@dataclass(frozen=True)
class Step:
    command: str
    shown: list[str] = field(default_factory=list)
    """The lines the guide shows under the command: its output, or a file's content."""


def _fenced(text: str, language: str) -> list[str]:
    """The fenced blocks of `language` ("" for plain ones), in order."""
    blocks: list[str] = []
    opened: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if not line.startswith("```"):
            lines.append(line)
        elif opened is None:
            opened, lines = line.removeprefix("```").strip(), []
        else:
            if opened == language:
                blocks.append("\n".join(lines) + "\n")
            opened = None
    return blocks


def _steps(text: str) -> list[Step]:
    steps: list[Step] = []
    for block in _fenced(text, ""):
        current: Step | None = None
        for line in block.splitlines():
            if line.startswith("$ "):
                current = Step(line.removeprefix("$ "))
                steps.append(current)
            elif current is not None and line.strip():
                current.shown.append(line)
    return steps


def _figures_masked(line: str) -> str:
    return re.sub(r"\d[\d,.]*", "N", line.strip())


def _follow(steps: list[Step], workdir: Path) -> dict[str, list[str]]:
    """Run the guide's commands in order, as a reader would; what each printed, by command."""
    printed: dict[str, list[str]] = {}
    for step in steps:
        program, *args = shlex.split(step.command, comments=True)
        if program == "cat":  # the guide shows a file to write: write it
            (workdir / args[0]).write_text("\n".join(step.shown) + "\n")
        elif program == "crm":
            result = runner.invoke(app, args)
            assert result.exit_code == 0, (step.command, result.output)
            printed[step.command] = result.stdout.splitlines()
        else:
            assert program == "python", \
                f"the guide runs {program!r}, which the CRM does not install: {step.command}"
            done = subprocess.run([sys.executable, *args], cwd=workdir, capture_output=True,
                                  text=True, timeout=120)
            assert done.returncode == 0, (step.command, done.stderr)
            printed[step.command] = done.stdout.splitlines()
    return printed


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the analyst works: ./crm-data holds a small seeded store."""
    for name in ("CRM_POSTGRES_URL", "CRM_MEMORY_STORE", "CRM_DATA_DIR", "CRM_KAFKA_BOOTSTRAP",
                 "CRM_ANALYTICS_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    seeded = runner.invoke(app, ["seed", "--data-dir", "./crm-data", "--customers", "50"])
    assert seeded.exit_code == 0, seeded.output
    return tmp_path


def test_every_command_of_the_guide_runs_as_written_and_prints_what_it_shows(
        workdir: Path) -> None:
    steps = _steps(GUIDE.read_text(encoding="utf-8"))
    assert [s.command.split()[0] for s in steps].count("crm") >= 3
    printed = _follow(steps, workdir)
    for step in steps:
        if step.command.startswith("crm ") and step.shown:
            got = printed[step.command][-len(step.shown):]
            assert [_figures_masked(line) for line in got] == \
                [_figures_masked(line) for line in step.shown], step.command


def test_the_guide_opens_the_duckdb_file_read_only_with_the_installed_python_package(
        workdir: Path) -> None:
    steps = _steps(GUIDE.read_text(encoding="utf-8"))
    read_only = [s.command for s in steps
                 if s.command.startswith("python ") and "read_only=True" in s.command]
    assert read_only, "the guide shows how to open analyst.duckdb read-only from Python"
    printed = _follow(steps, workdir)
    for command in read_only:
        assert any("customers" in line for line in printed[command]), printed[command]


def test_every_sql_query_and_python_snippet_of_the_guide_runs_on_the_export(
        workdir: Path) -> None:
    text = GUIDE.read_text(encoding="utf-8")
    _follow(_steps(text), workdir)
    queries = _fenced(text, "sql")
    assert len(queries) >= 4
    results = []
    for query in queries:
        with duckdb.connect() as conn:
            rows = conn.sql(query).fetchall()
        assert rows, query
        results.append(rows)
    snippets = _fenced(text, "python")
    assert len(snippets) >= 2
    for snippet in snippets:
        exec(compile(snippet, str(GUIDE), "exec"), {"__name__": "guide"})

    # "read_funnel(store) reaches … the same numbers as the raw SQL of section 3.4"
    from services.projections.funnel.reads import read_funnel
    from services.projections.stores.duck import DuckReadStore

    store = DuckReadStore(workdir / "analyst.duckdb")
    try:
        reached = {s["stage"]: s["reached"] for s in read_funnel(store)["stages"]}
    finally:
        store.close()
    assert {stage: count for stage, count, _ in results[3]} == reached
