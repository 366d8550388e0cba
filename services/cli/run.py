"""`crm serve` and the commands that run one part each: command-api, query-api, relay,
project, policies. Each builds its parts with the composition root (services/bootstrap.py)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Annotated, Any

import typer

from services.bootstrap import Chronicle, Parts
from services.cli.logs import configure_logging
from services.cli.options import (
    DataDir,
    Host,
    KafkaBootstrap,
    Port,
    PostgresUrl,
    fail,
    load_settings,
    require_store,
    setting_default,
)
from services.common import log_privacy
from services.common.settings import Settings
from services.projections import registry

log = logging.getLogger("chronicle")


def register(app: typer.Typer) -> None:
    for command in (serve, command_api, query_api, relay, project, policies):
        app.command(command.__name__.replace("_", "-"))(command)


def serve(
    host: Host = None,
    port: Port = None,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
    demo: Annotated[bool, typer.Option(
        "--demo", help="Load two years of sample history into an empty store, and issue an "
        "admin key for it")] = False,
    insecure_no_auth: InsecureNoAuth = False,
) -> None:
    """Run the whole CRM in one process (embedded SQLite store by default): both APIs, the
    projectors, the policies, and the relay when Kafka is configured."""
    settings = load_settings(host=host, port=port, data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap,
                             auth_mode="off" if insecure_no_auth else None)
    configure_logging(settings)
    crm = Chronicle(settings, Parts.everything(settings))
    try:
        app = _edge(crm, lambda: crm.with_web_app(crm.api()))
        seeded = False
        if demo:
            from services.cli.data import seed_if_empty

            seeded = seed_if_empty(crm)
        crm.start()
        _listen(app, settings, f"Chronicle CRM listening on {_base(settings)} (events: "
                f"{settings.describe_store()}; read models: {crm.describe_read_models()}; the "
                f"web app at /, API docs at /docs)",
                _access_hint(crm, settings, demo, seeded=demo and seeded),
                crm.end_streams)
    finally:
        crm.stop()


InsecureNoAuth = Annotated[bool, typer.Option(
    "--insecure-no-auth", help="Serve without authentication, every caller `anonymous` with "
    "every right (env CRM_AUTH_MODE=off); loopback addresses only")]


def _base(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.port}"


def _edge(crm: Chronicle, build: Callable[[], Any]) -> Any:
    """The app as served, or exit 2 when the settings refuse it (no auth off loopback)."""
    try:
        return build()
    except ValueError as exc:
        fail(f"refused: {exc}", 2)


def _access_hint(crm: Chronicle, settings: Settings, demo: bool, seeded: bool = False) -> str:
    """How to get in: a demo key (and the demo accounts when the sample data was just
    loaded), the command that issues the first key, or a warning."""
    if settings.auth_mode == "off":
        log.warning("authentication is OFF (--insecure-no-auth): every caller is anonymous "
                    "with every right, in every tenant; never expose this port")
        return "authentication is off: anyone who reaches this port may do anything"
    if demo:
        from services.command.domain.aggregate import CommandContext
        from services.common.auth.principal import cli_actor

        _, issued = crm.command_service.create_api_key(
            CommandContext(actor=cli_actor(), tenant_id=settings.default_tenant),
            subject="demo-admin", roles=["admin"], scopes=[], expires_at=None,
            display_name="Demo admin")
        accounts = ""
        if seeded:
            from services.cli.users import add_demo_users

            accounts = "\n" + add_demo_users(crm, settings)
        return (f"demo admin key for tenant {settings.default_tenant} (shown once):\n"
                f"{issued.token}\ntry: curl -H 'Authorization: Bearer {issued.token}' "
                f"{_base(settings)}/v1/customers{accounts}")
    if not crm.key_ring.keys():
        return ("no API key exists yet: every /v1 call answers 401 until you issue one, e.g.\n"
                f"crm keys create --role admin --subject you --tenant "
                f"{settings.default_tenant}" + _store_options(settings))
    return "send an API key or an access token as Authorization: Bearer <token>"


def _store_options(settings: Settings) -> str:
    if settings.store == "sqlite":
        return f" --data-dir {settings.data_dir}"
    return " --postgres-url <the same URL>"


def command_api(host: Host = None, port: Port = None, data_dir: DataDir = None,
                postgres_url: PostgresUrl = None, insecure_no_auth: InsecureNoAuth = False
                ) -> None:
    """Run the command API on its own (any number of them behind a load balancer)."""
    settings = load_settings(host=host, port=port, data_dir=data_dir, postgres_url=postgres_url,
                             auth_mode="off" if insecure_no_auth else None)
    configure_logging(settings)
    with Chronicle(settings, Parts(commands=True)) as crm:
        _listen(_edge(crm, lambda: crm.with_web_app(crm.command_api(), pages=False)),
                settings, f"Chronicle command API listening on "
                f"{_base(settings)} (events: {settings.describe_store()})",
                _access_hint(crm, settings, demo=False))


def query_api(host: Host = None, port: Port = None, data_dir: DataDir = None,
              postgres_url: PostgresUrl = None, kafka_bootstrap: KafkaBootstrap = None,
              insecure_no_auth: InsecureNoAuth = False) -> None:
    """Run the query API on its own, with the projectors that feed it in this process."""
    settings = load_settings(host=host, port=port, data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap,
                             auth_mode="off" if insecure_no_auth else None)
    if not settings.kafka_bootstrap:  # its projectors follow the event store
        require_store(settings)
    configure_logging(settings)
    with Chronicle(settings, Parts(read_models=registry.NAMES, queries=True)) as crm:
        _listen(_edge(crm, lambda: crm.with_web_app(crm.query_api())), settings,
                f"Chronicle query API listening on "
                f"{_base(settings)} (read models: {crm.describe_read_models()})",
                _access_hint(crm, settings, demo=False), crm.end_streams)


def _listen(app: Any, settings: Settings, banner: str, hint: str | None = None,
            before_shutdown: Callable[[], None] | None = None) -> None:
    import uvicorn

    from services.cli.serving import StreamsEndingServer

    typer.echo(banner)
    if hint:
        typer.echo(hint)
    sys.stdout.flush()
    config = uvicorn.Config(app, host=settings.host, port=settings.port,
                            log_level=settings.log_level,
                            log_config=log_privacy.uvicorn_log_config(settings.log_level))
    server = StreamsEndingServer(config, before_shutdown)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:  # as uvicorn.run: the port was taken, or the app failed to start
        sys.exit(3)


def relay(
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
    topic: Annotated[str | None, typer.Option(
        "--topic", help="Kafka topic (env CRM_KAFKA_TOPIC)",
        show_default=setting_default("kafka_topic"))] = None,
    partitions: Annotated[int | None, typer.Option(
        "--partitions", min=1, help="Partitions if the relay creates the topic "
        "(env CRM_KAFKA_PARTITIONS)", show_default=setting_default("kafka_partitions"))] = None,
) -> None:
    """Publish stored events to Kafka (the outbox relay) until interrupted.

    At least once, in order per customer. On PostgreSQL any number may run: one publishes,
    the others stand by and take over when it stops.
    """
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap, kafka_topic=topic,
                             kafka_partitions=partitions)
    if not settings.kafka_bootstrap:
        fail("no Kafka bootstrap configured: pass --kafka-bootstrap host:port or set "
             "CRM_KAFKA_BOOTSTRAP", 2)
    require_store(settings)  # it publishes what is stored; it never starts a store
    configure_logging(settings)
    with Chronicle(settings, Parts(relay=True)):
        typer.echo(f"relaying events from {settings.describe_store()} to Kafka topic "
                   f"{settings.kafka_topic} at {settings.kafka_bootstrap}")
        sys.stdout.flush()
        _until_signalled()


ProjectionNames = Annotated[list[str] | None, typer.Argument(
    help=f"Read models to run (default: all): {registry.describe()}", show_default=False)]


def project(
    names: ProjectionNames = None,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
) -> None:
    """Run projectors on their own: from the Kafka topic (a consumer group per read model, so
    several processes share the partitions), else from the event store."""
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap)
    try:
        chosen = registry.known(names or list(registry.NAMES))
    except KeyError as exc:
        fail(str(exc.args[0]), 2)
    if not settings.kafka_bootstrap:  # the projectors follow the event store
        require_store(settings)
    configure_logging(settings)
    with Chronicle(settings, Parts(read_models=chosen)) as crm:
        typer.echo(f"projecting {', '.join(chosen)} into {crm.describe_read_models()}")
        sys.stdout.flush()
        _until_signalled()


def policies(
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
    once: Annotated[bool, typer.Option(
        "--once", help="Catch up, run one round, print what was done and exit")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Catch up and print what is due now, issuing nothing")] = False,
) -> None:
    """Run the automation policies (assignment, follow-ups, SLAs, approvals, dormancy, task
    reminders).

    They read the event stream into the `policy_state` read model and issue commands as
    `rule:<id>`. `crm serve` runs them too; run this when the command API runs apart.
    """
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url,
                             kafka_bootstrap=kafka_bootstrap)
    # The policies only answer stored history (a dry run only reads it): a store without
    # events has nothing for them to act on, so they never start one.
    require_store(settings)
    configure_logging(settings)
    crm = Chronicle(settings, Parts(commands=True, policies=True))
    try:
        engine, projectors = crm.policy_engine, crm.projector_host
        assert engine is not None
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
        crm.start()
        typer.echo(f"policies running on {settings.describe_store()} "
                   f"(state fed from {'Kafka' if settings.kafka_bootstrap else 'the event store'})")
        sys.stdout.flush()
        _until_signalled()
    finally:
        crm.stop()


def _until_signalled() -> None:
    """Block until SIGTERM or SIGINT."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
