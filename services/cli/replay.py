"""`crm replay`: rebuild read models in place, or into an analyst's own DuckDB file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.cli.options import (
    DataDir,
    KafkaBootstrap,
    PostgresUrl,
    fail,
    load_settings,
    require_store,
)
from services.cli.progress import Progress
from services.common.event_store import ChronicleStore, open_event_store
from services.common.settings import Settings
from services.projections import registry
from services.projections.rebuild import RebuildSource


def register(app: typer.Typer) -> None:
    app.command()(replay)


def replay(
    projection: Annotated[list[str] | None, typer.Option(
        "--projection", "-p", help=f"Read model to rebuild (repeatable) (default: all): "
        f"{', '.join(registry.NAMES)}")] = None,
    source: Annotated[str | None, typer.Option(
        "--from", help="topic or store (default: topic with Kafka, else store)")] = None,
    keep_previous: Annotated[bool, typer.Option(
        help="Keep the replaced generation's tables")] = False,
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
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap)
    if source not in (None, "topic", "store"):
        fail("--from is topic or store", 2)
    if to is not None:
        _standalone(settings, to, projection, source, from_export, lifecycle_config)
        return
    if from_export is not None or lifecycle_config is not None:
        fail("--from-export and --lifecycle-config need --to FILE.duckdb", 2)
    _in_place(settings, _known(projection or list(registry.NAMES)), source, keep_previous)


def _known(names: list[str]) -> list[str]:
    try:
        return registry.known(names)
    except KeyError as exc:
        fail(str(exc.args[0]), 2)


def _in_place(settings: Settings, names: list[str], source: str | None,
              keep_previous: bool) -> None:
    from services.projections.host import open_analytics_store, open_sql_store
    from services.projections.rebuild import rebuild_many
    from services.projections.stores.base import ReadStore

    reads_store = source == "store" or not settings.kafka_bootstrap
    if reads_store:
        require_store(settings)
    models = [registry.build(name, settings) for name in names]
    stores: dict[str, ReadStore] = {}
    event_store: ChronicleStore | None = None
    try:
        for kind in {m.store_kind for m in models}:
            try:
                stores[kind] = open_analytics_store(settings) if kind == "analytics" \
                    else open_sql_store(settings)
            except Exception as exc:  # duckdb.IOException: the file is open in another process
                fail(f"cannot open the {kind} read-model store: {exc}")
        # From the topic too: the keys that open its sealed personal data are in the store.
        event_store = open_event_store(settings)
        chosen: RebuildSource | None = "store" if source == "store" else \
            "topic" if source == "topic" else None
        with Progress(f"rebuilding {', '.join(names)}") as shown:
            results = rebuild_many(
                [(m, stores[m.store_kind]) for m in models], settings, source=chosen,
                event_store=event_store, keep_previous=keep_previous,
                on_progress=lambda done, remaining: shown.update(
                    done, done + remaining if remaining is not None else None))
        for result in results:
            typer.echo(f"{result.projection}: generation {result.generation} active "
                       f"({result.events} events applied from the {result.source})")
        typer.echo(f"rebuilt {len(results)} read model(s) in {results[0].seconds:.1f}s")
    finally:
        for store in stores.values():
            store.close()
        if event_store is not None:
            event_store.close()


def _standalone(settings: Settings, to: Path, projection: list[str] | None, source: str | None,
                from_export: Path | None, lifecycle_config: Path | None) -> None:
    """`crm replay --to FILE.duckdb`: the production projectors into an analyst's own file."""
    from services.projections.lifecycle.stages import LifecycleConfig
    from services.projections.offline.export_source import ExportFormatError
    from services.projections.offline.standalone import (
        STANDALONE_MODELS,
        load_lifecycle_config,
        replay_to_duckdb,
    )

    names = _known(projection or list(STANDALONE_MODELS))
    if from_export is not None and source is not None:
        fail("give either --from or --from-export", 2)
    chosen: RebuildSource = "export" if from_export is not None else \
        "topic" if source == "topic" else "store"
    lifecycle = None
    if lifecycle_config is not None:
        try:
            lifecycle = load_lifecycle_config(lifecycle_config,
                                              LifecycleConfig.from_settings(settings))
        except ValueError as exc:
            fail(str(exc), 2)
    if chosen == "store":
        require_store(settings)
    event_store = open_event_store(settings) if chosen == "store" else None
    try:
        with Progress(f"replaying into {to}") as shown:
            results = replay_to_duckdb(
                to, settings, source=chosen, event_store=event_store, export_dir=from_export,
                names=names, lifecycle=lifecycle,
                on_progress=lambda done, remaining: shown.update(
                    done, done + remaining if remaining is not None else None))
    except (ExportFormatError, ValueError) as exc:
        fail(f"cannot replay: {exc}")
    except Exception as exc:  # duckdb.IOException: the file is open in another process
        if type(exc).__module__.startswith(("duckdb", "_duckdb")):
            fail(f"cannot write {to}: {exc}")
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
