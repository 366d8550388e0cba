"""Every query of the tickets model, in either SQL dialect: a tenant's tickets with filters,
sorts and keyset pages, and one ticket with its history, comments, escalations and clocks.

**Clocks.** A ticket has two SLA clocks, as the SLA rule (services/command/policies/sla.py)
keeps them: the first response runs from the opening until the first response; the resolution
from the opening (or the latest reopening) until the ticket is resolved. Each clock's deadline
is its start plus the target in force for the ticket's current priority (`SlaTargets`, from
the tenant's rules; a priority without a target has no deadline). Everything is worked out at
`as_of` from the stored moments, so the same store and `as_of` give the same answer, on a
replay too. A clock's `state`:

- `running`: not stopped, its deadline (if any) not passed;
- `overdue`: not stopped, its deadline passed (or the rule recorded a breach);
- `waiting_on_customer`: the resolution clock of a `pending` ticket (the rule flags no
  resolution breach while the customer has the next move; the time still counts);
- `met` / `missed`: stopped within / after its target (or the rule recorded a breach).

A ticket is **breached** at `as_of` when the rule recorded a breach of it, a clock is overdue
or missed, or an earlier resolution (before a reopening) took longer than the target. Its
**due** moment is the earliest deadline of its clocks still running (none once resolved).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from services.common.events.ticket import OPEN_TICKET_STATUSES
from services.common.privacy.vault import PersonalDataVault
from services.common.times import iso
from services.projections.customer_360.reads import customers_in_book
from services.projections.model import ColumnType, Row
from services.projections.personal import ERASED, open_values, query_tokens
from services.projections.stores.sql import SqlReadStore
from services.projections.tickets.projection import (
    ALERTS,
    CUSTOMERS,
    ENTRIES,
    EPOCH,
    NAME_CONTEXT,
    PRIORITY_RANK,
    SEARCH,
    TICKETS,
    TicketsProjection,
    micros,
)

NAME = TicketsProjection.name

Sla = Literal["first_response", "resolution"]
SortKey = Literal["opened_at", "priority", "due_at", "updated_at"]
SORT_KEYS: tuple[SortKey, ...] = ("opened_at", "priority", "due_at", "updated_at")
DEFAULT_DESCENDING: dict[str, bool] = {"opened_at": True, "priority": True, "due_at": False,
                                       "updated_at": True}
"""Newest first, most urgent first, soonest deadline first, latest change first."""
ClockState = Literal["running", "overdue", "waiting_on_customer", "met", "missed", "stopped"]

COMMENTS_SHOWN = 200
"""A ticket page shows its latest comments up to this many (oldest of them first), with the
total: a page costs the same however long the conversation."""
CHANGES_SHOWN = 500
"""Likewise for its status, assignment, priority and breach history together."""
_LAST = 2**62
"""Where a ticket without a running clock sorts by `due`: after every deadline."""


@dataclass(frozen=True)
class SlaTargets:
    """The targets in force for a tenant, in seconds by priority."""

    first_response: Mapping[str, int] = field(default_factory=dict)
    resolution: Mapping[str, int] = field(default_factory=dict)

    def target(self, sla: Sla, priority: str) -> int | None:
        return (self.first_response if sla == "first_response" else self.resolution).get(priority)


NO_TARGETS = SlaTargets()
"""SLAs switched off: no deadlines (a breach the rule recorded before still counts)."""


@dataclass(frozen=True)
class TicketFilter:
    """What a ticket list is narrowed to; None: any."""

    tenant_id: str
    statuses: Sequence[str] | None = None
    priorities: Sequence[str] | None = None
    assignee: str | None = None
    customer_id: str | None = None
    ticket_id: str | None = None
    breached: bool | None = None
    due_within: timedelta | None = None
    """Tickets whose due moment is within this long after `as_of` (not already passed)."""
    q: str | None = None
    """A word (or its start) of the subject or the customer's name; text in the company, the
    ticket's external reference or the customer's."""
    book: Sequence[str] | None = None
    """Only tickets in the book of these people: assigned to or opened by one of them, or of a
    customer in their book (services/common/auth/book.py)."""


@dataclass(frozen=True)
class TicketPage:
    items: list[dict[str, Any]]
    next_after: list[Any] | None
    """The sort values and id of the page's last item, when more follow."""
    total: int | None


# -- the SQL ------------------------------------------------------------------------------------

_OPEN = "{a}.status IN ({statuses})".replace(
    "{statuses}", ", ".join(f"'{s}'" for s in sorted(OPEN_TICKET_STATUSES)))


def _target_sql(alias: str, targets: Mapping[str, int]) -> str:
    """The target of the row's priority in microseconds (NULL without one). Inlined: they are
    integers from the rules, and the priorities are the catalog's."""
    whens = " ".join(f"WHEN '{priority}' THEN {int(seconds) * 1_000_000}"
                     for priority, seconds in targets.items() if priority in PRIORITY_RANK)
    return f"(CASE {alias}.priority {whens} END)" if whens else "NULL"


def _sort_keys(sort: SortKey, descending: bool) -> list[str]:
    if sort == "opened_at":
        return ["d.opened_us"]
    if sort == "updated_at":
        return ["d.updated_us"]
    if sort == "priority":
        return ["d.priority_rank", "d.opened_us"]
    return [f"COALESCE(d.due_us, {-_LAST if descending else _LAST})"]


def _after(keys: list[str], values: Sequence[Any], descending: bool) -> tuple[str, list[Any]]:
    """Keyset condition: rows after (values…, id) in the order of (keys…, id)."""
    comparison = "<" if descending else ">"
    columns = [*keys, "d.id"]
    sql, params = f"{columns[-1]} {comparison} ?", [values[-1]]
    for column, value in zip(reversed(columns[:-1]), reversed(values[:-1]), strict=True):
        sql = f"({column} {comparison} ? OR ({column} = ? AND {sql}))"
        params = [value, value, *params]
    return sql, params


def _conditions(store: SqlReadStore, where: TicketFilter, vault: PersonalDataVault | None
                ) -> tuple[list[str], list[Any]]:
    """Conditions on the ticket rows (`t`)."""
    conditions, params = ["t.tenant_id = ?"], [where.tenant_id]
    for column, values in (("status", where.statuses), ("priority", where.priorities)):
        if values:
            conditions.append(f"t.{column} IN ({', '.join('?' for _ in values)})")
            params += list(values)
    for column, value in (("assignee", where.assignee), ("customer_id", where.customer_id),
                          ("id", where.ticket_id)):
        if value is not None:
            conditions.append(f"t.{column} = ?")
            params.append(value)
    if where.book is not None:
        people = list(where.book)
        marks = ", ".join("?" for _ in people)
        customers, customer_params = customers_in_book(where.tenant_id, people,
                                                       store.dialect == "postgres")
        conditions.append(f"(t.assignee IN ({marks}) OR t.opened_by IN ({marks}) "
                          f"OR t.customer_id IN ({customers}))")
        params += [*people, *people, *customer_params]
    if where.q is not None:
        condition, q_params = _matching(where.tenant_id, where.q, vault)
        conditions.append(condition)
        params += q_params
    return conditions, params


def _matching(tenant_id: str, q: str, vault: PersonalDataVault | None) -> tuple[str, list[Any]]:
    """Tickets whose subject or customer's name has the query's blind tokens (a whole value,
    a word, a word's start: services/projections/personal.py), or whose customer's company,
    external reference or own external reference holds the text."""
    tokens = query_tokens(vault, tenant_id, q)
    token_match, token_params = "", []
    if tokens is not None:
        whole, words = tokens
        token_match, token_params = "{s}.search LIKE ?", [f"% {whole} %"]
        if len(words) > 1:
            token_match = "(" + token_match + " OR (" + " AND ".join(
                "{s}.search LIKE ?" for _ in words) + "))"
            token_params += [f"% {word} %" for word in words]
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    text = f"%{escaped}%"
    by_customer = ["lower(c.company) LIKE ? ESCAPE '\\'",
                   "lower(c.external_ref) LIKE ? ESCAPE '\\'"]
    customer_params: list[Any] = [text, text]
    parts, params = [], []
    if token_match:
        parts.append(f"t.id IN (SELECT s.id FROM {SEARCH.name} s WHERE s.tenant_id = ? "
                     f"AND {token_match.format(s='s')})")
        params += [tenant_id, *token_params]
        by_customer.append(token_match.format(s="c"))
        customer_params += token_params
    parts.append(f"t.customer_id IN (SELECT c.id FROM {CUSTOMERS.name} c WHERE c.tenant_id = ? "
                 f"AND ({' OR '.join(by_customer)}))")
    params += [tenant_id, *customer_params]
    parts.append("lower(t.external_ref) LIKE ? ESCAPE '\\'")
    params.append(text)
    return "(" + " OR ".join(parts) + ")", params


def _clocked(store: SqlReadStore, where: TicketFilter, targets: SlaTargets, as_of_us: int,
             vault: PersonalDataVault | None) -> tuple[str, list[Any], list[str]]:
    """(SQL of the matching tickets as `d`, each with `fr_due_us`, `res_due_us`, `due_us` and
    `breached_now` at `as_of`; its parameters; conditions on `d` for breached and due)."""
    conditions, params = _conditions(store, where, vault)
    if where.due_within is not None:  # only an open ticket has a clock running
        conditions.append(_OPEN.format(a="t"))
    fr_t, res_t = (_target_sql("t", targets.first_response),
                   _target_sql("t", targets.resolution))
    is_open = _OPEN.format(a="t")
    inner = (f"SELECT t.*, CASE WHEN {is_open} AND t.first_response_us IS NULL "
             f"THEN t.opened_us + {fr_t} END AS fr_due_us, "
             f"CASE WHEN {is_open} THEN t.resolution_since_us + {res_t} END AS res_due_us "
             f"FROM {TICKETS.name} t WHERE {' AND '.join(conditions)}")
    fr_k, res_k = (_target_sql("k", targets.first_response),
                   _target_sql("k", targets.resolution))
    clocked = (
        "SELECT k.*, CASE WHEN k.fr_due_us IS NULL THEN k.res_due_us "
        "WHEN k.res_due_us IS NULL THEN k.fr_due_us WHEN k.fr_due_us <= k.res_due_us "
        "THEN k.fr_due_us ELSE k.res_due_us END AS due_us, "
        f"CASE WHEN k.breaches > 0 OR k.first_response_us > {fr_k} "
        f"OR k.slowest_resolution_us > {res_k} OR k.fr_due_us < {as_of_us} "
        f"OR (k.res_due_us < {as_of_us} AND k.status <> 'pending') THEN 1 ELSE 0 END "
        f"AS breached_now FROM ({inner}) k")
    outer: list[str] = []
    if where.breached is not None:
        outer.append(f"d.breached_now = {1 if where.breached else 0}")
    if where.due_within is not None:
        until = as_of_us + where.due_within // timedelta(microseconds=1)
        outer.append(f"d.due_us IS NOT NULL AND d.due_us >= {as_of_us} AND d.due_us <= {until}")
    return clocked, params, outer


_EXTRA: dict[str, ColumnType] = {"fr_due_us": "int", "res_due_us": "int", "due_us": "int",
                                 "breached_now": "int", "customer_name": "json",
                                 "customer_company": "text", "customer_external_ref": "text",
                                 "customer_erased": "bool"}


def _select(store: SqlReadStore, where: TicketFilter, targets: SlaTargets, as_of: datetime,
            vault: PersonalDataVault | None, *, sort: SortKey = "opened_at",
            descending: bool = True, limit: int = 50, after: Sequence[Any] | None = None
            ) -> tuple[list[Row], list[list[Any]]]:
    """The matching rows of a page (typed), and each row's sort values with its id."""
    clocked, params, outer = _clocked(store, where, targets, micros(as_of), vault)
    keys = _sort_keys(sort, descending)
    conditions, keyset_params = list(outer), list[Any]()
    if after is not None:
        condition, keyset_params = _after(keys, after, descending)
        conditions.append(condition)
    direction = "DESC" if descending else "ASC"
    sort_columns = ", ".join(f"{key} AS sort_{n}" for n, key in enumerate(keys))
    order = ", ".join(f"{key} {direction}" for key in [*keys, "d.id"])
    sql = (f"SELECT d.*, c.name AS customer_name, c.company AS customer_company, "
           f"c.external_ref AS customer_external_ref, c.erased AS customer_erased, "
           f"{sort_columns} FROM ({clocked}) d "
           f"LEFT JOIN {CUSTOMERS.name} c ON c.id = d.customer_id"
           + (f" WHERE {' AND '.join(conditions)}" if conditions else "")
           + f" ORDER BY {order} LIMIT ?")
    found = store.query(sql, [*params, *keyset_params, limit])
    types = {**TICKETS.columns, **_EXTRA}
    rows = [{name: store.from_db(kind, raw[name]) for name, kind in types.items()}
            for raw in found]
    sort_values = [[*(raw[f"sort_{n}"] for n in range(len(keys))), raw["id"]] for raw in found]
    return rows, sort_values


def _count(store: SqlReadStore, where: TicketFilter, targets: SlaTargets, as_of: datetime,
           vault: PersonalDataVault | None) -> int:
    clocked, params, outer = _clocked(store, where, targets, micros(as_of), vault)
    sql = f"SELECT COUNT(*) AS n FROM ({clocked}) d" + (
        f" WHERE {' AND '.join(outer)}" if outer else "")
    return int(store.query(sql, params)[0]["n"])


# -- the answers --------------------------------------------------------------------------------


def _moment(us: int | None) -> str | None:
    return None if us is None else iso(EPOCH + timedelta(microseconds=us))


def _opened(vault: PersonalDataVault | None, customer_id: str, context_id: str, stored: Any,
            name: str, erased: bool) -> str | None:
    """A sealed value opened; "[erased]" once the customer's key is gone."""
    if erased:
        return ERASED
    values = open_values(vault, customer_id, context_id, stored)
    if values is None:
        return ERASED if vault is not None else None
    value = values.get(name)
    return value if isinstance(value, str) else None


def _summary(row: Row, vault: PersonalDataVault | None) -> dict[str, Any]:
    ticket_id, customer_id = row["id"], row["customer_id"]
    erased = bool(row["customer_erased"])
    due_us = row["due_us"]
    due_sla: Sla | None = None
    if due_us is not None:
        due_sla = "first_response" if due_us == row["fr_due_us"] else "resolution"
    name = _opened(vault, customer_id, NAME_CONTEXT, row["customer_name"], "name", erased)
    return {
        "ticket_id": ticket_id, "customer_id": customer_id,
        # a customer an import met first is known by its reference until a profile names it
        "customer_name": name if name is not None else row["customer_external_ref"],
        "customer_company": row["customer_company"],
        "customer_external_ref": row["customer_external_ref"], "customer_erased": erased,
        "subject": _opened(vault, customer_id, ticket_id, row["subject"], "subject", erased),
        "status": row["status"], "priority": row["priority"], "channel": row["channel"],
        "assignee": row["assignee"], "opened_by": row["opened_by"], "lead_id": row["lead_id"],
        "external_ref": row["external_ref"], "opened_at": row["opened_at"],
        "updated_at": row["updated_at"], "first_response_at": row["first_response_at"],
        "resolved_at": row["resolved_at"], "closed_at": row["closed_at"],
        "reopened": row["reopened"], "due_at": _moment(due_us), "due_sla": due_sla,
        "breached": bool(row["breached_now"]), "breaches": row["breaches"],
    }


def list_tickets(store: SqlReadStore, where: TicketFilter, *, targets: SlaTargets,
                 as_of: datetime, sort: SortKey = "opened_at", descending: bool = True,
                 limit: int = 50, after: Sequence[Any] | None = None,
                 include_total: bool = False,
                 vault: PersonalDataVault | None = None) -> TicketPage:
    """One page of tickets, keyset-paginated on (sort values…, id) after `after`, with their
    due moments and breaches at `as_of` (module docstring)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    rows, sort_values = _select(store, where, targets, as_of, vault, sort=sort,
                                descending=descending, limit=limit + 1, after=after)
    items = [_summary(row, vault) for row in rows[:limit]]
    next_after = sort_values[limit - 1] if len(rows) > limit else None
    total = _count(store, where, targets, as_of, vault) if include_total else None
    return TicketPage(items, next_after, total)


def read_ticket(store: SqlReadStore, ticket_id: str, *, tenant_id: str,
                book: Sequence[str] | None, targets: SlaTargets, as_of: datetime,
                vault: PersonalDataVault | None = None) -> dict[str, Any] | None:
    """The ticket page, or None when the ticket is not the tenant's or not in the book."""
    rows, _ = _select(store, TicketFilter(tenant_id, ticket_id=ticket_id, book=book), targets,
                      as_of, vault, limit=1)
    if not rows:
        return None
    row = rows[0]
    ticket = _summary(row, vault)
    erased = bool(row["customer_erased"])
    customer_id = row["customer_id"]

    def reason(entry: Row) -> str | None:
        if entry["sealed"] is None:
            return None
        return _opened(vault, customer_id, entry["id"], entry["sealed"], "reason", erased)

    changes = _entries(store, ticket_id, comments=False, limit=CHANGES_SHOWN)
    comments = _entries(store, ticket_id, comments=True, limit=COMMENTS_SHOWN)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for entry in changes:
        base = {**entry["data"], "at": entry["occurred_at"], "by": entry["actor"]}
        if entry["kind"] in ("status", "priority"):
            base["reason"] = reason(entry)
        by_kind.setdefault(entry["kind"], []).append(base)
    counted = store.query(f"SELECT kind, COUNT(*) AS n FROM {ENTRIES.name} WHERE ticket_id = ? "
                          "GROUP BY kind", [ticket_id])
    totals = {r["kind"]: int(r["n"]) for r in counted}
    return {
        **ticket,
        "clocks": ticket_clocks(row, targets, as_of),
        "status_history": by_kind.get("status", []),
        "assignments": by_kind.get("assignment", []),
        "priority_changes": by_kind.get("priority", []),
        "escalations": by_kind.get("sla_breach", []),
        "alerts": _alerts(store, ticket_id),
        "comments": [{**entry["data"], "at": entry["occurred_at"],
                      "body": _opened(vault, customer_id, entry["data"]["comment_id"],
                                      entry["sealed"], "body", erased)}
                     for entry in comments],
        "comments_total": totals.get("comment", 0),
        "changes_total": sum(n for kind, n in totals.items() if kind != "comment"),
        "version": row["version"], "last_position": row["last_position"],
    }


def _entries(store: SqlReadStore, ticket_id: str, *, comments: bool, limit: int) -> list[Row]:
    """The ticket's latest comments (or other changes), oldest of them first."""
    kind = "kind = ?" if comments else "kind <> ?"
    found = store.query(f"SELECT * FROM {ENTRIES.name} WHERE ticket_id = ? AND {kind} "
                        "ORDER BY position DESC LIMIT ?", [ticket_id, "comment", limit])
    types = ENTRIES.columns
    return [{name: store.from_db(types[name], raw[name]) for name in types}
            for raw in reversed(found)]


def _alerts(store: SqlReadStore, ticket_id: str) -> list[dict[str, Any]]:
    found = store.query(f"SELECT * FROM {ALERTS.name} WHERE ticket_id = ? ORDER BY position "
                        f"LIMIT {CHANGES_SHOWN}", [ticket_id])
    types = ALERTS.columns
    alerts = []
    for raw in found:
        alert = {name: store.from_db(types[name], raw[name]) for name in types
                 if name not in ("tenant_id", "ticket_id")}
        alert["alert_id"] = alert.pop("id")
        alerts.append(alert)
    return alerts


# -- the clocks ---------------------------------------------------------------------------------


def ticket_clocks(row: Row, targets: SlaTargets, as_of: datetime) -> dict[str, Any]:
    """Both clocks of a ticket row at `as_of` (module docstring)."""
    as_of_us = micros(as_of)
    running = row["status"] in OPEN_TICKET_STATUSES
    priority = row["priority"]
    return {
        "as_of": iso(as_of),
        "first_response": _clock(
            row["opened_us"], row["first_response_us"], row["first_response_at"],
            running=running and row["first_response_us"] is None, waiting=False,
            target=targets.target("first_response", priority),
            recorded=bool(row["first_response_breached"]), as_of_us=as_of_us),
        "resolution": _clock(
            row["resolution_since_us"], row["resolution_us"], row["resolution_stopped_at"],
            running=running, waiting=row["status"] == "pending",
            target=targets.target("resolution", priority),
            recorded=bool(row["resolution_breached"]), as_of_us=as_of_us),
    }


def _clock(started_us: int, took_us: int | None, stopped_at: str | None, *, running: bool,
           waiting: bool, target: int | None, recorded: bool, as_of_us: int) -> dict[str, Any]:
    target_us = None if target is None else target * 1_000_000
    deadline_us = None if target_us is None else started_us + target_us
    remaining: float | None = None
    state: ClockState
    if took_us is not None:
        elapsed: float | None = took_us / 1e6
        late = recorded or (target_us is not None and took_us > target_us)
        state = "missed" if late else "met"
    elif running:
        elapsed = max(0, as_of_us - started_us) / 1e6
        if deadline_us is not None:
            remaining = (deadline_us - as_of_us) / 1e6
        if recorded:
            state = "overdue"
        elif waiting:
            state = "waiting_on_customer"
        elif deadline_us is not None and as_of_us > deadline_us:
            state = "overdue"
        else:
            state = "running"
    else:  # never answered, and no longer open: nothing left to time
        elapsed, state = None, "stopped"
        stopped_at = None
    return {"target_seconds": target, "started_at": _moment(started_us),
            "deadline": _moment(deadline_us), "stopped_at": stopped_at,
            "elapsed_seconds": elapsed, "remaining_seconds": remaining, "state": state,
            "breach_recorded": recorded}
