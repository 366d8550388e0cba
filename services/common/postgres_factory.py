"""The eventsourcing library's PostgreSQL factory, connecting with all of `CRM_POSTGRES_URL`.

The library builds its connection pool from five parameters only (host, port, user, password,
dbname), so TLS in the URL (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `sslpassword`, …)
and anything else libpq takes (`target_session_attrs`, `application_name`, `options`) would
reach every other connection of ours but not the event store's. The settings pass the rest of
the URL as `POSTGRES_CONNECTION_OPTIONS` (a libpq conninfo string); this factory adds it to the
pool's connection parameters before the pool first connects (it opens on first use). The
library itself sets the password there the same way when it is given a password function.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import InfrastructureFactoryError
from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import Environment
from psycopg.conninfo import conninfo_to_dict

CONNECTION_OPTIONS = "POSTGRES_CONNECTION_OPTIONS"
LIBRARY_PARAMETERS = frozenset({"host", "port", "user", "password", "dbname"})
"""What the library passes itself (from POSTGRES_HOST and the rest)."""


class ChroniclePostgresFactory(PostgresFactory):
    """`PostgresFactory` whose connections also use `POSTGRES_CONNECTION_OPTIONS`."""

    def __init__(self, env: Environment | dict[str, str] | None) -> None:
        super().__init__(env)  # builds the datastore and its (unopened) pool
        options = self.env.get(CONNECTION_OPTIONS)
        if not options:
            return
        extra: dict[str, Any] = conninfo_to_dict(options)
        overlap = LIBRARY_PARAMETERS & extra.keys()
        if overlap:
            raise InfrastructureFactoryError(
                f"{CONNECTION_OPTIONS} may not set {', '.join(sorted(overlap))}: the library's "
                "own POSTGRES_* variables do")
        kwargs = self.datastore.pool.kwargs
        assert isinstance(kwargs, dict), "the library passes its parameters as a dict"
        kwargs.update(extra)
