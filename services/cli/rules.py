"""`crm rules`: a tenant's rules file — check, apply, show, history (docs/rules.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from services.bootstrap import Chronicle, Parts
from services.cli.options import (
    DataDir,
    PostgresUrl,
    load_settings,
    require_store,
    setting_default,
)
from services.command.service import CommandService
from services.common.auth.principal import check_tenant_id, cli_actor
from services.common.settings import Settings

app = typer.Typer(help="A tenant's rules file: check, apply, show, history (docs/rules.md).",
                  no_args_is_help=True)

RULES_EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "rules.example.toml"


def _tenant_name(value: str | None) -> str | None:
    try:
        return check_tenant_id(value) if value is not None else None
    except ValueError as exc:
        raise typer.BadParameter(f"{exc} (as X-Tenant-ID)") from None


RulesFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                           help="The rules file (TOML)")]
RulesTenant = Annotated[str | None, typer.Option(
    "--tenant", callback=_tenant_name, help="Tenant (env CRM_DEFAULT_TENANT)",
    show_default=setting_default("default_tenant"))]


@contextmanager
def _command_service(settings: Settings) -> Iterator[CommandService]:
    """The command service on the configured event store, for one command."""
    with Chronicle(settings, Parts(commands=True)) as crm:
        yield crm.command_service


def _read_rules_file(file: Path) -> str:
    try:
        return file.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        typer.echo(f"{file}: not UTF-8 text (byte {exc.start})")
        raise typer.Exit(1) from None


def _echo_rule_problems(file: Path, problems: list[dict[str, Any]]) -> None:
    """Each problem as `FILE:LINE: path: reason`, the way compilers name a place, in file
    order."""
    for problem in sorted(problems, key=lambda p: (p["line"] is None, p["line"] or 0)):
        where = f"{file}:{problem['line']}" if problem["line"] else str(file)
        path = f"{problem['path']}: " if problem["path"] else ""
        typer.echo(f"{where}: {path}{problem['reason']}")


def _rules_example() -> str:
    try:
        return RULES_EXAMPLE.read_text(encoding="utf-8")
    except OSError:
        typer.secho(f"the example rules file is missing ({RULES_EXAMPLE}); see docs/rules.md",
                    fg="red", err=True)
        raise typer.Exit(2) from None


@app.command("check")
def rules_check(file: RulesFile) -> None:
    """Validate a rules file without applying it; exit 1 listing each problem with its line."""
    from services.command.domain.rules import RulesFileError, parse_rules

    try:
        rules = parse_rules(_read_rules_file(file), str(file))
    except RulesFileError as exc:
        _echo_rule_problems(file, exc.as_details())
        raise typer.Exit(1) from None
    counts = [(len(rules.pipeline.stages), "open stage"), (len(rules.assignment.teams), "team"),
              (len(rules.assignment.rules), "assignment rule"),
              (len(rules.discount.approvers), "discount approver tier"),
              (len(rules.org.managers), "reporting line")]
    typer.echo("ok: " + ", ".join(f"{n} {what}{'' if n == 1 else 's'}" for n, what in counts))


@app.command("apply")
def rules_apply(
    file: RulesFile,
    tenant: RulesTenant = None,
    source: Annotated[str | None, typer.Option(
        "--source", help="Recorded as where the rules came from (default: the file's name)")]
    = None,
    expected_version: Annotated[int | None, typer.Option(
        "--expected-version", min=0, help="Apply only if the rules are at this version")] = None,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
) -> None:
    """Record a rules file as the tenant's rules (in force within a second in every process),
    as `cli:<your user name>`; a refused file changes nothing and exits 1 listing each problem
    with its line."""
    from services.command.domain.aggregate import CommandContext
    from services.command.domain.errors import InvalidRules, RuleViolation, VersionConflict

    text = _read_rules_file(file)
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    tenant_id = tenant or settings.default_tenant
    with _command_service(settings) as service:
        try:
            result = service.change_rules(CommandContext(actor=cli_actor(), tenant_id=tenant_id), text,
                                          source or file.name, expected_version=expected_version)
        except InvalidRules as exc:
            _echo_rule_problems(file, exc.details["problems"])
            raise typer.Exit(1) from None
        except VersionConflict as exc:
            typer.secho(f"refused: {exc.message}", fg="red", err=True)
            raise typer.Exit(1) from None
        except RuleViolation as exc:
            if exc.rule != "no_change":
                raise
            typer.echo(f"no change: these rules are already in force for tenant {tenant_id}")
            return
    changed = [name for name in result.ids.get("changed", "").split(",") if name]
    typer.echo(f"tenant {tenant_id}: rules version {result.version} (position {result.position})")
    typer.echo(f"changed: {', '.join(changed)}" if changed
               else "changed: no rule (the file differs only in comments or layout)")


@app.command("show")
def rules_show(tenant: RulesTenant = None, data_dir: DataDir = None,
               postgres_url: PostgresUrl = None) -> None:
    """Print the tenant's rules file in force (a note on stderr, the TOML on stdout)."""
    from services.command.api.rules import rules_in_force

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    require_store(settings)  # a new store would answer "built-in rules" for any tenant
    tenant_id = tenant or settings.default_tenant
    with _command_service(settings) as service:
        in_force = rules_in_force(service, tenant_id)
    if in_force.version == 0:
        typer.echo(f"# tenant {tenant_id} has no rules file: the built-in rules are in force "
                   "(discount threshold and lifecycle thresholds from the CRM_* settings). "
                   "An example file to start from:", err=True)
        typer.echo(_rules_example(), nl=False)
        return
    changed_at = in_force.changed_at.isoformat(timespec="seconds") if in_force.changed_at else "-"
    typer.echo(f"# tenant {tenant_id}: version {in_force.version}, changed by "
               f"{in_force.changed_by} at {changed_at} (source {in_force.source})", err=True)
    text = in_force.rules_toml
    typer.echo(text, nl=not text.endswith("\n"))


@app.command("history")
def rules_history_command(tenant: RulesTenant = None, data_dir: DataDir = None,
                          postgres_url: PostgresUrl = None) -> None:
    """Every change of the tenant's rules, newest first: version, when, who, source, what."""
    from services.command.api.rules import rules_history

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    require_store(settings)
    tenant_id = tenant or settings.default_tenant
    with _command_service(settings) as service:
        history = rules_history(service, tenant_id)
    if not history.changes:
        typer.echo(f"tenant {tenant_id} never changed its rules: the built-in rules are in force")
        return
    for change in history.changes:
        typer.echo(f"v{change.version}  {change.changed_at.isoformat(timespec='seconds')}  "
                   f"{change.changed_by}  source {change.source}  position {change.position}  "
                   f"changed: {', '.join(change.changed) or 'no rule'}")


@app.command("example")
def rules_example() -> None:
    """Print a commented example rules file covering every section."""
    typer.echo(_rules_example(), nl=False)
