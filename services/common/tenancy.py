"""The tenant a request reads in, for the database's own tenant wall.

`authorize` sets it for every API request; on PostgreSQL with a reader role configured
(`CRM_POSTGRES_READER_URL`), the read-model store runs that request's queries as the reader,
with `crm.tenant` set, so the row-level security policies hide every other tenant's rows even
from a query that forgot to filter. Outside a request (projectors, policies, probes) it is unset.
"""

from __future__ import annotations

from contextvars import ContextVar

READING_TENANT: ContextVar[str | None] = ContextVar("reading_tenant", default=None)
