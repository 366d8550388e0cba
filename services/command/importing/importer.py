"""`crm import`: history from another system, loaded with its original business times.

Rows are read in file order and decided in batches by the domain aggregates (the rules of the
API). Every record gets an id derived from its reference in the source system, so the store
itself says what an earlier run already imported: those rows are skipped, which makes a re-run
of the same file — complete or interrupted — write only what is missing. Each batch is saved
in one `store.save(...)` (one transaction). Rows that cannot be imported go to a rejects file
with their line number and the reason; the others still load.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError
from pydantic import ValidationError

from services.command.domain.aggregate import (
    AggregateRoot,
    CommandContext,
    events_in_decision_order,
)
from services.command.domain.customer import Customer
from services.command.domain.errors import RuleViolation
from services.command.domain.pipeline import DEFAULT_RULES, TenantRules
from services.command.importing.records import (
    KINDS,
    RecordKind,
    customer_id_for,
    register_bare,
)
from services.command.importing.rows import ImportRow, describe_errors
from services.command.importing.sources import (
    FileFormat,
    ImportFormatError,
    SourceRow,
    detect_format,
    read_rows,
)
from services.common.auth.principal import cli_actor
from services.common.event_store import ChronicleStore, EventBatch, EventLog
from services.common.private_files import private_file
from services.common.times import parse_moment

ProgressCallback = Callable[[int, int, int], None]
"""Called after every batch with (rows done, rows in the file, events written)."""

SAVE_ATTEMPTS = 3


@dataclass
class ImportSummary:
    kind: str
    run_id: str
    correlation_id: UUID
    rejects_path: Path
    rows: int = 0
    imported: int = 0
    already_imported: int = 0
    rejected: int = 0
    customers_registered: int = 0
    """Customers registered because a row of another kind named them first."""
    events: int = 0
    batches: int = 0
    seconds: float = 0.0
    last_position: int = 0
    """The store's last position after the run: that of the last event this run wrote or,
    when it wrote none (a re-run), the store's head — what a reader waits for either way."""
    completed: bool = True
    """False when the run stopped early (`max_batches`); a re-run finishes it."""
    reject_reasons: Counter[str] = field(default_factory=Counter)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Reject:
    line: int
    reason: str
    row: str


@dataclass(frozen=True)
class _Valid:
    source: SourceRow
    row: ImportRow
    customer_id: UUID
    record_id: UUID
    reference: str | None


@dataclass
class _Outcome:
    imported: int = 0
    already_imported: int = 0
    registered: int = 0
    events: int = 0
    position: int = 0
    rejects: list[Reject] = field(default_factory=list)
    created: dict[UUID, int] = field(default_factory=dict)


def import_file(
    store: ChronicleStore, kind: str, path: Path, *, fmt: str | None = None,
    rejects_path: Path | None = None, tenant_id: str = "default",
    rules: TenantRules = DEFAULT_RULES, batch_rows: int = 500, run_id: str | None = None,
    on_progress: ProgressCallback | None = None, max_batches: int | None = None,
) -> ImportSummary:
    """Import one file of `kind` (customers, leads, interactions, tickets, purchases).

    Raises ImportFormatError when the file as a whole cannot be read (before writing anything).
    `max_batches` stops after that many batches, as an interrupted run would.
    """
    if kind not in KINDS:
        raise ImportFormatError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    run = _ImportRun(store, KINDS[kind], path, detect_format(path, fmt),
                     rejects_path or path.with_name(path.name + ".rejects.csv"), tenant_id,
                     rules, run_id)
    return run.execute(batch_rows, on_progress, max_batches)


class _ImportRun:
    def __init__(self, store: ChronicleStore, kind: RecordKind, path: Path, fmt: FileFormat,
                 rejects_path: Path, tenant_id: str, rules: TenantRules,
                 run_id: str | None) -> None:
        self.store = store
        self.log = EventLog(store)
        self.kind = kind
        self.path = path
        self.fmt = fmt
        self.tenant_id = tenant_id
        self.rules = rules
        correlation_id = uuid4()
        self.run_id = run_id or correlation_id.hex[:12]
        self.actor = cli_actor()  # the run is told apart by its correlation id
        self.summary = ImportSummary(kind.name, self.run_id, correlation_id, rejects_path)
        self._customers: dict[UUID, Customer] = {}
        """Customers known to be stored (or saved by this run), at their current version."""
        self._created: dict[UUID, int] = {}
        """Records this run created: id -> line, to refuse a reference used twice in a file."""
        self._occurrences: Counter[str] = Counter()
        self._first_fact: dict[str, datetime] = {}

    def at(self, occurred_at: datetime) -> CommandContext:
        return CommandContext(self.actor, self.tenant_id, self.summary.correlation_id, None,
                              occurred_at)

    def _rows(self) -> Iterator[SourceRow]:
        return read_rows(self.path, self.fmt, self.kind.columns, self.kind.required_columns)

    def execute(self, batch_rows: int, on_progress: ProgressCallback | None,
                max_batches: int | None) -> ImportSummary:
        started = time.perf_counter()
        total = self._survey()
        summary = self.summary
        # Rejected rows are the source's rows, personal data included: 0600 like the store.
        with private_file(summary.rejects_path).open("w", newline="", encoding="utf-8") \
                as rejects_file:
            rejects = csv.writer(rejects_file)
            rejects.writerow(["line", "reason", "row"])
            batch: list[SourceRow] = []
            for source in self._rows():
                batch.append(source)
                if len(batch) < batch_rows:
                    continue
                self._import_batch(batch, rejects, rejects_file)
                batch = []
                if on_progress is not None:
                    on_progress(summary.rows, total, summary.events)
                if max_batches is not None and summary.batches >= max_batches:
                    summary.completed = False
                    break
            else:
                if batch:
                    self._import_batch(batch, rejects, rejects_file)
                if on_progress is not None:
                    on_progress(summary.rows, total, summary.events)
        if not summary.events:
            summary.last_position = self.log.max_position()
        summary.seconds = time.perf_counter() - started
        return summary

    def _survey(self) -> int:
        """Count the rows (for the progress bar) and find each customer's first fact in the
        file: a customer registered by this run is registered then. Refuses a bad header."""
        rows = 0
        first = self._first_fact
        for source in self._rows():
            rows += 1
            ref = source.fields.get("customer_ref")
            moment = source.fields.get(self.kind.time_column)
            if not isinstance(ref, str) or not isinstance(moment, str):
                continue
            try:
                parsed = parse_moment(moment)
            except ValueError:
                continue
            ref = ref.strip()
            if ref not in first or parsed < first[ref]:
                first[ref] = parsed
        return rows

    # -- one batch ----------------------------------------------------------------------------

    def _import_batch(self, batch: list[SourceRow], rejects: Any, rejects_file: IO[str]) -> None:
        valid, unreadable = self._validate(batch)
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                outcome = self._decide_and_save(valid)
                break
            except IntegrityError:
                # Another writer added to one of these customers meanwhile: nothing of this
                # batch was saved. Learn the stored state again and decide again.
                self._customers.clear()
                if attempt == SAVE_ATTEMPTS:
                    raise
        summary = self.summary
        summary.rows += len(batch)
        summary.batches += 1
        summary.imported += outcome.imported
        summary.already_imported += outcome.already_imported
        summary.customers_registered += outcome.registered
        summary.events += outcome.events
        summary.last_position = outcome.position or summary.last_position
        self._created.update(outcome.created)
        for reject in sorted(unreadable + outcome.rejects, key=lambda r: r.line):
            summary.rejected += 1
            summary.reject_reasons[reject.reason.split(":", 1)[0]] += 1
            rejects.writerow([reject.line, reject.reason, reject.row])
        rejects_file.flush()

    def _validate(self, batch: list[SourceRow]) -> tuple[list[_Valid], list[Reject]]:
        valid: list[_Valid] = []
        rejects: list[Reject] = []
        for source in batch:
            if source.error is not None:
                rejects.append(Reject(source.line, source.error, source.text))
                continue
            try:
                row = self.kind.row.model_validate(source.fields)
            except ValidationError as error:
                rejects.append(Reject(source.line, describe_errors(error), source.text))
                continue
            customer_id = customer_id_for(self.tenant_id, row.customer_ref)
            reference = self.kind.reference(row)
            if reference is None:
                # No reference in the source: the row's content, and which occurrence of it
                # in the file this is, name the record — the same on every run of the file.
                content = row.model_dump_json()
                self._occurrences[content] += 1
                key = f"#{content}#{self._occurrences[content]}"
            else:
                key = reference
            record_id = self.kind.record_id(self.tenant_id, customer_id, key)
            valid.append(_Valid(source, row, customer_id, record_id, reference))
        return valid, rejects

    def _decide_and_save(self, valid: list[_Valid]) -> _Outcome:
        outcome = _Outcome()
        stored = self.log.stream_versions(self._ids_to_look_up(valid))
        touched: dict[UUID, AggregateRoot] = {}
        for item in valid:
            line = item.source.line
            first_line = self._created.get(item.record_id) or outcome.created.get(item.record_id)
            if first_line is not None:  # before the store check: this run stored it
                outcome.rejects.append(Reject(
                    line, f"duplicate: reference {item.reference!r} is already on line "
                    f"{first_line} of this file", item.source.text))
                continue
            if item.record_id in stored:
                outcome.already_imported += 1
                continue
            try:
                made = self._decide(item, stored, outcome)
            except RuleViolation as violation:
                outcome.rejects.append(Reject(line, f"{violation.rule}: {violation.message}",
                                              item.source.text))
                continue
            for aggregate in made:
                touched[aggregate.id] = aggregate
            outcome.created[item.record_id] = line
            outcome.imported += 1
        events = events_in_decision_order(*touched.values())
        if events:
            recordings = self.store.save(EventBatch(events))
            outcome.position = recordings[-1].notification.id
        outcome.events = len(events)
        return outcome

    def _ids_to_look_up(self, valid: Iterable[_Valid]) -> list[UUID]:
        ids: list[UUID] = []
        for item in valid:
            ids.append(item.record_id)
            if item.customer_id not in self._customers:
                ids.append(item.customer_id)
        return ids

    def _decide(self, item: _Valid, stored: dict[UUID, int],
                outcome: _Outcome) -> list[AggregateRoot]:
        """The aggregates the row changes; RuleViolation if a domain rule refuses it."""
        kind, row = self.kind, item.row
        if kind.linked_as is None:  # the row registers the customer itself
            registered = kind.decide(row, item.customer_id, item.customer_id, self.at, self.rules)
            assert isinstance(registered, Customer)
            self._customers[item.customer_id] = registered
            return [registered]
        known = self._customers.get(item.customer_id)
        if known is None and item.customer_id in stored:
            known = _stored_customer(item.customer_id, self.tenant_id, stored[item.customer_id])
            self._customers[item.customer_id] = known
        customer: Customer
        if known is not None:
            customer = known
        else:
            first = min(self._first_fact.get(row.customer_ref, row.business_time()),
                        row.business_time())
            customer = register_bare(item.customer_id, row.customer_ref, self.at(first))
        # Decided after the registration (so stored after it); a refused row drops both.
        record = kind.decide(row, item.record_id, item.customer_id, self.at, self.rules)
        customer.link(self.at(row.business_time()), kind.linked_as, record.id)
        if known is None:
            self._customers[item.customer_id] = customer
            outcome.registered += 1
        return [customer, record]


def _stored_customer(customer_id: UUID, tenant_id: str, version: int) -> Customer:
    """A stored customer at its current version, without replaying it: enough to link a new
    record to it (no rule needs more of its state)."""
    customer = Customer(customer_id)
    customer.customer_id, customer.tenant_id, customer.version = customer_id, tenant_id, version
    return customer
