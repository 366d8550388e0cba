"""The composition root: every part of Chronicle built from `Settings`, started and stopped
together.

`crm serve` runs all of it in one process; `crm command-api`, `crm query-api`, `crm relay`,
`crm project` and `crm policies` each run some of it; the tests build the same object with the
parts they need. Nothing here decides anything: it only wires the store, the command service,
the relay, the projectors and the policy engine to each other and to the HTTP apps.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from fastapi import FastAPI
from starlette.types import ASGIApp

from services.command.api.app import command_app
from services.command.domain.rules import RuleSet
from services.command.policies.engine import ROUND_LIMIT, PolicyEngine, PolicyThread
from services.command.relay import Relay
from services.command.rules_book import RulesBook
from services.command.service import CommandService
from services.common.audit_chain.checkpoints import Checkpointer, checkpointer_for
from services.common.auth.http import Authenticator, RequireAuthentication
from services.common.auth.keys import KeyRing
from services.common.auth.oidc_login import oidc_login_of
from services.common.auth.sessions import Sessions
from services.common.auth.stream_tickets import StreamTickets
from services.common.clock import Clock, SystemClock
from services.common.event_store import ChronicleStore, open_event_store
from services.common.limits import Limits
from services.common.people import PeopleDirectory
from services.common.settings import Settings
from services.common.web import BodySizeLimit
from services.common.web_app import WebFront, default_web_dir
from services.projections.host import ProjectorHost
from services.projections.leads.reads import PipelineTerms
from services.projections.policy_state.reads import NAME as POLICY_STATE
from services.projections.policy_state.reads import PolicyStateReads
from services.projections.registry import NAMES
from services.projections.tickets.reads import SlaTargets
from services.query.api.app import include_query_routes, query_app
from services.query.read_models import ReadModels

log = logging.getLogger("chronicle")


def org_of(rules: RuleSet) -> tuple[list[tuple[str, tuple[str, ...]]], dict[str, str]]:
    """A tenant's teams (id, members) and managers (person -> manager) from its rules."""
    return ([(team.id, tuple(team.members)) for team in rules.assignment.teams],
            dict(rules.org.managers))


def sla_targets_of(rules: RuleSet) -> SlaTargets:
    """A tenant's SLA targets in seconds by priority, from its rules (none while SLAs are off)."""
    if not rules.sla.enabled:
        return SlaTargets()
    return SlaTargets(
        first_response={p: int(t.total_seconds()) for p, t in rules.sla.first_response.items()},
        resolution={p: int(t.total_seconds()) for p, t in rules.sla.resolution.items()})


def pipeline_terms_of(rules: RuleSet) -> PipelineTerms:
    """A tenant's pipeline stages and follow-up windows, from its rules (the lead reads)."""
    stages = tuple(rules.pipeline.stages)
    windows = {stage: rules.follow_up_window(stage) for stage in stages} \
        if rules.follow_up.enabled else {}
    return PipelineTerms(open_stages=stages, follow_up=windows)


def at_the_edge(app: FastAPI, settings: Settings, store: ChronicleStore, key_ring: KeyRing,
                authenticator: Authenticator | None = None,
                rules_book: RulesBook | None = None, limits: Limits | None = None,
                people: PeopleDirectory | None = None) -> ASGIApp:
    """An app behind what every request passes first: the body-size limit, then the
    credentials (401 without valid ones); `authorize` then applies the rate limits of
    `app.state.limits` (one `Limits` per process, so pass the process's own)."""
    rules = rules_book or RulesBook(store, settings)
    app.state.limits = limits or Limits.from_settings(settings)
    app.state.key_ring = key_ring
    app.state.people = people or PeopleDirectory(store)
    app.state.org_of = lambda tenant: org_of(rules.rule_set(tenant))
    app.state.pipeline_terms_of = lambda tenant: pipeline_terms_of(rules.rule_set(tenant))
    app.state.sla_targets_of = lambda tenant: sla_targets_of(rules.rule_set(tenant))
    authenticator = authenticator or Authenticator(settings, key_ring, StreamTickets(store),
                                                   Sessions(store, settings))
    app.state.stream_tickets = authenticator.tickets
    app.state.sessions = authenticator.sessions
    app.state.oidc_login = oidc_login_of(settings, authenticator, store)
    return BodySizeLimit(RequireAuthentication(app, authenticator), settings.max_body_bytes)


@dataclass(frozen=True)
class Parts:
    """Which parts a process runs."""

    commands: bool = False
    """The command service (and its API)."""
    read_models: Sequence[str] = ()
    """Projectors run in this process, by read-model name."""
    relay: bool = False
    """The outbox relay to Kafka."""
    policies: bool = False
    """The automation policies (they need the command service and the policy state)."""
    queries: bool = False
    """The query API: besides the read models, it reads the event store (audit history,
    point-in-time views, how far the log has got)."""

    @classmethod
    def everything(cls, settings: Settings) -> Parts:
        """What `crm serve` runs: the relay only with Kafka, the policies unless disabled."""
        return cls(commands=True, read_models=NAMES, relay=bool(settings.kafka_bootstrap),
                   policies=settings.policies_enabled, queries=True)


class Chronicle:
    """The parts of the CRM one process runs, built from settings.

    Use as a context manager (or `start()` / `stop()`): starting runs the relay, the
    projectors and the policies in threads; stopping ends them in the reverse order and
    closes what this object opened.
    """

    def __init__(self, settings: Settings, parts: Parts, *,
                 event_store: ChronicleStore | None = None, clock: Clock | None = None) -> None:
        self.settings = settings
        self.parts = parts
        self.commands: CommandService | None = None
        self.relay: Relay | None = None
        self.projectors: ProjectorHost | None = None
        self.read_models: ReadModels | None = None
        self.policy_engine: PolicyEngine | None = None
        self.policy_thread: PolicyThread | None = None
        self._relay_stop = threading.Event()
        self._relay_thread: threading.Thread | None = None
        self._started = False
        self._key_ring: KeyRing | None = None
        self._people: PeopleDirectory | None = None
        self._authenticator: Authenticator | None = None
        self._limits: Limits | None = None
        self.checkpointer: Checkpointer | None = None
        """Signs checkpoints of the event log's hash chain beside a process that writes events."""
        self._checkpoint_stop = threading.Event()
        self._checkpoint_thread: threading.Thread | None = None
        needs_store = parts.commands or parts.relay or parts.policies or parts.queries or (
            bool(parts.read_models) and not settings.kafka_bootstrap)
        self._owns_store = event_store is None and needs_store
        self.store: ChronicleStore | None = event_store or (
            open_event_store(settings) if needs_store else None)
        try:
            self._build(clock)
        except BaseException:
            self.stop()
            raise

    def _build(self, clock: Clock | None) -> None:
        settings, parts = self.settings, self.parts
        if parts.commands:
            self.commands = CommandService(self._store(), settings)
            self.checkpointer = checkpointer_for(self._store(), settings)
        if parts.relay:
            self.relay = Relay(self._store(), settings)
        names = list(parts.read_models)
        if parts.policies and POLICY_STATE not in names:
            names.append(POLICY_STATE)
        if names:
            self.projectors = ProjectorHost(settings, names, event_store=self.store)
            self.read_models = ReadModels(settings, self.projectors, self.store,
                                          self.published_through)
        if parts.policies:
            self.policy_engine = self.new_policy_engine(clock or SystemClock())
            self.policy_thread = PolicyThread(self.policy_engine, settings.policy_interval_s)

    def new_policy_engine(
        self, clock: Clock, *, tenants: Sequence[str] | None = None, limit: int = ROUND_LIMIT,
        state_reached: Callable[[int, float], bool] | None = None,
    ) -> PolicyEngine:
        """The policies on this process's command service and policy-state projector, which
        wakes the engine when it applied events. `tenants` (default all), `limit` and
        `state_reached` (default: ask the projector) for engines of one's own."""
        service, runner = self.command_service, self.projector_host.runners[POLICY_STATE]
        assert self.projector_host.sql_store is not None
        return PolicyEngine(
            service, PolicyStateReads(self.projector_host.sql_store), service.rules_book, clock,
            state_reached=state_reached or (lambda position, timeout_s: runner.wait_until(
                position, timeout_s, self.published_through)),
            tenants=tenants, limit=limit, watch=runner)

    # -- the parts, for callers that know they asked for them ---------------------------------

    def _store(self) -> ChronicleStore:
        if self.store is None:
            raise RuntimeError("this process has no event store")
        return self.store

    @property
    def command_service(self) -> CommandService:
        if self.commands is None:
            raise RuntimeError("this process runs no command service (Parts.commands)")
        return self.commands

    @property
    def projector_host(self) -> ProjectorHost:
        if self.projectors is None:
            raise RuntimeError("this process runs no projectors (Parts.read_models)")
        return self.projectors

    @property
    def reads(self) -> ReadModels:
        if self.read_models is None:
            raise RuntimeError("this process runs no projectors (Parts.read_models)")
        return self.read_models

    def published_through(self) -> tuple[int, dict[int, int]] | None:
        """The relay's acknowledged (position, offsets) when it runs in this process."""
        return self.relay.published_through() if self.relay is not None else None

    # -- HTTP ---------------------------------------------------------------------------------

    def command_api(self) -> ASGIApp:
        return self._limited(command_app(self.settings, self.command_service))

    def query_api(self) -> ASGIApp:
        return self._limited(query_app(self.settings, self.reads))

    def api(self) -> ASGIApp:
        """The command and the query routes on one app, as `crm serve` serves them."""
        app = command_app(self.settings, self.command_service)
        include_query_routes(app, self.reads)
        return self._limited(app)

    def with_web_app(self, api: ASGIApp, *, pages: bool = True) -> ASGIApp:
        """An API as the `crm` commands serve it: the web app at `/` and the offline API docs
        at `/docs` in front of it (services/common/web_app.py); `pages=False` adds the docs
        only."""
        return WebFront(api, self.settings.web_dir or default_web_dir(), pages=pages)

    def _limited(self, app: FastAPI) -> ASGIApp:
        return at_the_edge(app, self.settings, self._store(), self.key_ring, self.authenticator,
                           self.commands.rules_book if self.commands is not None else None,
                           self.limits, self.people)

    @property
    def people(self) -> PeopleDirectory:
        """Display names of the subjects who act, beside this process's event store."""
        if self._people is None:
            self._people = PeopleDirectory(self._store())
        return self._people

    @property
    def limits(self) -> Limits:
        """The rate limits and the expensive-read cap of this process's HTTP apps (one set
        for all of them: the limits are per process, or shared in PostgreSQL)."""
        if self._limits is None:
            self._limits = Limits.from_settings(self.settings)
        return self._limits

    @property
    def key_ring(self) -> KeyRing:
        """The API keys issued in this process's event store."""
        if self._key_ring is None:
            self._key_ring = KeyRing(self._store())
        return self._key_ring

    @property
    def authenticator(self) -> Authenticator:
        """Who a request's credentials name (one per process: it caches the provider's keys)."""
        if self._authenticator is None:
            self._authenticator = Authenticator(self.settings, self.key_ring,
                                                StreamTickets(self._store()),
                                                Sessions(self._store(), self.settings))
        return self._authenticator

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self.relay is not None:
            self._relay_thread = threading.Thread(
                target=self.relay.run_until_stopped, args=(self._relay_stop,), name="relay",
                daemon=True)
            self._relay_thread.start()
        if self.projectors is not None:
            self.projectors.start()
        if self.policy_thread is not None:
            self.policy_thread.start()
        if self.checkpointer is not None:
            self._checkpoint_thread = threading.Thread(
                target=self.checkpointer.run_until_stopped, args=(self._checkpoint_stop,),
                name="audit-checkpoints", daemon=True)
            self._checkpoint_thread.start()

    def end_streams(self) -> None:
        """End the open event streams (GET /v1/stream) and refuse new ones: what a server
        does first when it stops, as it waits for open responses to finish."""
        if self.read_models is not None:
            self.read_models.end_streams()

    def stop(self) -> None:
        """Stop what runs and close what was opened, in the reverse order of building; safe
        to call more than once."""
        if self.policy_thread is not None:
            self.policy_thread.stop()  # closes the engine too
            self.policy_thread = None
        elif self.policy_engine is not None:
            self.policy_engine.close()
        self.policy_engine = None
        self._relay_stop.set()
        if self._relay_thread is not None:
            self._relay_thread.join(timeout=15)
            self._relay_thread = None
        if self.relay is not None:
            self.relay.close()
            self.relay = None
        if self.read_models is not None:
            self.read_models.close()  # flushes the access log while its store is open
        if self.projectors is not None:
            self.projectors.stop()
            self.projectors = None
        if self.commands is not None:
            self.commands.close()
            self.commands = None
        self._checkpoint_stop.set()  # after the last write: its final checkpoint covers it
        if self._checkpoint_thread is not None:
            self._checkpoint_thread.join(timeout=30)
            self._checkpoint_thread = None
        if self.checkpointer is not None:
            self.checkpointer.close()
            self.checkpointer = None
        if self._limits is not None:
            self._limits.close()
            self._limits = None
        if self._owns_store and self.store is not None:
            self.store.close()
            self.store = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def describe_read_models(self) -> str:
        """Where the read models live and what feeds them, for start-up lines."""
        settings = self.settings
        sql = ("PostgreSQL" if settings.store == "postgres"
               else f"SQLite {settings.readmodels_sqlite_path}")
        bus = f"Kafka topic {settings.kafka_topic}" if settings.kafka_bootstrap \
            else "the event store"
        return f"{sql} + DuckDB {settings.analytics_file}, fed from {bus}"
