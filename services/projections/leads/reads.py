"""Every query of the leads model, in either SQL dialect: the lead list with its filters and
keyset pages, one lead's page, and the leads behind a funnel figure (for other lists).

A tenant has one pipeline (its rules file's `[pipeline]`), named `default` here.

The next follow-up deadline is the follow-up policy's (services/command/policies/follow_up.py)
worked out from this model's anchors and the tenant's window for the lead's stage: the latest
of the lead's last touch, its customer's last contact and its latest overdue flag, plus the
window. Closed leads, and leads in a stage the pipeline no longer has, have none. A lead is
`stale` when its last contact (not an overdue flag) is older than that window. Both are worked
out at read time from the rules in force, so neither needs a column or a rebuild.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, get_args

from services.common.auth.book import UNASSIGNED
from services.common.privacy.vault import PersonalDataVault
from services.common.times import as_utc, iso
from services.projections.leads.projection import (
    CUSTOMERS,
    LEADS,
    PERSONAL_CONTEXT,
    LeadsProjection,
    micros,
)
from services.projections.personal import ERASED, open_values, query_tokens
from services.projections.stores.sql import SqlReadStore

NAME = LeadsProjection.name
PIPELINE = "default"
"""The name of a tenant's one pipeline."""

SortKey = Literal["created_at", "amount", "stage_entered_at", "last_contact_at"]
SORT_KEYS: tuple[SortKey, ...] = get_args(SortKey)

FollowUpWindow = Callable[[str], timedelta | None]
"""The follow-up window of a stage in the tenant's rules; None: no follow-up there."""

DEFAULT_OPEN_STAGES = ("new", "contacted", "qualified", "proposal", "negotiation")
CLOSED_STAGES = ("won", "lost")


@dataclass(frozen=True)
class PipelineTerms:
    """What the lead reads take from a tenant's rules: its pipeline's open stages and the
    follow-up window of each (none while follow-ups are off). The default: the built-in
    rules."""

    open_stages: tuple[str, ...] = DEFAULT_OPEN_STAGES
    follow_up: Mapping[str, timedelta] = field(
        default_factory=lambda: dict.fromkeys(DEFAULT_OPEN_STAGES, timedelta(days=7)))

    @property
    def stages(self) -> tuple[str, ...]:
        return (*self.open_stages, *CLOSED_STAGES)

    def window(self, stage: str) -> timedelta | None:
        return self.follow_up.get(stage)

_SUMMARY_COLUMNS = ("id", "customer_id", "title", "external_ref", "owner", "created_by",
                    "stage", "status", "source", "channel", "region", "industry", "amount",
                    "currency", "created_at", "stage_entered_at", "closed_at", "touched_at",
                    "overdue_at", "version")


def _last_contact_us(postgres: bool) -> str:
    """The lead's last contact in epoch microseconds: its last touch or its customer's."""
    return (f"{'GREATEST' if postgres else 'MAX'}"
            "(l.touched_us, COALESCE(c.contacted_us, l.touched_us))")


def _sort_key(sort: SortKey, postgres: bool) -> str:
    """An integer expression per sort (no amount sorts below zero)."""
    return {"created_at": "l.created_us", "amount": "COALESCE(l.amount_e4, -1)",
            "stage_entered_at": "l.stage_entered_us",
            "last_contact_at": _last_contact_us(postgres)}[sort]


def _like(text: str) -> str:
    """`text` as a LIKE pattern's literal part (with ESCAPE '\\')."""
    return text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class FunnelSlice:
    """The leads behind a funnel figure (GET /v1/analytics/funnel selects them the same
    way): those that ever reached `reached`, created in [`created_from`, `created_to`) by
    business time, with this source, current owner and region. None: any."""

    reached: str | None = None
    source: str | None = None
    owner: str | None = None
    region: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    @property
    def empty(self) -> bool:
        return all(value is None for value in (self.reached, self.source, self.owner,
                                               self.region, self.created_from, self.created_to))

    def conditions(self) -> tuple[list[str], list[Any]]:
        """SQL conditions on the leads (`l`), with their parameters."""
        conditions: list[str] = []
        params: list[Any] = []
        for column, value in (("source", self.source), ("owner", self.owner),
                              ("region", self.region)):
            if value is not None:
                conditions.append(f"l.{column} = ?")
                params.append(value)
        if self.reached is not None:
            conditions.append("l.reached LIKE ? ESCAPE '\\'")
            params.append(f"% {_like(self.reached)} %")
        if self.created_from is not None:
            conditions.append("l.created_us >= ?")
            params.append(micros(self.created_from))
        if self.created_to is not None:
            conditions.append("l.created_us < ?")
            params.append(micros(self.created_to))
        return conditions, params


def leads_exist(customer_column: str, tenant_id: str, matching: FunnelSlice
                ) -> tuple[str, list[Any]]:
    """SQL true for a customer (its id in `customer_column`) with a lead in the slice."""
    conditions, params = matching.conditions()
    more = "".join(f" AND {condition}" for condition in conditions)
    return (f"EXISTS (SELECT 1 FROM {LEADS.name} l WHERE l.customer_id = {customer_column} "
            f"AND l.tenant_id = ?{more})", [tenant_id, *params])


@dataclass(frozen=True)
class LeadFilter:
    """What a lead list is narrowed to; None: any."""

    tenant_id: str
    funnel: FunnelSlice = field(default_factory=FunnelSlice)
    stages: Sequence[str] | None = None
    open: bool | None = None
    customer_id: str | None = None
    currency: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    last_contact_before: datetime | None = None
    """Only leads whose last contact is at or before this moment (`stale_for`)."""
    q: str | None = None
    """Text in the title, the company or an external reference (the lead's or its
    customer's); the customer's name, e-mail or phone by their blind tokens."""
    book: Sequence[str] | None = None
    """Only leads in the book of these people (services/common/auth/book.py)."""


def book_condition(book: Sequence[str]) -> tuple[str, list[Any]]:
    """SQL keeping the leads (`l`) in a book: owned or created by one of its people, or (when
    the book holds unassigned records) open and owned by nobody."""
    people = [person for person in book if person != UNASSIGNED]
    marks = ", ".join("?" for _ in people)
    parts = [f"l.owner IN ({marks})", f"l.created_by IN ({marks})"] if people else []
    if UNASSIGNED in book:
        parts.append("(l.owner IS NULL AND l.status = 'open')")
    if not parts:
        return "1 = 0", []
    return "(" + " OR ".join(parts) + ")", [*people, *people]


def _conditions(where: LeadFilter, postgres: bool, vault: PersonalDataVault | None
                ) -> tuple[list[str], list[Any]]:
    conditions: list[str] = ["l.tenant_id = ?"]
    params: list[Any] = [where.tenant_id]
    sliced, slice_params = where.funnel.conditions()
    conditions += sliced
    params += slice_params
    for column, value in (("customer_id", where.customer_id), ("currency", where.currency)):
        if value is not None:
            conditions.append(f"l.{column} = ?")
            params.append(value)
    if where.stages is not None:
        conditions.append(f"l.stage IN ({', '.join('?' for _ in where.stages)})"
                          if where.stages else "1 = 0")
        params += list(where.stages)
    if where.open is not None:
        conditions.append("l.status = 'open'" if where.open else "l.status <> 'open'")
    if where.min_amount is not None:
        conditions.append("l.amount_e4 >= ?")
        params.append(int(where.min_amount.scaleb(4)))
    if where.max_amount is not None:
        conditions.append("l.amount_e4 <= ?")
        params.append(int(where.max_amount.scaleb(4)))
    if where.last_contact_before is not None:
        conditions.append(f"{_last_contact_us(postgres)} <= ?")
        params.append(micros(where.last_contact_before))
    if where.book is not None:
        condition, book_params = book_condition(where.book)
        conditions.append(condition)
        params += book_params
    if where.q is not None:
        # Title, company and references are not personal: matched anywhere in them. Names,
        # e-mail addresses and phones only by their blind tokens (services/projections/
        # personal.py), as customer search matches them.
        pattern = f"%{_like(where.q)}%"
        matches = [f"lower(COALESCE({column}, '')) LIKE ? ESCAPE '\\'"
                   for column in ("l.title", "c.company", "l.external_ref", "c.external_ref")]
        match_params: list[Any] = [pattern] * len(matches)
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


@dataclass(frozen=True)
class LeadPage:
    items: list[dict[str, Any]]
    next_after: tuple[int, str] | None
    """(sort value, lead id) of the page's last item, when more follow."""
    total: int | None


_FROM = f"{LEADS.name} l LEFT JOIN {CUSTOMERS.name} c ON c.id = l.customer_id"
_CUSTOMER_COLUMNS = ("c.personal AS customer_personal, c.company AS customer_company, "
                     "c.external_ref AS customer_external_ref, c.erased AS customer_erased, "
                     "c.contacted_at AS customer_contacted_at")


def list_leads(store: SqlReadStore, where: LeadFilter, *, sort: SortKey = "created_at",
               descending: bool = True, limit: int = 50, after: tuple[int, str] | None = None,
               include_total: bool = False, vault: PersonalDataVault | None = None,
               personal: bool = True, follow_up: FollowUpWindow | None = None,
               now: datetime | None = None) -> LeadPage:
    """One page of leads, keyset-paginated on (sort value, id) after `after`.

    `personal` False leaves the customer's name out (its reference stands in)."""
    postgres = store.dialect == "postgres"
    conditions, params = _conditions(where, postgres, vault)
    filters, filter_params = list(conditions), list(params)
    key = _sort_key(sort, postgres)
    comparison = "<" if descending else ">"
    if after is not None:
        value, last_id = after
        conditions.append(f"({key} {comparison} ? OR ({key} = ? AND l.id {comparison} ?))")
        params += [value, value, last_id]
    direction = "DESC" if descending else "ASC"
    columns = ", ".join(f"l.{name}" for name in _SUMMARY_COLUMNS)
    rows = store.query(
        f"SELECT {columns}, {_CUSTOMER_COLUMNS}, {key} AS sort_key FROM {_FROM} "
        f"WHERE {' AND '.join(conditions)} ORDER BY {key} {direction}, l.id {direction} "
        "LIMIT ?", [*params, limit + 1])
    moment = now or datetime.now(UTC)
    items = [_summary(store, row, vault, personal, follow_up, moment) for row in rows[:limit]]
    next_after = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_after = (int(last["sort_key"]), str(last["id"]))
    total = None
    if include_total:
        counted = store.query(f"SELECT COUNT(*) AS n FROM {_FROM} WHERE "
                              f"{' AND '.join(filters)}", filter_params)
        total = int(counted[0]["n"])
    return LeadPage(items, next_after, total)


def stage_in_use(store: SqlReadStore, tenant_id: str, stage: str) -> bool:
    """Whether a lead of the tenant is in `stage` now (a stage the rules have dropped)."""
    return bool(store.query(f"SELECT 1 AS found FROM {LEADS.name} WHERE tenant_id = ? "
                            "AND stage = ? LIMIT 1", [tenant_id, stage]))


def read_lead(store: SqlReadStore, lead_id: str, tenant_id: str, *,
              book: Sequence[str] | None = None, vault: PersonalDataVault | None = None,
              personal: bool = True, follow_up: FollowUpWindow | None = None,
              now: datetime | None = None) -> dict[str, Any] | None:
    """The lead's page, or None when the tenant has no such lead in this book (None: any).

    `personal` False leaves out the customer's name and every free text of the lead."""
    conditions, params = ["l.id = ?", "l.tenant_id = ?"], [lead_id, tenant_id]
    if book is not None:
        condition, book_params = book_condition(book)
        conditions.append(condition)
        params += book_params
    columns = ", ".join(f"l.{name}" for name in _SUMMARY_COLUMNS)
    found = store.query(f"SELECT {columns}, l.doc, l.last_position, l.updated_at, "
                        f"{_CUSTOMER_COLUMNS} FROM {_FROM} WHERE {' AND '.join(conditions)}",
                        params)
    if not found:
        return None
    row = found[0]
    moment = now or datetime.now(UTC)
    lead = _summary(store, row, vault, personal, follow_up, moment)
    doc = store.from_db("json", row["doc"])
    erased = bool(store.from_db("bool", row["customer_erased"]))

    def text(stored: Any) -> str | None:
        if not personal:
            return None
        values = open_values(vault, lead["customer_id"], lead_id, stored)
        return ERASED if values is None else values.get("text")

    history = []
    time_in_stage = {stage: float(seconds) for stage, seconds in doc["time_in_stage"].items()}
    for entry in doc["history"]:
        stay = {**entry, "reason": text(entry["reason"]), "current": False}
        history.append(stay)
    if history and lead["status"] == "open":
        current = history[-1]
        seconds = max(0.0, (moment - datetime.fromisoformat(current["entered_at"]))
                      .total_seconds())
        history[-1] = {**current, "seconds": seconds, "current": True}
        time_in_stage[current["stage"]] = time_in_stage.get(current["stage"], 0.0) + seconds
    lost_reason = text(doc["lost_reason"])
    if lost_reason is None and personal and erased and lead["status"] == "lost":
        lost_reason = ERASED  # a lost lead always had one; a rebuild cannot open it either
    discounts = [{**item, "reason": text(item["reason"]), "note": text(item["note"]),
                  "rejection_reason": text(item["rejection_reason"])}
                 for item in doc["discounts"]]
    return {
        **lead, "stage_history": history, "stays": doc["stays"],
        "time_in_stage": time_in_stage, "lost_reason": lost_reason, "won": doc["won"],
        "discounts": discounts, "payments": doc["payments"],
        "follow_ups_overdue": doc["follow_ups_overdue"],
        "last_position": int(row["last_position"]),
        "updated_at": _moment(store, row["updated_at"]),
    }


def follow_up_due(status: str, stage: str, anchors: Sequence[str | None],
                  window: FollowUpWindow | None) -> datetime | None:
    """When an open lead is next due for follow-up: the latest anchor plus its stage's window
    (services/command/policies/follow_up.py decides by the same)."""
    span = window(stage) if window is not None and status == "open" else None
    moments = [as_utc(anchor) for anchor in anchors if anchor is not None]
    if span is None or not moments:
        return None
    return max(m for m in moments if m is not None) + span


def is_stale(status: str, stage: str, last_contact: str, window: FollowUpWindow | None,
             now: datetime) -> bool:
    """Whether an open lead has had no contact for longer than its stage's follow-up window
    (unlike `follow_up_overdue`, an overdue flag does not restart this clock: only a contact
    does)."""
    span = window(stage) if window is not None and status == "open" else None
    last = as_utc(last_contact)
    return span is not None and last is not None and last + span < now


def _moment(store: SqlReadStore, value: Any) -> str | None:
    moment = store.from_db("ts", value)
    return None if moment is None else str(moment)


def _summary(store: SqlReadStore, row: dict[str, Any], vault: PersonalDataVault | None,
             personal: bool, follow_up: FollowUpWindow | None, now: datetime
             ) -> dict[str, Any]:
    customer_id = str(row["customer_id"])
    erased = bool(store.from_db("bool", row["customer_erased"]))
    reference = row["customer_external_ref"]
    name = None
    if personal and not erased:
        opened = open_values(vault, customer_id, PERSONAL_CONTEXT,
                             store.from_db("json", row["customer_personal"]))
        name = opened.get("name") if opened else None
    touched, contacted = (_moment(store, row["touched_at"]),
                          _moment(store, row["customer_contacted_at"]))
    overdue = _moment(store, row["overdue_at"])
    last_contact = max(moment for moment in (touched, contacted) if moment is not None)
    due = follow_up_due(row["status"], row["stage"], (touched, contacted, overdue), follow_up)
    return {
        "lead_id": str(row["id"]), "title": row["title"], "pipeline": PIPELINE,
        "stage": row["stage"], "status": row["status"], "open": row["status"] == "open",
        "owner": row["owner"], "created_by": row["created_by"], "source": row["source"],
        "channel": row["channel"], "region": row["region"], "industry": row["industry"],
        "amount": row["amount"], "currency": row["currency"],
        "external_ref": row["external_ref"], "created_at": _moment(store, row["created_at"]),
        "stage_entered_at": _moment(store, row["stage_entered_at"]),
        "closed_at": _moment(store, row["closed_at"]), "last_contact_at": last_contact,
        "next_follow_up_at": iso(due) if due is not None else None,
        "follow_up_overdue": due is not None and due <= now,
        "stale": is_stale(row["status"], row["stage"], last_contact, follow_up, now),
        "version": int(row["version"]),
        "customer_id": customer_id,
        # An import names a customer it first meets by its reference, until a profile does.
        "customer_name": None if erased else (name or reference),
        "customer_company": row["customer_company"], "customer_external_ref": reference,
        "customer_erased": erased,
    }
