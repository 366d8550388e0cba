"""`crm`: one entry point that starts every part of Chronicle CRM."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from services.common.settings import Settings

app = typer.Typer(help="Chronicle CRM — an event-sourced CRM.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
schemas_app = typer.Typer(help="Event JSON Schemas under schemas/events/.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Embedded store directory "
                                              "[env CRM_DATA_DIR, default ./crm-data]")]
PostgresUrl = Annotated[str | None, typer.Option("--postgres-url", help="Use PostgreSQL "
                                                 "[env CRM_POSTGRES_URL]")]
KafkaBootstrap = Annotated[str | None, typer.Option("--kafka-bootstrap", help="Kafka bootstrap "
                                                    "servers [env CRM_KAFKA_BOOTSTRAP]")]


def load_settings(**overrides: Any) -> Settings:
    """Environment first, command-line options over it; a bad value exits with its reason."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except Exception as exc:  # pydantic ValidationError: show it plainly, no traceback
        typer.secho(f"invalid configuration: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on [default 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default 8000]")] = None,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
    demo: Annotated[bool, typer.Option("--demo", help="Load sample data into an empty store")] = False,
) -> None:
    """Run the CRM in one process (embedded SQLite store by default)."""
    import threading

    import uvicorn

    from services.command.api.app import create_command_app
    from services.projections.host import ProjectorHost
    from services.query.api.app import include_query_routes
    from services.query.read_models import ReadModels

    settings = load_settings(host=host, port=port, data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap)
    _configure_logging(settings)
    asgi = create_command_app(settings)
    store = asgi.app.state.store  # type: ignore[attr-defined]
    projectors = ProjectorHost(settings, event_store=store)
    if demo:
        _seed_if_empty(asgi.app.state.command_service)  # type: ignore[attr-defined]
    relay_stop = threading.Event()
    relay_thread = None
    if settings.kafka_bootstrap:
        from services.command.relay import Relay

        outbox = Relay(store, settings)
        relay_thread = threading.Thread(target=outbox.run_until_stopped, args=(relay_stop,),
                                        name="relay", daemon=True)
        relay_thread.start()
    include_query_routes(asgi.app, ReadModels(  # type: ignore[arg-type]
        settings, projectors, store,
        outbox.published_through if relay_thread is not None else (lambda: None)))
    projectors.start()
    policy_thread = None
    if settings.policies_enabled:
        from services.command.policies.host import PolicyThread, build_engine

        policy_thread = PolicyThread(build_engine(
            asgi.app.state.command_service, projectors,  # type: ignore[attr-defined]
            published_through=outbox.published_through if relay_thread is not None
            else (lambda: None)), settings.policy_interval_s)
        policy_thread.start()
    typer.echo(f"Chronicle CRM listening on http://{settings.host}:{settings.port} "
               f"(events: {settings.describe_store()}; read models: "
               f"{_describe_read_models(settings)}; API docs at /docs)")
    sys.stdout.flush()
    try:
        uvicorn.run(asgi, host=settings.host, port=settings.port, log_level=settings.log_level)
    finally:
        if policy_thread is not None:
            policy_thread.stop()
        relay_stop.set()
        if relay_thread is not None:
            relay_thread.join(timeout=10)
            outbox.close()
        projectors.stop()
        store.close()


def _configure_logging(settings: Settings) -> None:
    """Our own loggers (relay, projectors) at the configured level; the Kafka client's own
    retry chatter only at debug."""
    import logging

    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.log_level.lower() != "debug":
        logging.getLogger("kafka").setLevel(logging.CRITICAL)


def _describe_read_models(settings: Settings) -> str:
    sql = ("PostgreSQL" if settings.store == "postgres"
           else f"SQLite {settings.readmodels_sqlite_path}")
    bus = f"Kafka topic {settings.kafka_topic}" if settings.kafka_bootstrap else "the event store"
    return f"{sql} + DuckDB {settings.analytics_file}, fed from {bus}"


@app.command("command-api")
def command_api(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
) -> None:
    """Run the command API on its own."""
    import uvicorn

    from services.command.api.app import create_command_app

    settings = load_settings(host=host, port=port, data_dir=data_dir, postgres_url=postgres_url)
    typer.echo(f"Chronicle command API listening on http://{settings.host}:{settings.port} "
               f"(events: {settings.describe_store()})")
    uvicorn.run(create_command_app(settings), host=settings.host, port=settings.port,
                log_level=settings.log_level)


ProjectionNames = Annotated[list[str] | None, typer.Argument(
    help="Read models to run [default: all]: customer_360 timeline lifecycle funnel retention "
    "service")]


@app.command()
def project(
    names: ProjectionNames = None,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
) -> None:
    """Run projectors on their own: from the Kafka topic (a consumer group per read model, so
    several processes share the partitions), else from the event store."""
    import signal
    import threading

    from services.common.event_store import open_event_store
    from services.projections.host import ProjectorHost
    from services.projections.registry import NAMES

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap)
    chosen = names or list(NAMES)
    event_store = None if settings.kafka_bootstrap else open_event_store(settings)
    try:
        host = ProjectorHost(settings, chosen, event_store=event_store)
    except KeyError as exc:
        typer.secho(str(exc.args[0]), fg="red", err=True)
        raise typer.Exit(2) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    host.start()
    typer.echo(f"projecting {', '.join(chosen)} into {_describe_read_models(settings)}")
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        host.stop()
        if event_store is not None:
            event_store.close()


@app.command()
def replay(
    projection: Annotated[list[str] | None, typer.Option(
        "--projection", "-p", help="Read model to rebuild (repeatable) [default: all]")] = None,
    source: Annotated[str | None, typer.Option(
        "--from", help="topic or store [default: topic with Kafka, else store]")] = None,
    keep_previous: Annotated[bool, typer.Option(help="Keep the replaced generation's tables")] = False,
    to: Annotated[Path | None, typer.Option(
        "--to", help="Build into this standalone DuckDB file instead (default models: "
        "funnel, retention, service, lifecycle); production read models are not touched")] = None,
    from_export: Annotated[Path | None, typer.Option(
        "--from-export", help="With --to: read an export directory (crm export) instead of "
        "the store or topic")] = None,
    lifecycle_config: Annotated[Path | None, typer.Option(
        "--lifecycle-config", help="With --to: TOML with dormant_days, loyal_count, "
        "loyal_window_days (what-if thresholds)")] = None,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
) -> None:
    """Rebuild read models into new tables, in one pass over the log, and swap them in once
    caught up; the current tables keep serving meanwhile. DuckDB allows one writing process
    per file: rebuild the analytics models (funnel, retention, service) while no server holds
    the file.

    With --to FILE.duckdb, build the models into a standalone file for analysis instead, from
    the store, the topic or an export directory (--from-export)."""
    if to is not None:
        _replay_standalone(to, projection, source, from_export, lifecycle_config,
                           data_dir=data_dir, postgres_url=postgres_url,
                           kafka_bootstrap=kafka_bootstrap)
        return
    if from_export is not None or lifecycle_config is not None:
        typer.secho("--from-export and --lifecycle-config need --to FILE.duckdb", fg="red",
                    err=True)
        raise typer.Exit(2)
    import time

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from services.common.event_store import open_event_store
    from services.projections.host import open_analytics_store, open_sql_store
    from services.projections.rebuild import rebuild_many
    from services.projections.registry import NAMES, build
    from services.projections.stores.base import ReadStore

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap)
    names = projection or list(NAMES)
    unknown = [name for name in names if name not in NAMES]
    if unknown:
        typer.secho(f"unknown projection(s) {', '.join(unknown)}; known: {', '.join(NAMES)}",
                    fg="red", err=True)
        raise typer.Exit(2)
    if source not in (None, "topic", "store"):
        typer.secho("--from is topic or store", fg="red", err=True)
        raise typer.Exit(2)
    models = [build(name, settings) for name in names]
    stores: dict[str, ReadStore] = {}
    event_store = None
    try:
        for kind in {m.store_kind for m in models}:
            try:
                stores[kind] = open_analytics_store(settings) if kind == "analytics" \
                    else open_sql_store(settings)
            except Exception as exc:  # duckdb.IOException: the file is open in another process
                typer.secho(f"cannot open the {kind} read-model store: {exc}", fg="red", err=True)
                raise typer.Exit(1) from None
        if source == "store" or not settings.kafka_bootstrap:
            event_store = open_event_store(settings)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]} events/s"), TimeRemainingColumn()) as bar:
            task = bar.add_task(f"rebuilding {', '.join(names)}", total=None, rate="-")
            started = time.perf_counter()

            def show(done: int, remaining: int | None) -> None:
                elapsed = time.perf_counter() - started
                bar.update(task, completed=done,
                           total=done + remaining if remaining is not None else None,
                           rate=f"{done / elapsed:,.0f}" if elapsed > 0 else "-")

            results = rebuild_many([(m, stores[m.store_kind]) for m in models], settings,
                                   source=source, event_store=event_store,  # type: ignore[arg-type]
                                   keep_previous=keep_previous, on_progress=show)
        for result in results:
            typer.echo(f"{result.projection}: generation {result.generation} active "
                       f"({result.events} events applied from the {result.source})")
        typer.echo(f"rebuilt {len(results)} read model(s) in {results[0].seconds:.1f}s")
    finally:
        for store in stores.values():
            store.close()
        if event_store is not None:
            event_store.close()


def _rate_progress(description: str) -> Any:
    """A progress bar with a count, a rate and an ETA, as every bulk command shows."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[note]}"), TimeElapsedColumn(),
                    TimeRemainingColumn())


def _replay_standalone(
    to: Path, projection: list[str] | None, source: str | None, from_export: Path | None,
    lifecycle_config: Path | None, **store_options: Any,
) -> None:
    """`crm replay --to FILE.duckdb`: the production projectors into an analyst's own file."""
    import time

    from services.common.event_store import open_event_store
    from services.projections.lifecycle import LifecycleConfig
    from services.projections.offline.export_source import ExportFormatError
    from services.projections.offline.standalone import (
        STANDALONE_MODELS,
        load_lifecycle_config,
        replay_to_duckdb,
    )
    from services.projections.registry import NAMES

    settings = load_settings(**store_options)
    names = projection or list(STANDALONE_MODELS)
    unknown = [name for name in names if name not in NAMES]
    if unknown:
        typer.secho(f"unknown projection(s) {', '.join(unknown)}; known: {', '.join(NAMES)}",
                    fg="red", err=True)
        raise typer.Exit(2)
    if from_export is not None and source is not None:
        typer.secho("give either --from or --from-export", fg="red", err=True)
        raise typer.Exit(2)
    if source not in (None, "topic", "store"):
        typer.secho("--from is topic or store", fg="red", err=True)
        raise typer.Exit(2)
    chosen = "export" if from_export is not None else source or "store"
    lifecycle = None
    if lifecycle_config is not None:
        try:
            lifecycle = load_lifecycle_config(lifecycle_config,
                                              LifecycleConfig.from_settings(settings))
        except ValueError as exc:
            typer.secho(str(exc), fg="red", err=True)
            raise typer.Exit(2) from None
    event_store = open_event_store(settings) if chosen == "store" else None
    try:
        with _rate_progress(f"replaying into {to}") as bar:
            task = bar.add_task("", total=None, note="")
            started = time.perf_counter()

            def show(done: int, remaining: int | None) -> None:
                elapsed = time.perf_counter() - started
                rate = f"{done / elapsed:,.0f}" if elapsed > 0 else "-"
                bar.update(task, completed=done,
                           total=done + remaining if remaining is not None else None,
                           note=f"{rate} events/s")

            results = replay_to_duckdb(to, settings, source=chosen,  # type: ignore[arg-type]
                                       event_store=event_store, export_dir=from_export,
                                       names=names, lifecycle=lifecycle, on_progress=show)
    except (ExportFormatError, ValueError) as exc:
        typer.secho(f"cannot replay: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    except Exception as exc:  # duckdb.IOException: the file is open in another process
        if type(exc).__module__.startswith(("duckdb", "_duckdb")):
            typer.secho(f"cannot write {to}: {exc}", fg="red", err=True)
            raise typer.Exit(1) from None
        raise
    finally:
        if event_store is not None:
            event_store.close()
    seconds = results[0].seconds if results else 0.0
    events = results[0].events if results else 0
    where = from_export if from_export is not None else f"the {chosen}"
    typer.echo(f"replayed {events:,} events from {where} into {to}: {', '.join(names)} "
               f"in {seconds:.1f}s ({events / seconds if seconds > 0 else 0:,.0f} events/s)")
    if lifecycle is not None:
        typer.echo(f"lifecycle thresholds: dormant after {lifecycle.dormant_days} days, loyal "
                   f"at {lifecycle.loyal_count} buys in {lifecycle.loyal_window_days} days")


@app.command()
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
    from uuid import UUID

    from services.common.event_store import open_event_store
    from services.projections.offline.export import (
        ExportError,
        ExportFilter,
        export_events,
        parse_moment,
    )

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap)
    if fmt not in ("parquet", "ndjson"):
        typer.secho("--format is parquet or ndjson", fg="red", err=True)
        raise typer.Exit(2)
    try:
        where = ExportFilter(
            start=parse_moment(start) if start else None,
            end=parse_moment(end) if end else None,
            types=frozenset(types or ()),
            customers=frozenset(UUID(c) for c in customers or ()))
    except ValueError as exc:
        typer.secho(f"invalid filter: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    store = open_event_store(settings)
    try:
        with _rate_progress(f"exporting to {out}") as bar:
            task = bar.add_task("", total=None, note="")
            import time

            started = time.perf_counter()

            def show(position: int, head: int, written: int) -> None:
                elapsed = time.perf_counter() - started
                rate = f"{written / elapsed:,.0f}" if elapsed > 0 else "-"
                bar.update(task, completed=position, total=head,
                           note=f"{written:,} events · {rate} events/s")

            summary = export_events(store, out, fmt=fmt,  # type: ignore[arg-type]
                                    where=where, personal=not no_personal,
                                    overwrite=overwrite, on_progress=show)
    except ExportError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(f"exported {summary.events:,} events (of {summary.scanned:,} stored) into "
               f"{len(summary.files)} file(s) under {out} in {summary.seconds:.1f}s "
               f"({summary.events_per_second:,.0f} events/s)")


@app.command("import")
def import_history(
    kind: Annotated[str, typer.Argument(
        help="customers, leads, interactions, tickets or purchases")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="CSV with a header row, or NDJSON")],
    fmt: Annotated[str | None, typer.Option(
        "--format", help="csv or ndjson [default: from the file name]")] = None,
    rejects: Annotated[Path | None, typer.Option(
        "--rejects", help="Where rejected rows go [default FILE.rejects.csv]")] = None,
    batch_rows: Annotated[int, typer.Option(
        "--batch-rows", min=1, max=50_000, help="Rows saved per transaction")] = 500,
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant to import into")] = "default",
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
) -> None:
    """Import history from another system with its original business times (formats:
    docs/import.md). Re-running a file imports only what is not stored yet; rows that cannot
    be imported are listed with line number and reason in the rejects file."""
    import time

    from services.command.importing import ImportFormatError, import_file
    from services.common.event_store import open_event_store

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap)
    store = open_event_store(settings)
    try:
        with _rate_progress(f"importing {kind} from {file.name}") as bar:
            task = bar.add_task("", total=None, note="")
            started = time.perf_counter()

            def show(rows: int, total: int, events: int) -> None:
                elapsed = time.perf_counter() - started
                rate = f"{events / elapsed:,.0f}" if elapsed > 0 else "-"
                bar.update(task, completed=rows, total=total,
                           note=f"rows · {events:,} events · {rate} events/s")

            summary = import_file(store, kind, file, fmt=fmt, rejects_path=rejects,
                                  tenant_id=tenant, batch_rows=batch_rows, on_progress=show)
    except ImportFormatError as exc:
        typer.secho(f"cannot import: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    typer.echo(f"import run {summary.run_id} ({kind} from {file} into "
               f"{settings.describe_store()}; actor import:{summary.run_id}, correlation id "
               f"{summary.correlation_id})")
    typer.echo(f"rows read {summary.rows:,} · imported {summary.imported:,} · already imported "
               f"{summary.already_imported:,} · rejected {summary.rejected:,}")
    typer.echo(f"customers registered on first sight {summary.customers_registered:,} · events "
               f"written {summary.events:,} in {summary.seconds:.1f}s "
               f"({summary.events_per_second:,.0f} events/s; last position "
               f"{summary.last_position:,})")
    if summary.rejected:
        reasons = ", ".join(f"{reason} {count}" for reason, count
                            in summary.reject_reasons.most_common(5))
        typer.secho(f"rejected rows ({reasons}) are listed in {summary.rejects_path}",
                    fg="yellow")


@app.command("query-api")
def query_api(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
) -> None:
    """Run the query API on its own, with the projectors that feed it in this process."""
    import uvicorn

    from services.query.api.app import create_query_app

    settings = load_settings(host=host, port=port, data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap)
    typer.echo(f"Chronicle query API listening on http://{settings.host}:{settings.port} "
               f"(read models: {_describe_read_models(settings)})")
    uvicorn.run(create_query_app(settings), host=settings.host, port=settings.port,
                log_level=settings.log_level)


def _seed_if_empty(service: Any) -> None:
    """`crm serve --demo`: two years of history of a few customers, into an empty store."""
    from services.command.bulk import generate_history

    if service.log.max_position() > 0:
        typer.echo("store already holds events; sample data not loaded again")
        return
    summary = generate_history(service.store, customers=DEMO_CUSTOMERS)
    typer.echo(f"loaded sample data: {summary.customers} customers, {summary.events} events "
               f"({summary.leads} leads, {summary.interactions} interactions, "
               f"{summary.tickets} tickets, {summary.purchases} purchases; last position "
               f"{summary.last_position})")


DEMO_CUSTOMERS = 24
MAX_SEED_CUSTOMERS = 1_000_000


class _CountingStore:
    """The event store as `generate_history` sees it, counting the saved events by type."""

    def __init__(self, store: Any) -> None:
        from collections import Counter

        self.store = store
        self.kinds: Counter[str] = Counter()

    def save(self, *objects: Any) -> Any:
        recordings = self.store.save(*objects)
        for recording in recordings:
            self.kinds[type(recording.domain_event).__name__] += 1
        return recordings


@app.command()
def seed(
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    customers: Annotated[int, typer.Option(
        min=1, max=MAX_SEED_CUSTOMERS, help="Customers to create (about 11 events each)")]
    = DEMO_CUSTOMERS,
    seed: Annotated[int | None, typer.Option(
        "--seed", help="Random seed: the same seed gives the same history [default 7; with "
        "--force on a store holding events, one derived from its last position]")] = None,
    years: Annotated[float, typer.Option(
        min=0.1, max=20.0, help="Business time covered, ending now")] = 2.0,
    force: Annotated[bool, typer.Option(help="Seed even if the store holds events")] = False,
) -> None:
    """Generate a realistic history: customers registered over the last `--years` years, with
    leads through the pipeline (won, lost, discounts, payments), interactions, repeat
    purchases and tickets — every domain rule applied, saved in large transactions."""
    import time

    from eventsourcing.persistence import IntegrityError
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from services.command.bulk import generate_history
    from services.common.event_store import open_event_store

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
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("customers · {task.fields[events]} events · "
                                 "{task.fields[rate]} events/s"),
                      TimeElapsedColumn(), TimeRemainingColumn()) as bar:
            task = bar.add_task("seeding", total=customers, events="0", rate="-")
            started = time.perf_counter()

            def show(done: int, events: int) -> None:
                elapsed = time.perf_counter() - started
                bar.update(task, completed=done, events=f"{events:,}",
                           rate=f"{events / elapsed:,.0f}" if elapsed > 0 else "-")

            try:
                summary = generate_history(counting, customers=customers,  # type: ignore[arg-type]
                                           seed=chosen_seed, years=years, on_progress=show)
            except IntegrityError:
                typer.secho(f"seed {chosen_seed} was used on this store before (its ids exist "
                            "already); pass another --seed", fg="red", err=True)
                raise typer.Exit(1) from None
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


@app.command()
def relay(
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
    topic: Annotated[str | None, typer.Option(
        "--topic", help="Kafka topic [env CRM_KAFKA_TOPIC, default crm.events]")] = None,
    partitions: Annotated[int | None, typer.Option(
        "--partitions", min=1, help="Partitions if the relay creates the topic "
        "[env CRM_KAFKA_PARTITIONS, default 4]")] = None,
) -> None:
    """Publish stored events to Kafka (the outbox relay) until interrupted.

    At least once, in order per customer. On PostgreSQL any number may run: one publishes,
    the others stand by and take over when it stops.
    """
    import logging
    import signal
    import threading

    from services.command.relay import Relay
    from services.common.event_store import open_event_store

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap, kafka_topic=topic,
                             kafka_partitions=partitions)
    if not settings.kafka_bootstrap:
        typer.secho("no Kafka bootstrap configured: pass --kafka-bootstrap host:port or set "
                    "CRM_KAFKA_BOOTSTRAP", fg="red", err=True)
        raise typer.Exit(2)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.log_level.lower() != "debug":
        # The relay logs one line per outage retry; the client would log a dozen.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    store = open_event_store(settings)
    outbox = Relay(store, settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    typer.echo(f"relaying events from {settings.describe_store()} to Kafka topic "
               f"{outbox.topic} at {settings.kafka_bootstrap}")
    try:
        outbox.run_until_stopped(stop)
    finally:
        outbox.close()
        store.close()


@app.command()
def policies(
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
    once: Annotated[bool, typer.Option(
        "--once", help="Catch up, run one round, print what was done and exit")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Catch up and print what is due now, issuing nothing")] = False,
) -> None:
    """Run the automation policies (assignment, follow-ups, SLAs, approvals, dormancy).

    They read the event stream into the `policy_state` read model and issue commands as
    `rule:<id>`. `crm serve` runs them too; run this when the command API runs apart.
    """
    import json
    import signal
    import threading

    from services.command.policies.host import STATE, PolicyThread, build_engine
    from services.command.service import CommandService
    from services.common.event_store import open_event_store
    from services.projections.host import ProjectorHost

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap)
    _configure_logging(settings)
    store = open_event_store(settings)
    service = CommandService(store, settings)
    projectors = ProjectorHost(settings, [STATE], event_store=store)
    engine = build_engine(service, projectors)
    try:
        if once or dry_run:
            projectors.catch_up()
            if dry_run:
                for action in engine.decide(engine.clock.now()):
                    typer.echo(json.dumps(action.summary()))
                return
            projectors.start()  # the round's later phases wait for the state to show the earlier
            result = engine.run_once()
            typer.echo(f"issued {result.issued} command(s) ({result.by_policy or 'none'}); "
                       f"{result.repeated} already done, {result.refused} refused")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        projectors.start()
        worker = PolicyThread(engine, settings.policy_interval_s)
        worker.start()
        typer.echo(f"policies running on {settings.describe_store()} "
                   f"(state fed from {'Kafka' if settings.kafka_bootstrap else 'the event store'})")
        stop.wait()
        worker.stop()
    finally:
        engine.close()
        projectors.stop()
        service.close()
        store.close()


@schemas_app.command("export")
def schemas_export(
    directory: Annotated[Path | None, typer.Option("--dir", help="Target directory")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite even incompatible changes")] = False,
) -> None:
    """Write one JSON Schema per event type and version."""
    from services.common.schemas import DEFAULT_DIR, IncompatibleSchemaChange, export_schemas

    try:
        changed = export_schemas(directory or DEFAULT_DIR, force=force)
    except IncompatibleSchemaChange as exc:
        typer.secho(f"refused: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    for path in changed:
        typer.echo(f"wrote {path}")
    typer.echo(f"{len(changed)} schema file(s) written")


@schemas_app.command("check")
def schemas_check(
    directory: Annotated[Path | None, typer.Option("--dir", help="Schema directory")] = None,
) -> None:
    """Exit 1 if the committed schemas or asyncapi.json differ from the event models."""
    from services.common.asyncapi import check_asyncapi
    from services.common.schemas import DEFAULT_DIR, check_schemas

    schema_dir = directory or DEFAULT_DIR
    problems = check_schemas(schema_dir) + check_asyncapi(schema_dir.parent / "asyncapi.json")
    for problem in problems:
        typer.echo(problem)
    if problems:
        raise typer.Exit(1)
    typer.echo("schemas match the event models")


@schemas_app.command("asyncapi")
def schemas_asyncapi(
    output: Annotated[Path | None, typer.Option(
        "--output", help="Target file [default schemas/asyncapi.json]")] = None,
) -> None:
    """Write the AsyncAPI document of the event topic, generated from the event catalog."""
    from services.common.asyncapi import DEFAULT_PATH, write_asyncapi

    path = output or DEFAULT_PATH
    changed = write_asyncapi(path)
    typer.echo(f"{'wrote' if changed else 'unchanged'} {path}")


# -- crm rules: a tenant's rules file (docs/rules.md) -----------------------------------------

rules_app = typer.Typer(help="A tenant's rules file: check, apply, show, history (docs/rules.md).",
                        no_args_is_help=True)
app.add_typer(rules_app, name="rules")

RULES_EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "rules.example.toml"


def _tenant_name(value: str | None) -> str | None:
    from services.common.web import TENANT_ID

    if value is not None and not TENANT_ID.fullmatch(value):
        raise typer.BadParameter("1-64 lowercase letters, digits, _ or - (as X-Tenant-ID)")
    return value


def _actor_name(value: str) -> str:
    from services.common.web import ACTOR

    if not ACTOR.fullmatch(value):
        raise typer.BadParameter("1-128 letters, digits and . _ : @ / + - (as X-Actor)")
    return value


RulesFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                           help="The rules file (TOML)")]
RulesTenant = Annotated[str | None, typer.Option(
    "--tenant", callback=_tenant_name, help="Tenant [env CRM_DEFAULT_TENANT, default default]")]


class _RulesService:
    """A command service on the configured event store for one command; closes both."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def __enter__(self) -> Any:
        from services.command.service import CommandService
        from services.common.event_store import open_event_store

        self._store = open_event_store(self._settings)
        self._service = CommandService(self._store, self._settings)
        return self._service

    def __exit__(self, *_: object) -> None:
        self._service.close()
        self._store.close()


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


@rules_app.command("check")
def rules_check(file: RulesFile) -> None:
    """Validate a rules file without applying it; exit 1 listing each problem with its line."""
    from services.common.rules import RulesFileError, parse_rules

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


@rules_app.command("apply")
def rules_apply(
    file: RulesFile,
    actor: Annotated[str, typer.Option("--actor", callback=_actor_name,
                                       help="Who changes the rules (recorded on the event)")],
    tenant: RulesTenant = None,
    source: Annotated[str | None, typer.Option(
        "--source", help="Recorded as where the rules came from [default: the file's name]")]
    = None,
    expected_version: Annotated[int | None, typer.Option(
        "--expected-version", min=0, help="Apply only if the rules are at this version")] = None,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
) -> None:
    """Record a rules file as the tenant's rules (in force within a second in every process);
    a refused file changes nothing and exits 1 listing each problem with its line."""
    from services.command.domain.aggregate import CommandContext
    from services.command.domain.errors import InvalidRules, RuleViolation, VersionConflict

    text = _read_rules_file(file)
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    tenant_id = tenant or settings.default_tenant
    with _RulesService(settings) as service:
        try:
            result = service.change_rules(CommandContext(actor=actor, tenant_id=tenant_id), text,
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


@rules_app.command("show")
def rules_show(tenant: RulesTenant = None, data_dir: DataDir = None,
               postgres_url: PostgresUrl = None) -> None:
    """Print the tenant's rules file in force (a note on stderr, the TOML on stdout)."""
    from services.command.api.rules import rules_in_force

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    tenant_id = tenant or settings.default_tenant
    with _RulesService(settings) as service:
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


@rules_app.command("history")
def rules_history_command(tenant: RulesTenant = None, data_dir: DataDir = None,
                          postgres_url: PostgresUrl = None) -> None:
    """Every change of the tenant's rules, newest first: version, when, who, source, what."""
    from services.command.api.rules import rules_history

    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    tenant_id = tenant or settings.default_tenant
    with _RulesService(settings) as service:
        history = rules_history(service, tenant_id)
    if not history.changes:
        typer.echo(f"tenant {tenant_id} never changed its rules: the built-in rules are in force")
        return
    for change in history.changes:
        typer.echo(f"v{change.version}  {change.changed_at.isoformat(timespec='seconds')}  "
                   f"{change.changed_by}  source {change.source}  position {change.position}  "
                   f"changed: {', '.join(change.changed) or 'no rule'}")


@rules_app.command("example")
def rules_example() -> None:
    """Print a commented example rules file covering every section."""
    typer.echo(_rules_example(), nl=False)


if __name__ == "__main__":
    app()
