"""Every query of the customer-360 model: one customer's document (now, or folded in memory as
of a moment), whose tenant a customer is in, and the customer list with its filters and keyset
pages — in either SQL dialect."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from services.common.privacy.vault import PersonalDataVault
from services.common.times import iso
from services.projections.customer_360.changes import field_changes as field_changes
from services.projections.customer_360.projection import (
    CUSTOMERS,
    PROFILE,
    Customer360Projection,
    Doc,
)
from services.projections.leads.reads import FunnelSlice, leads_exist
from services.projections.lifecycle import reads as lifecycle
from services.projections.model import ConsumedEvent, Row, fold
from services.projections.personal import open_values, query_tokens
from services.projections.stores.sql import SqlReadStore

NAME = Customer360Projection.name

SortKey = Literal["created_at", "company", "updated_at"]
SORT_KEYS: tuple[SortKey, ...] = ("created_at", "company", "updated_at")
"""Not by name: names are sealed (services/projections/personal.py), so no index orders them."""


def open_document(doc: Doc, vault: PersonalDataVault | None) -> Doc:
    """The document with its sealed personal values opened — or emptied when the customer was
    erased (or the reader has no vault)."""
    customer_id = doc["customer_id"]
    personal = open_values(vault, customer_id, PROFILE, doc.get("personal") or None)
    opened = {**doc, "personal": personal or {},
              "display_name": display_name((personal or {}).get("name"),
                                           doc.get("external_ref"), doc.get("erased", False))}
    if any(lead.get("lost_reason") is not None for lead in doc.get("leads", ())):
        opened["leads"] = [{**lead, "lost_reason": _one(vault, customer_id, lead["lead_id"],
                                                        lead.get("lost_reason"), "reason")}
                           for lead in doc["leads"]]
    tickets = doc.get("tickets")
    if tickets and any(item.get("subject") is not None for item in tickets.get("items", ())):
        opened["tickets"] = {**tickets, "items": [
            {**item, "subject": _one(vault, customer_id, item["ticket_id"], item.get("subject"),
                                     "subject")} for item in tickets["items"]]}
    return opened


def display_name(name: str | None, external_ref: str | None, erased: bool) -> str | None:
    """What to call a customer: its name, else its reference in a source system (a customer
    an import met first is known by nothing else until a profile names it); none once
    erased."""
    return None if erased else (name or external_ref)


def _one(vault: PersonalDataVault | None, customer_id: str, context_id: str, stored: Any,
         name: str) -> Any:
    if isinstance(stored, str):  # kept in clear by a read model built before sealing
        return stored
    values = open_values(vault, customer_id, context_id, stored)
    return values.get(name) if values else None


def document(row: Row, lifecycle_stage: str | None) -> Doc:
    """The served shape: the stored document plus its stage, version and (empty) timeline,
    which the query layer fills from the timeline model."""
    return {**row["doc"], "lifecycle_stage": lifecycle_stage, "timeline": [],
            "version": row["version"], "last_position": row["last_position"],
            "updated_at": row["updated_at"]}


def customer_tenant(store: SqlReadStore, customer_id: str) -> str | None:
    """The tenant of a customer the model has seen (None: unknown), by primary key."""
    found = store.query(f"SELECT tenant_id FROM {CUSTOMERS.name} WHERE id = ?", [customer_id])
    return str(found[0]["tenant_id"]) if found else None


def customer_visible(store: SqlReadStore, customer_id: str, tenant_id: str,
                     book: Sequence[str] | None) -> bool:
    """Whether the model has seen the customer in this tenant, in this book (None: any)."""
    conditions, params = ["c.id = ?", "c.tenant_id = ?"], [customer_id, tenant_id]
    if book is not None:
        condition, book_params = book_condition(book, store.dialect == "postgres")
        conditions.append(condition)
        params += book_params
    return bool(store.query(f"SELECT 1 AS found FROM {CUSTOMERS.name} c "
                            f"WHERE {' AND '.join(conditions)}", params))


def book_condition(book: Sequence[str], postgres: bool) -> tuple[str, list[Any]]:
    """SQL keeping the customers (`c`) in a book: one of its people in the document's book."""
    if postgres:
        return "jsonb_exists_any(c.doc -> 'book', ?::text[])", [list(book)]
    marks = ", ".join("?" for _ in book)
    return (f"EXISTS (SELECT 1 FROM json_each(c.doc, '$.book') WHERE value IN ({marks}))",
            list(book))


def read_customer_360(store: SqlReadStore, customer_id: str, *, lifecycle_stage: str | None = None,
                      as_of: datetime | str | None = None,
                      with_lifecycle: bool = True,
                      vault: PersonalDataVault | None = None) -> Doc | None:
    """The customer's document, or None if the model has not seen the customer.

    Its personal values are opened with `vault` (without one, or once the customer is erased,
    they are left out). The stage is `lifecycle_stage` if given; otherwise it is read from the lifecycle model in
    the same store at `as_of` (default now), when `with_lifecycle` and that model exists there.
    """
    found = store.query(f"SELECT * FROM {CUSTOMERS.name} WHERE id = ?", (customer_id,))
    if not found:
        return None
    from_db = store.from_db
    row = {name: from_db(kind, found[0][name]) for name, kind in CUSTOMERS.columns.items()}
    if lifecycle_stage is None and with_lifecycle and \
            store.generations(lifecycle.NAME)[0] is not None:
        lifecycle_stage = lifecycle.read_customer_stage(store, customer_id, as_of)
    return open_document(document(row, lifecycle_stage), vault)


def customer_360_as_of(events: Iterable[ConsumedEvent], customer_id: str | None = None, *,
                       as_of: datetime | str | None = None,
                       lifecycle_config: lifecycle.LifecycleConfig | None = None) -> Doc | None:
    """The customer's document folded in memory from its events (e.g. those up to a position,
    or up to a business time), with the lifecycle stage at `as_of` (default: the latest
    business time among the events).

    The same handlers as the live model, so it equals the live document at that position.
    """
    events = list(events)
    if not events:
        return None
    wanted = customer_id or str(events[0].event.customer_id)
    mine = [c for c in events if str(c.event.customer_id) == wanted]
    row = fold(Customer360Projection(), mine).get(CUSTOMERS, wanted)
    if row is None:
        return None
    moment = as_of if as_of is not None else max(iso(c.event.occurred_at) for c in mine)
    stage = lifecycle.customer_stage_as_of(mine, wanted, moment, lifecycle_config)
    return open_document(document(row, stage), None)  # folded in memory: values in clear


# -- the list -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerFilter:
    """What a customer list is narrowed to; None: any."""

    tenant_id: str
    lifecycle_stage: str | None = None
    owner: str | None = None
    tag: str | None = None
    region: str | None = None
    source: str | None = None
    q: str | None = None
    """Text in the company or the external reference; the name, e-mail or phone by their
    blind tokens."""
    book: Sequence[str] | None = None
    """Only customers in the book of these people (services/common/auth/book.py)."""
    leads: FunnelSlice | None = None
    """Only customers with a lead in this slice (the leads behind a funnel figure)."""


@dataclass(frozen=True)
class CustomerPage:
    items: list[dict[str, Any]]
    next_after: tuple[str, str] | None
    """(sort value, id) of the page's last item, when more follow."""
    total: int | None


def list_customers(store: SqlReadStore, where: CustomerFilter, *, sort: SortKey = "created_at",
                   descending: bool = True, limit: int = 50,
                   after: Sequence[str] | None = None, include_total: bool = False,
                   now: datetime | None = None,
                   vault: PersonalDataVault | None = None) -> CustomerPage:
    """One page of customers, keyset-paginated on (sort value, id) after `after`.

    The page is chosen from the narrow columns first; documents and lifecycle stages are read
    only for the rows returned.
    """
    postgres = store.dialect == "postgres"
    conditions, params = _conditions(where, postgres, vault)
    moment = iso(now or datetime.now(UTC))
    stage_sql = lifecycle.stage_at_sql("c.id")
    if where.lifecycle_stage is not None:
        conditions.append(f"{stage_sql} = ?")
        params += [moment, where.lifecycle_stage]
    filters, filter_params = list(conditions), list(params)
    # Keyset on (sort key, id); the sort key is text on both dialects and nulls sort as ''.
    key = f"COALESCE(c.{sort}{'::text' if postgres else ''}, '')"
    comparison = "<" if descending else ">"
    if after is not None:
        value, last_id = after
        conditions.append(f"({key} {comparison} ? OR ({key} = ? AND c.id {comparison} ?))")
        params += [value, value, last_id]
    direction = "DESC" if descending else "ASC"
    table = CUSTOMERS.name
    sql = (f"SELECT c.id, c.company, c.owner, c.region, c.source, c.created_at, c.doc, "
           f"page.sort_key, {stage_sql} AS lifecycle_stage "
           f"FROM (SELECT c.id, {key} AS sort_key FROM {table} c "
           f"WHERE {' AND '.join(conditions)} ORDER BY {key} {direction}, c.id {direction} "
           f"LIMIT ?) page JOIN {table} c ON c.id = page.id "
           f"ORDER BY page.sort_key {direction}, page.id {direction}")
    rows = store.query(sql, [moment, *params, limit + 1])
    items = []
    for row in rows[:limit]:
        doc = store.from_db("json", row["doc"]) or {}
        personal = open_values(vault, row["id"], PROFILE, doc.get("personal") or None) or {}
        created_at = store.from_db("ts", row["created_at"])
        erased = bool(doc.get("erased", False))
        items.append({
            "customer_id": row["id"], "name": personal.get("name"),
            "email": personal.get("email"),
            "display_name": display_name(personal.get("name"), doc.get("external_ref"), erased),
            "external_ref": doc.get("external_ref"), "erased": erased, "company": row["company"],
            "owner": row["owner"], "region": row["region"], "source": row["source"],
            "lifecycle_stage": row["lifecycle_stage"], "tags": doc.get("tags", []),
            "created_at": None if created_at is None else str(created_at),
        })
    next_after = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_after = (str(last["sort_key"]), str(last["id"]))
    total = None
    if include_total:
        counted = store.query(f"SELECT COUNT(*) AS n FROM {table} c WHERE "
                              f"{' AND '.join(filters)}", filter_params)
        total = int(counted[0]["n"])
    return CustomerPage(items, next_after, total)


def _conditions(where: CustomerFilter, postgres: bool, vault: PersonalDataVault | None,
                ) -> tuple[list[str], list[Any]]:
    conditions = ["c.tenant_id = ?"]
    params: list[Any] = [where.tenant_id]
    for column, value in (("owner", where.owner), ("region", where.region),
                          ("source", where.source)):
        if value is not None:
            conditions.append(f"c.{column} = ?")
            params.append(value)
    if where.tag is not None:
        conditions.append("(c.doc -> 'tags') @> jsonb_build_array(?::text)" if postgres else
                          "EXISTS (SELECT 1 FROM json_each(c.doc, '$.tags') WHERE value = ?)")
        params.append(where.tag.strip().lower())
    if where.book is not None:
        condition, book_params = book_condition(where.book, postgres)
        conditions.append(condition)
        params += book_params
    if where.leads is not None and not where.leads.empty:
        condition, lead_params = leads_exist("c.id", where.tenant_id, where.leads)
        conditions.append(condition)
        params += lead_params
    if where.q is not None:
        # The company and the external reference are not personal: matched anywhere in them.
        # Names, e-mail addresses and phones only by their blind tokens: a whole value, a
        # word, a word's start, an address's parts, a phone's last digits
        # (services/projections/personal.py).
        escaped = where.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        reference = ("c.doc ->> 'external_ref'" if postgres
                     else "json_extract(c.doc, '$.external_ref')")
        matches = ["lower(c.company) LIKE ? ESCAPE '\\'",
                   f"lower(COALESCE({reference}, '')) LIKE ? ESCAPE '\\'"]
        match_params = [f"%{escaped}%", f"%{escaped}%"]
        tokens = query_tokens(vault, where.tenant_id, where.q)
        if tokens is not None:
            whole, words = tokens
            matches.append("c.search LIKE ?")
            match_params.append(f"% {whole} %")
            if len(words) > 1:
                matches.append("(" + " AND ".join("c.search LIKE ?" for _ in words) + ")")
                match_params += [f"% {word} %" for word in words]
        conditions.append("(" + " OR ".join(matches) + ")")
        params += match_params
    return conditions, params


def customers_in_book(tenant_id: str, book: Sequence[str], postgres: bool
                      ) -> tuple[str, list[Any]]:
    """A subquery of the ids of a tenant's customers in a book, with its parameters."""
    condition, params = book_condition(book, postgres)
    return (f"SELECT c.id FROM {CUSTOMERS.name} c WHERE c.tenant_id = ? AND {condition}",
            [tenant_id, *params])


def visible_customers(store: SqlReadStore, tenant_id: str, customer_ids: Iterable[str],
                      book: Sequence[str] | None) -> set[str]:
    """Which of these customers the model has seen in this tenant and book (None: any)."""
    ids = list(dict.fromkeys(customer_ids))
    found: set[str] = set()
    for start in range(0, len(ids), 400):  # SQLite caps bound parameters
        chunk = ids[start : start + 400]
        conditions = [f"c.id IN ({', '.join('?' for _ in chunk)})", "c.tenant_id = ?"]
        params: list[Any] = [*chunk, tenant_id]
        if book is not None:
            condition, book_params = book_condition(book, store.dialect == "postgres")
            conditions.append(condition)
            params += book_params
        rows = store.query(f"SELECT c.id AS id FROM {CUSTOMERS.name} c "
                           f"WHERE {' AND '.join(conditions)}", params)
        found.update(str(row["id"]) for row in rows)
    return found
