"""One typed settings object for every service, read from `CRM_*` environment variables."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from services.common.private_files import SQLITE_COMPANIONS, private_dir, private_file
from services.common.secret_files import SecretFilesSource

StoreKind = Literal["sqlite", "postgres", "memory"]


class Settings(BaseSettings):
    """Chronicle CRM configuration. Every field maps to a `CRM_<NAME>` environment variable."""

    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore")

    data_dir: Path = Field(
        default=Path("crm-data"),
        description="Directory holding the embedded SQLite event store and local read models.",
    )
    postgres_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host:port/db). Set: events go to PostgreSQL.",
    )
    postgres_schema: str = Field(default="public", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    postgres_reader_url: SecretStr | None = Field(
        default=None, description="PostgreSQL URL of a role that neither owns the read-model "
        "tables nor is a superuser: the query API reads as it, under row-level security that "
        "keeps each request to its tenant (a second wall behind the application's filter).")
    postgres_pool_size: int = Field(default=10, ge=1, le=200)
    kafka_bootstrap: str | None = Field(default=None, description="Kafka bootstrap servers.")
    memory_store: bool = Field(
        default=False, description="Keep events in memory only (unit tests, throwaway demos)."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    default_tenant: str = "default"
    discount_approval_threshold_percent: Decimal = Field(
        default=Decimal("10"),
        ge=0,
        le=100,
        description="Discounts above this percentage need an approval before a lead is won.",
    )
    conflict_retries: int = Field(
        default=5, ge=0, le=50,
        description="Retries of an unconditional command that lost an optimistic-concurrency race.",
    )
    log_level: str = "info"
    lifecycle_dormant_days: int = Field(
        default=90, ge=1, le=3650,
        description="A customer with no purchase or interaction for this many days is dormant.")
    lifecycle_loyal_count: int = Field(
        default=3, ge=2, le=1000,
        description="Purchases or won leads within the loyalty window that make a customer loyal.")
    lifecycle_loyal_window_days: int = Field(default=365, ge=1, le=3650)
    kafka_topic: str = Field(default="crm.events", pattern=r"^[A-Za-z0-9._-]{1,200}$")
    kafka_partitions: int = Field(default=4, ge=1, le=1000,
                                  description="Partitions of the topic when the relay creates it.")
    analytics_path: Path | None = Field(
        default=None, description="DuckDB file of the analytics read models "
        "[default <data_dir>/analytics.duckdb].")
    projector_session_timeout_ms: int = Field(
        default=10_000, ge=1000, le=300_000,
        description="Kafka consumer-group session timeout of the projectors.")
    read_wait_timeout_s: float = Field(
        default=10.0, gt=0, le=300,
        description="How long a query with `min_position` waits for the read models (then 504).")

    # Limits (docs/security.md "Limits"). The defaults are far above what the demo and the
    # benchmarks do (docs/BENCHMARKS.md): the command benchmark drives 16 clients through one
    # principal in one tenant at up to ~1,500 commands/s; the query benchmark's fastest
    # authenticated route ran 1,352 requests/s; one process tops out at ~6,400 requests/s on
    # GET /health (public, not limited) and the store at 3,326 raw appends/s on one thread.
    # So 5,000/s per principal and 4,000 writes/s per tenant never refuse what one process
    # can do, while a runaway client spread over replicas still meets a wall. The read cap
    # (32) is the query benchmark's 32 closed-loop clients: never exceeded by it, and below
    # the 40 threads of the pool the sync routes share, so cheap reads keep a few threads.
    rate_limit_per_s: float = Field(
        default=5000, ge=0, le=1_000_000,
        description="Requests a second each principal may make in a tenant, sustained "
        "(token bucket; 429 `rate_limited` with Retry-After beyond it). 0: no limit.")
    rate_limit_burst: int = Field(
        default=10_000, ge=1, le=10_000_000,
        description="Requests a principal may make at once before the sustained rate applies.")
    tenant_writes_per_s: float = Field(
        default=4000, ge=0, le=1_000_000,
        description="Writes (POST/PUT/PATCH/DELETE) a second each tenant may make, all its "
        "principals together (429 `write_quota_exceeded` beyond it). 0: no limit.")
    tenant_write_burst: int = Field(
        default=8000, ge=1, le=10_000_000,
        description="Writes a tenant may make at once before the sustained rate applies.")
    expensive_reads_max: int = Field(
        default=32, ge=0, le=10_000,
        description="Expensive reads (history, as-of views, analytics, `min_position` waits) "
        "one process runs at once; more wait up to `expensive_read_wait_s`, then 503 "
        "`too_many_expensive_reads`. 0: no cap.")
    expensive_read_wait_s: float = Field(
        default=2.0, ge=0, le=60,
        description="How long an expensive read waits for a free slot before the 503.")

    # The live event stream, GET /v1/stream (services/query/stream.py, docs/subscribing.md).
    # Heartbeat 15 s: under the 30-60 s idle timeouts of common proxies and load balancers.
    # 8 streams per principal: a user's tabs (a browser opens at most 6 HTTP/1.1 connections
    # per host) and an integration or two. 1,000 per process: a stream costs a socket, a task
    # and a few KB; new events are read once for all of them, and matching one event against
    # one stream's filters took 0.06-0.15 µs here (1,000 streams at 200 events/s: under 30 ms
    # of CPU a second).
    stream_heartbeat_s: float = Field(
        default=15.0, gt=0, le=300,
        description="An idle event stream sends a comment line this often, so proxies keep it "
        "open and clients notice a dead connection.")
    stream_max_per_principal: int = Field(
        default=8, ge=1, le=10_000,
        description="Event streams one principal may hold open in a tenant on one process "
        "(429 `too_many_streams` beyond it).")
    stream_max_open: int = Field(
        default=1000, ge=1, le=100_000,
        description="Event streams one process serves at once (503 `streams_at_capacity` "
        "beyond it).")
    stream_poll_s: float = Field(
        default=0.25, gt=0, le=60,
        description="How often the streams look at the event store for events written by "
        "other processes (saves in the same process, and on PostgreSQL every save, wake them "
        "at once).")
    stream_max_age_s: float = Field(
        default=3600.0, gt=0, le=86_400,
        description="An event stream ends after this long; the client reconnects with "
        "Last-Event-ID and so shows its credentials again.")

    policies_enabled: bool = Field(
        default=True, description="Run the automation policies inside `crm serve`.")
    policy_interval_s: float = Field(
        default=1.0, gt=0, le=3600,
        description="How often the policies look for due deadlines when idle.")
    web_dir: Path | None = Field(
        default=None, description="Directory of the built web app served at `/` (index.html, "
        "assets/, api-docs/); default services/web/dist beside the installed package.")

    auth_mode: Literal["on", "off"] = Field(
        default="on", description="`off` (or `crm serve --insecure-no-auth`) serves every route "
        "without credentials as `anonymous`, on a loopback address only.")
    auth_issuer: str | None = Field(
        default=None, description="OIDC issuer URL: tokens must name it in `iss`; their keys are "
        "discovered from `<issuer>/.well-known/openid-configuration` unless `auth_jwks_url` is set.")
    auth_audience: str | None = Field(
        default=None, description="The audience (`aud`) OIDC access tokens must be issued for.")
    auth_jwks_url: str | None = Field(
        default=None, description="The identity provider's JWKS URL (else discovered).")
    auth_claim_subject: str = Field(default="sub", min_length=1, max_length=200)
    auth_claim_tenant: str = Field(default="tenant", min_length=1, max_length=200)
    auth_claim_roles: str = Field(default="roles", min_length=1, max_length=200,
                                  description="Claim holding the roles (a dotted path such as "
                                  "`realm_access.roles` reaches into an object).")
    auth_claim_teams: str = Field(default="teams", min_length=1, max_length=200)
    auth_leeway_s: int = Field(default=30, ge=0, le=300,
                               description="Clock skew allowed on `exp` and `nbf`.")

    # Signing in in the browser at the identity provider of `auth_issuer` (authorization code
    # flow with PKCE, services/common/auth/oidc_login.py).
    oidc_client_id: str | None = Field(
        default=None, min_length=1, max_length=400, description="The CRM's client id at the "
        "identity provider: set (with `auth_issuer`), the sign-in page offers signing in "
        "there; ID tokens must name it in `aud`.")
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="The client's secret, for a confidential client (also "
        "`CRM_OIDC_CLIENT_SECRET_FILE`); unset: a public client (PKCE only).")
    oidc_redirect_url: str | None = Field(
        default=None, description="The callback URL registered at the provider "
        "(`https://crm.example/v1/session/oidc/callback`); default: derived from the request.")
    oidc_scopes: str = Field(
        default="profile", max_length=1000, description="Scopes asked for besides `openid` "
        "(space-separated), such as the ones that put tenant and roles claims in the ID token.")
    oidc_display_name: str | None = Field(
        default=None, max_length=80, description="The provider's name on the sign-in button "
        "(\"Sign in with …\").")
    local_accounts: bool = Field(
        default=True, description="`false`: names and passwords do not sign in "
        "(`POST /v1/session` answers 404); only the identity provider does.")

    # Browser sessions of local accounts (services/common/auth/sessions.py): 30 min idle and
    # 12 h at most, OWASP's usual values for a business application.
    session_idle_s: float = Field(
        default=1800.0, gt=0, le=7 * 86_400,
        description="A browser session unused for this long ends (sign in again).")
    session_max_s: float = Field(
        default=43_200.0, gt=0, le=30 * 86_400,
        description="A browser session ends this long after its sign-in, however used.")
    session_cookie_secure: bool = Field(
        default=False, description="Mark the session cookies `Secure` even when the request "
        "did not arrive over TLS (behind a proxy that ends TLS and does not say so).")

    # -- Transport security of the Kafka clients, and secrets from files ----------------------
    # Every kafka-python client takes these (services/common/kafka_clients.py). Every secret
    # field (SecretStr) also reads `CRM_<NAME>_FILE` (services/common/secret_files.py).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="How the Kafka clients talk to the brokers.")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="SASL mechanism (with SASL_PLAINTEXT or SASL_SSL).")
    kafka_sasl_username: str | None = Field(default=None, min_length=1)
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA bundle (PEM) the brokers' certificates are checked "
        "against [default: the system's].")
    kafka_ssl_certfile: Path | None = Field(
        default=None, description="Client certificate (PEM), for brokers that require one.")
    kafka_ssl_keyfile: Path | None = Field(default=None, description="The client key (PEM).")
    kafka_ssl_password: SecretStr | None = Field(
        default=None, description="Password of an encrypted client key.")
    kafka_ssl_crlfile: Path | None = Field(
        default=None, description="Certificate revocation list (PEM) to check against.")
    kafka_ssl_check_hostname: bool = Field(
        default=True, description="Check that a broker's certificate names its host.")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments first (command-line options), then `CRM_<NAME>_FILE`, then the environment.
        return (init_settings, SecretFilesSource(settings_cls), env_settings, dotenv_settings,
                file_secret_settings)

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> Settings:
        protocol = self.kafka_security_protocol
        sasl = {"CRM_KAFKA_SASL_MECHANISM": self.kafka_sasl_mechanism,
                "CRM_KAFKA_SASL_USERNAME": self.kafka_sasl_username,
                "CRM_KAFKA_SASL_PASSWORD": self.kafka_sasl_password}
        ssl = {"CRM_KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
               "CRM_KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
               "CRM_KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
               "CRM_KAFKA_SSL_PASSWORD": self.kafka_ssl_password,
               "CRM_KAFKA_SSL_CRLFILE": self.kafka_ssl_crlfile}
        if protocol.startswith("SASL_"):
            missing = [name for name, value in sasl.items() if value is None]
            if missing:
                raise ValueError(f"CRM_KAFKA_SECURITY_PROTOCOL={protocol} needs "
                                 f"{', '.join(missing)}")
        elif unused := [name for name, value in sasl.items() if value is not None]:
            # Silently ignored credentials would look like a working SASL setup.
            raise ValueError(f"{', '.join(unused)} set, but CRM_KAFKA_SECURITY_PROTOCOL is "
                             f"{protocol}: use SASL_SSL (or SASL_PLAINTEXT)")
        if not protocol.endswith("SSL"):
            if unused := [name for name, value in ssl.items() if value is not None]:
                raise ValueError(f"{', '.join(unused)} set, but CRM_KAFKA_SECURITY_PROTOCOL is "
                                 f"{protocol}: use SSL or SASL_SSL")
        if self.kafka_ssl_keyfile is not None and self.kafka_ssl_certfile is None:
            raise ValueError("CRM_KAFKA_SSL_KEYFILE set without CRM_KAFKA_SSL_CERTFILE")
        return self

    # Personal data (docs/privacy.md).
    master_key: SecretStr | None = Field(
        default=None, description="The key-encryption key that wraps every customer's data key: "
        "32 random bytes, base64 (`crm privacy new-master-key`). Usually given as "
        "CRM_MASTER_KEY_FILE; unset, the key file is <data_dir>/master.key, created on first "
        "start.")

    # Tamper evidence: the hash-chained log's signed checkpoints (docs/privacy.md "Tamper
    # evidence", services/common/audit_chain/). Unset on the embedded store, the keys and the
    # checkpoint file live in `<data_dir>.audit/`, beside the data dir, never inside it.
    audit_signing_key_file: Path | None = Field(
        default=None, description="Ed25519 private key (PEM) that signs the checkpoints; keep "
        "it off the database host if you can [embedded store: <data_dir>.audit/signing-key.pem, "
        "created on first start; PostgreSQL: no checkpoints without it].")
    audit_verify_key_file: Path | None = Field(
        default=None, description="The Ed25519 public keys (PEM, one or more) that checkpoints "
        "are verified with: every key that ever signed [default: <data_dir>.audit/"
        "verify-keys.pem on the embedded store, else the public half of the signing key].")
    audit_checkpoint_file: Path | None = Field(
        default=None, description="Every checkpoint is also appended here, one JSON line each, "
        "for shipping off the host; `crm audit verify` checks them too [embedded store: "
        "<data_dir>.audit/checkpoints.jsonl].")
    audit_checkpoint_topic: str = Field(
        default="crm.audit.checkpoints", pattern=r"^[A-Za-z0-9._-]{1,200}$",
        description="Kafka topic the checkpoints are sent to when Kafka is configured.")
    audit_checkpoint_every_events: int = Field(
        default=10_000, ge=1, le=100_000_000,
        description="A checkpoint after this many new events (checked every second).")
    audit_checkpoint_interval_s: float = Field(
        default=60.0, gt=0, le=86_400,
        description="A checkpoint at least this often while new events arrive (and one when "
        "the process stops).")

    @property
    def master_key_file(self) -> Path:
        """The key file used when no master key is given."""
        return self.data_dir / "master.key"

    def _master_key_env(self) -> dict[str, str]:
        if self.master_key is not None and self.master_key.get_secret_value().strip():
            return {"MASTER_KEY": self.master_key.get_secret_value()}
        return {"MASTER_KEY_FILE": str(self.master_key_file)}

    @property
    def readmodels_sqlite_path(self) -> Path:
        """The embedded read models (customer-360, timeline, lifecycle) without PostgreSQL."""
        return self.data_dir / "readmodels.sqlite"

    @property
    def analytics_file(self) -> Path:
        return self.analytics_path or self.data_dir / "analytics.duckdb"

    @field_validator("postgres_url")
    @classmethod
    def _postgres_url_is_parseable(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            try:
                conninfo_to_dict(value.get_secret_value())
            except Exception as exc:  # psycopg raises ProgrammingError for bad conninfo
                raise ValueError(f"CRM_POSTGRES_URL is not a valid PostgreSQL URL: {exc}") from None
        return value

    @property
    def store(self) -> StoreKind:
        if self.memory_store:
            return "memory"
        if self.postgres_url is not None and self.postgres_url.get_secret_value():
            return "postgres"
        return "sqlite"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "events.sqlite"

    def describe_store(self) -> str:
        """Where events are kept, without secrets."""
        if self.store == "postgres":
            assert self.postgres_url is not None
            parts = conninfo_to_dict(self.postgres_url.get_secret_value())
            return (
                f"PostgreSQL {parts.get('host', 'localhost')}:{parts.get('port', 5432)}"
                f"/{parts.get('dbname', '')} schema {self.postgres_schema}"
            )
        if self.store == "memory":
            return "memory (nothing is kept)"
        return f"SQLite {self.sqlite_path}"

    def event_store_env(self) -> dict[str, str]:
        """Translate our settings into the `eventsourcing` library's environment mapping."""
        if self.store == "memory":
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        if self.store == "sqlite":
            private_dir(self.data_dir)
            private_file(self.sqlite_path, SQLITE_COMPANIONS)  # its -wal and -shm follow
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.sqlite_path),
                "SQLITE_LOCK_TIMEOUT": "10",
                **self._master_key_env(),
            }
        assert self.postgres_url is not None
        parts = conninfo_to_dict(self.postgres_url.get_secret_value())
        # The rest of the URL (TLS: sslmode, sslrootcert, sslcert, sslkey, sslpassword; and
        # target_session_attrs, application_name, …) reaches the store's connections through
        # a factory of ours: the library's own takes the five parameters below only.
        rest = {key: value for key, value in parts.items() if value is not None
                and key not in ("dbname", "host", "port", "user", "password")}
        return {
            "PERSISTENCE_MODULE": "services.common.postgres_factory:ChroniclePostgresFactory",
            "POSTGRES_CONNECTION_OPTIONS": make_conninfo("", **rest),
            "POSTGRES_DBNAME": str(parts.get("dbname", "postgres")),
            "POSTGRES_HOST": str(parts.get("host", "localhost")),
            "POSTGRES_PORT": str(parts.get("port", "5432")),
            "POSTGRES_USER": str(parts.get("user", "postgres")),
            "POSTGRES_PASSWORD": str(parts.get("password", "")),
            "POSTGRES_SCHEMA": self.postgres_schema,
            "POSTGRES_POOL_SIZE": str(self.postgres_pool_size),
            "POSTGRES_MAX_OVERFLOW": str(self.postgres_pool_size),
            "POSTGRES_LOCK_TIMEOUT": "10",
            "POSTGRES_CONNECT_TIMEOUT": "10",
            **self._master_key_env(),
        }
