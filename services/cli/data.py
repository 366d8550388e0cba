"""Commands that move history in and out: `crm seed`, `crm import`, `crm export`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from eventsourcing.utils import get_topic

from services.bootstrap import Chronicle
from services.cli.options import (
    DataDir,
    KafkaBootstrap,
    PostgresUrl,
    fail,
    load_settings,
    require_store,
)
from services.cli.progress import Progress
from services.common.auth.principal import cli_actor
from services.common.event_store import ChronicleStore, open_event_store
from services.common.events.customer import CustomerRegistered
from services.common.settings import Settings

DEMO_CUSTOMERS = 24
MAX_SEED_CUSTOMERS = 1_000_000


def register(app: typer.Typer) -> None:
    app.command()(seed)
    app.command("import")(import_history)
    app.command()(export)


def seed_if_empty(crm: Chronicle) -> bool:
    """`crm serve --demo`: two years of history of a few customers, into an empty store;
    whether it loaded them."""
    from services.demo.history import generate_history

    store = crm.store
    assert store is not None
    if store.recorder.select_notifications(1, 1, topics=[get_topic(CustomerRegistered)]):
        typer.echo("store already holds customers; sample data not loaded again")
        return False
    summary = generate_history(store, customers=DEMO_CUSTOMERS, working_day=True,
                               rules_toml=_demo_rules_unless_set(store, "default"))
    typer.echo(f"loaded sample data: {summary.customers} customers, {summary.events} events "
               f"({summary.leads} leads, {summary.interactions} interactions, "
               f"{summary.tickets} tickets, {summary.purchases} purchases; last position "
               f"{summary.last_position})")
    return True


def _demo_rules_unless_set(store: ChronicleStore, tenant_id: str) -> str | None:
    """The demo's rules file (approver tiers, managers, follow-up windows), unless the tenant
    has rules of its own already."""
    from services.command.domain.configuration import configuration_id
    from services.demo.working_day import DEMO_RULES_TOML

    if store.recorder.select_events(configuration_id(tenant_id), limit=1):
        return None
    return DEMO_RULES_TOML


class _CountingStore:
    """The event store as `generate_history` sees it, counting the saved events by type."""

    def __init__(self, store: ChronicleStore) -> None:
        self.store = store
        self.kinds: Counter[str] = Counter()

    def save(self, *objects: Any) -> Any:
        recordings = self.store.save(*objects)
        for recording in recordings:
            self.kinds[type(recording.domain_event).__name__] += 1
        return recordings


def seed(
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    customers: Annotated[int, typer.Option(
        min=1, max=MAX_SEED_CUSTOMERS, help="Customers to create (about 11 events each)")]
    = DEMO_CUSTOMERS,
    seed: Annotated[int | None, typer.Option(
        "--seed", help="Random seed: the same seed gives the same history (default 7; with "
        "--force on a store holding events, one derived from its last position)")] = None,
    years: Annotated[float, typer.Option(
        min=0.1, max=20.0, help="Business time covered, ending now")] = 2.0,
    force: Annotated[bool, typer.Option(help="Seed even if the store holds events")] = False,
) -> None:
    """Generate a realistic history: customers registered over the last `--years` years, with
    leads through the pipeline (won, lost, discounts, payments), interactions, repeat
    purchases and tickets — every domain rule applied, saved in large transactions."""
    from eventsourcing.persistence import IntegrityError

    from services.demo.history import generate_history

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    store = open_event_store(settings)
    try:
        existing = store.recorder.max_notification_id() or 0
        if existing > 0 and not force:
            typer.echo(f"store already holds events (last position {existing}); use --force "
                       "to add generated history anyway")
            raise typer.Exit(1)
        # Aggregate ids come from the seed: a seed used before would collide with its ids.
        chosen_seed = seed if seed is not None else (7 if existing == 0 else 7 + existing)
        counting = _CountingStore(store)
        with Progress("seeding", unit="customers", rate_unit="events") as shown:
            try:
                summary = generate_history(
                    counting, customers=customers, seed=chosen_seed, years=years,
                    working_day=True, rules_toml=_demo_rules_unless_set(store, "default"),
                    on_progress=lambda done, events: shown.update(done, customers,
                                                                  counted=events))
            except IntegrityError:
                fail(f"seed {chosen_seed} was used on this store before (its ids exist "
                     "already); pass another --seed")
        typer.echo(f"seeded {settings.describe_store()} with seed {chosen_seed}: "
                   f"{summary.customers:,} customers, {summary.events:,} events in "
                   f"{summary.seconds:.1f}s ({summary.events_per_second:,.0f} events/s; last "
                   f"position {summary.last_position:,})")
        typer.echo(f"records: {summary.leads:,} leads ({summary.won:,} won, {summary.lost:,} "
                   f"lost), {summary.interactions:,} interactions, {summary.purchases:,} "
                   f"purchases, {summary.tickets:,} tickets")
        typer.echo("events by kind:")
        width = max((len(kind) for kind in counting.kinds), default=0)
        for kind, count in counting.kinds.most_common():
            typer.echo(f"  {kind:<{width}}  {count:>10,}")
    finally:
        store.close()


def import_history(
    kind: Annotated[str, typer.Argument(
        help="customers, leads, interactions, tickets or purchases")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="CSV with a header row, or NDJSON")],
    fmt: Annotated[str | None, typer.Option(
        "--format", help="csv or ndjson (default: from the file name)")] = None,
    rejects: Annotated[Path | None, typer.Option(
        "--rejects", help="Where rejected rows go (default FILE.rejects.csv)")] = None,
    batch_rows: Annotated[int, typer.Option(
        "--batch-rows", min=1, max=50_000, help="Rows saved per transaction")] = 500,
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant to import into")] = "default",
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
) -> None:
    """Import history from another system with its original business times (formats:
    docs/import.md). Re-running a file imports only what is not stored yet; rows that cannot
    be imported are listed with line number and reason in the rejects file, and make the
    command exit 1."""
    from services.command.importing import ImportFormatError, import_file

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap)
    store = open_event_store(settings)
    try:
        with Progress(f"importing {kind} from {file.name}", unit="rows") as shown:
            summary = import_file(
                store, kind, file, fmt=fmt, rejects_path=rejects, tenant_id=tenant,
                batch_rows=batch_rows,
                on_progress=lambda rows, total, events: shown.update(rows, total,
                                                                     counted=events))
    except ImportFormatError as exc:
        fail(f"cannot import: {exc}", 2)
    finally:
        store.close()
    typer.echo(f"import run {summary.run_id} ({kind} from {file} into "
               f"{settings.describe_store()}; actor {cli_actor()}, correlation id "
               f"{summary.correlation_id})")
    typer.echo(f"rows read {summary.rows:,} · imported {summary.imported:,} · already imported "
               f"{summary.already_imported:,} · rejected {summary.rejected:,}")
    typer.echo(f"customers registered on first sight {summary.customers_registered:,} · events "
               f"written {summary.events:,} in {summary.seconds:.1f}s "
               f"({summary.events_per_second:,.0f} events/s; last position "
               f"{summary.last_position:,})")
    if summary.rejected:
        # Rows the source system holds but the store does not: a script must not take this
        # run for a complete one.
        reasons = ", ".join(f"{reason} {count}" for reason, count
                            in summary.reject_reasons.most_common(5))
        fail(f"{summary.rejected:,} row{'' if summary.rejected == 1 else 's'} rejected: not "
             f"imported, listed with line and reason in {summary.rejects_path} ({reasons})")


def _log_export(settings: Settings, tenants: set[str], customers: set[tuple[str, str]]) -> None:
    """The access log's entry for an export that wrote personal data (docs/security.md)."""
    from services.projections.host import open_sql_store
    from services.query.access_log import record_export

    try:
        read_store = open_sql_store(settings)
        try:
            record_export(read_store, cli_actor(), tenants, customers)
        finally:
            read_store.close()
    except Exception as exc:  # the files are written: say plainly that the log lacks them
        fail(f"exported, but the access log could not record it: {type(exc).__name__}: {exc}")


def export(
    out: Annotated[Path, typer.Option("--out", help="Target directory (must be empty)")],
    fmt: Annotated[str, typer.Option("--format", help="parquet or ndjson")] = "parquet",
    start: Annotated[str | None, typer.Option(
        "--from", help="Business time from (inclusive), ISO date or timestamp, UTC if no "
        "offset")] = None,
    end: Annotated[str | None, typer.Option(
        "--to", help="Business time to (exclusive), ISO date or timestamp")] = None,
    types: Annotated[list[str] | None, typer.Option(
        "--type", help="Event type to export, e.g. crm.purchase.recorded (repeatable)")] = None,
    customers: Annotated[list[str] | None, typer.Option(
        "--customer", help="Customer id to export (repeatable)")] = None,
    no_personal: Annotated[bool, typer.Option(
        "--no-personal", help="Leave personal data out (the personal column is null)")] = False,
    overwrite: Annotated[bool, typer.Option(help="Empty a non-empty --out first")] = False,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
) -> None:
    """Export the event stream, in position order, as flat files for DuckDB, pandas or Spark
    (schema: docs/export.md). Parquet is partitioned by the month of business time."""
    from services.common.times import parse_moment
    from services.projections.offline.export import (
        ExportError,
        ExportFilter,
        ExportFormat,
        export_events,
    )

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap)
    if fmt not in ("parquet", "ndjson"):
        fail("--format is parquet or ndjson", 2)
    chosen_format: ExportFormat = "parquet" if fmt == "parquet" else "ndjson"
    try:
        where = ExportFilter(
            start=parse_moment(start) if start else None,
            end=parse_moment(end) if end else None,
            types=frozenset(types or ()),
            customers=frozenset(UUID(c) for c in customers or ()))
    except ValueError as exc:
        fail(f"invalid filter: {exc}", 2)
    require_store(settings)
    store = open_event_store(settings)
    try:
        with Progress(f"exporting to {out}", unit="positions", rate_unit="events") as shown:
            summary = export_events(
                store, out, fmt=chosen_format, where=where, personal=not no_personal,
                overwrite=overwrite,
                on_progress=lambda position, head, written: shown.update(position, head,
                                                                         counted=written))
    except ExportError as exc:
        fail(str(exc))
    finally:
        store.close()
    if not no_personal and summary.events:
        _log_export(settings, summary.tenants, summary.customers)
    typer.echo(f"exported {summary.events:,} events (of {summary.stored:,} stored) into "
               f"{len(summary.files)} file(s) under {out} in {summary.seconds:.1f}s "
               f"({summary.events_per_second:,.0f} events/s)")
