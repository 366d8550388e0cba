"""`crm import`: history from another system, with its original dates, idempotent, rejects
reported by line — through the domain rules."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.command.importing import ImportFormatError, customer_id_for, import_file
from services.common.auth.principal import cli_actor
from services.common.event_store import ChronicleStore
from services.common.events.envelope import CrmEvent

START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 730  # two years of history
PURCHASE_COLUMNS = ["customer_ref", "occurred_at", "amount", "currency", "reference"]


@pytest.fixture(autouse=True)
def _embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRM_POSTGRES_URL", "CRM_MEMORY_STORE", "CRM_DATA_DIR", "CRM_KAFKA_BOOTSTRAP"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChronicleStore]:
    opened = _open(tmp_path / "events.sqlite")
    yield opened
    opened.close()


def _open(path: Path) -> ChronicleStore:
    return ChronicleStore(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                               "SQLITE_DBNAME": str(path)})


def _events(store: ChronicleStore) -> list[CrmEvent]:
    notifications = store.recorder.select_notifications(start=1, limit=1_000_000)
    return [cast(CrmEvent, store.mapper.to_domain_event(n)) for n in notifications]


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _purchase_rows(count: int, customers: int, seed: int = 3) -> list[dict[str, Any]]:
    """Orders of `customers` customers spread over two years, in no particular order, some
    with a timestamp and offset, most with a date, a few without a reference."""
    rng = random.Random(seed)
    rows = []
    for number in range(count):
        moment = START + timedelta(days=rng.uniform(0, DAYS))
        when = moment.date().isoformat() if number % 3 else \
            moment.astimezone().replace(microsecond=0).isoformat()
        rows.append({
            "customer_ref": f"ERP-{rng.randrange(customers):04d}", "occurred_at": when,
            "amount": f"{rng.randint(1, 5000)}.{rng.randint(0, 99):02d}",
            "currency": rng.choice(["EUR", "EUR", "USD"]),
            "reference": f"INV-{number:05d}" if number % 10 else "",
        })
    return rows


def _moment(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def test_purchases_carry_their_original_dates_and_register_customers_at_their_first_fact(
        store: ChronicleStore, tmp_path: Path) -> None:
    rows = _purchase_rows(300, customers=40)
    path = _write_csv(tmp_path / "orders.csv", PURCHASE_COLUMNS, rows)

    summary = import_file(store, "purchases", path, batch_rows=64)

    assert (summary.rows, summary.imported, summary.rejected) == (300, 300, 0)
    customers = {row["customer_ref"] for row in rows}
    assert summary.customers_registered == len(customers)
    events = _events(store)
    assert summary.events == len(events) == 300 * 2 + len(customers)
    assert {e.actor for e in events} == {cli_actor()}  # who ran it, from the command line
    assert {e.correlation_id for e in events} == {summary.correlation_id}

    purchases = [e for e in events if e.event_type == "crm.purchase.recorded"]
    expected = Counter((customer_id_for("default", row["customer_ref"]),
                        _moment(row["occurred_at"]), row["amount"], row["reference"] or None)
                       for row in rows)
    assert Counter((e.customer_id, e.occurred_at, e.amount, e.reference)  # type: ignore[attr-defined]
                   for e in purchases) == expected
    assert min(e.occurred_at for e in events) >= START
    assert max(e.occurred_at for e in events) <= START + timedelta(days=DAYS + 1)

    registered = {e.customer_id: e for e in events if e.event_type == "crm.customer.registered"}
    for ref in customers:
        first_fact = min(_moment(row["occurred_at"]) for row in rows if row["customer_ref"] == ref)
        registration = registered[customer_id_for("default", ref)]
        assert registration.occurred_at == first_fact
        assert registration.external_ref == ref  # type: ignore[attr-defined]
    # Each customer's registration is stored before anything linked to it.
    seen: set[Any] = set()
    for event in events:
        if event.event_type == "crm.customer.registered":
            seen.add(event.customer_id)
        assert event.customer_id in seen


def test_rerunning_the_same_file_writes_nothing_new(store: ChronicleStore,
                                                    tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "orders.csv", PURCHASE_COLUMNS, _purchase_rows(250, 30))
    first = import_file(store, "purchases", path, batch_rows=100)
    stored = len(_events(store))

    again = import_file(store, "purchases", path, batch_rows=37)

    assert (again.imported, again.already_imported, again.events) == (0, 250, 0)
    assert len(_events(store)) == stored == first.events
    assert again.run_id != first.run_id
    # Nothing written, yet the summary names the store's real last position, not 0.
    assert again.last_position == first.last_position == store.recorder.max_notification_id()


def test_an_interrupted_import_completes_on_rerun_without_duplicates(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "orders.csv", PURCHASE_COLUMNS, _purchase_rows(400, 50))
    interrupted = _open(tmp_path / "interrupted.sqlite")
    clean = _open(tmp_path / "clean.sqlite")
    try:
        partial = import_file(interrupted, "purchases", path, batch_rows=50, max_batches=3)
        assert not partial.completed and partial.imported == 150

        rerun = import_file(interrupted, "purchases", path, batch_rows=50)
        assert (rerun.already_imported, rerun.imported) == (150, 250)
        import_file(clean, "purchases", path, batch_rows=50)

        def facts(store: ChronicleStore) -> Counter[tuple[Any, ...]]:
            return Counter((e.event_type, e.aggregate_id, e.aggregate_version, e.occurred_at)
                           for e in _events(store))

        assert facts(interrupted) == facts(clean)
        assert max(facts(interrupted).values()) == 1
    finally:
        interrupted.close()
        clean.close()


def test_bad_rows_are_rejected_with_line_numbers_and_reasons_while_good_rows_load(
        store: ChronicleStore, tmp_path: Path) -> None:
    good = _purchase_rows(200, 20)
    bad = {
        5: {"occurred_at": "31/12/2024"},
        50: {"currency": "EURO"},
        120: {"amount": "12,50"},
        150: {"occurred_at": "2099-01-01"},
        # The same order of the same customer twice in the file.
        170: {"reference": good[3]["reference"], "customer_ref": good[3]["customer_ref"]},
    }
    rows = [dict(row, **bad.get(index, {})) for index, row in enumerate(good)]
    path = _write_csv(tmp_path / "orders.csv", PURCHASE_COLUMNS, rows)
    with path.open("a") as handle:
        handle.write("ERP-0001,2024-05-01,10.00\n")  # a field short

    summary = import_file(store, "purchases", path, batch_rows=64)

    assert summary.rejected == len(bad) + 1
    assert summary.imported == 200 - len(bad)
    with summary.rejects_path.open() as handle:
        rejected = {int(r["line"]): r for r in csv.DictReader(handle)}
    # Line 1 is the header: row index i is on line i + 2.
    assert sorted(rejected) == sorted([i + 2 for i in bad] + [202])
    assert "occurred_at" in rejected[7]["reason"] and "ISO 8601" in rejected[7]["reason"]
    assert "currency" in rejected[52]["reason"]
    assert "amount" in rejected[122]["reason"]
    assert "future" in rejected[152]["reason"]
    assert "duplicate" in rejected[172]["reason"] and "line 5" in rejected[172]["reason"]
    assert "expected 5 fields" in rejected[202]["reason"]
    assert json.loads(rejected[52]["row"])["currency"] == "EURO"
    assert summary.rejects_path == tmp_path / "orders.csv.rejects.csv"


def test_a_header_with_unknown_or_missing_columns_refuses_the_file(
        store: ChronicleStore, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("customer_ref,when,amount,currency\nC1,2024-01-01,1.00,EUR\n")
    with pytest.raises(ImportFormatError, match="unknown column.*when.*missing column.*occurred_at"):
        import_file(store, "purchases", path)
    assert _events(store) == []


LEAD_COLUMNS = ["customer_ref", "lead_ref", "title", "source", "region", "amount", "currency",
                "owner", "occurred_at", "stage_history", "lost_reason"]


def test_lead_stage_histories_replay_as_stage_changes_through_the_pipeline_rules(
        store: ChronicleStore, tmp_path: Path) -> None:
    base = {"title": "Annual licence", "source": "web", "region": "emea", "owner": "rep-1",
            "amount": "12000", "currency": "EUR", "lost_reason": ""}
    won = "contacted@2024-01-05;qualified@2024-01-20;proposal@2024-02-01;" \
          "negotiation@2024-02-15;won@2024-03-01T10:30:00Z"
    rows = [
        dict(base, customer_ref="C1", lead_ref="L-won", occurred_at="2024-01-02",
             stage_history=won),
        dict(base, customer_ref="C1", lead_ref="L-back", occurred_at="2024-04-01",
             stage_history="contacted@2024-04-02;qualified@2024-04-10;contacted@2024-04-20"),
        dict(base, customer_ref="C2", lead_ref="L-lost", occurred_at="2025-06-01",
             stage_history="contacted@2025-06-03;lost@2025-07-01", lost_reason="Went quiet"),
        dict(base, customer_ref="C3", lead_ref="L-open", occurred_at="2025-09-01",
             stage_history=""),
        # Refused by the rules: a forward skip, a proposal without amount, lost without a
        # reason, and a history out of time order.
        dict(base, customer_ref="C4", lead_ref="L-skip", occurred_at="2024-01-01",
             stage_history="qualified@2024-01-02"),
        dict(base, customer_ref="C4", lead_ref="L-noamount", occurred_at="2024-01-01",
             amount="", currency="",
             stage_history="contacted@2024-01-02;qualified@2024-01-03;proposal@2024-01-04"),
        dict(base, customer_ref="C4", lead_ref="L-noreason", occurred_at="2024-01-01",
             stage_history="lost@2024-01-02"),
        dict(base, customer_ref="C5", lead_ref="L-late", occurred_at="2024-03-01",
             stage_history="contacted@2024-02-01"),
    ]
    path = _write_csv(tmp_path / "leads.csv", LEAD_COLUMNS, rows)

    summary = import_file(store, "leads", path)

    assert summary.imported == 4
    with summary.rejects_path.open() as handle:
        reasons = {int(r["line"]): r["reason"] for r in csv.DictReader(handle)}
    assert reasons[6].startswith("transition_not_allowed")
    assert reasons[7].startswith("proposal_requires_amount")
    assert reasons[8].startswith("lost_requires_reason")
    assert reasons[9].startswith("history_out_of_order")
    events = _events(store)
    # Customers C4 and C5 had only refused rows: not registered.
    registered = {e.external_ref for e in events  # type: ignore[attr-defined]
                  if e.event_type == "crm.customer.registered"}
    assert registered == {"C1", "C2", "C3"}

    def moves(lead_ref: str) -> list[tuple[str, str, datetime]]:
        created = next(e for e in events if e.event_type == "crm.lead.created"
                       and e.external_ref == lead_ref)  # type: ignore[attr-defined]
        return [(e.from_stage, e.to_stage, e.occurred_at)  # type: ignore[attr-defined]
                for e in events if e.event_type == "crm.lead.stage_changed"
                and e.aggregate_id == created.aggregate_id]

    day = lambda text: _moment(text)  # noqa: E731
    assert moves("L-won") == [
        ("new", "contacted", day("2024-01-05")), ("contacted", "qualified", day("2024-01-20")),
        ("qualified", "proposal", day("2024-02-01")),
        ("proposal", "negotiation", day("2024-02-15")),
        ("negotiation", "won", day("2024-03-01T10:30:00+00:00"))]
    assert [to for _, to, _ in moves("L-back")] == ["contacted", "qualified", "contacted"]
    assert [to for _, to, _ in moves("L-lost")] == ["contacted", "lost"]
    assert moves("L-open") == []
    qualified = [e for e in events if e.event_type == "crm.lead.stage_changed"
                 and e.to_stage == "qualified"]  # type: ignore[attr-defined]
    assert all(e.budget_confirmed for e in qualified)  # type: ignore[attr-defined]
    won_events = [e for e in events if e.event_type == "crm.lead.won"]
    assert len(won_events) == 1 and won_events[0].amount == "12000.00"  # type: ignore[attr-defined]
    lost = next(e for e in events if e.event_type == "crm.lead.lost")
    assert lost.reason == "Went quiet"  # type: ignore[attr-defined]

    assert import_file(store, "leads", path).events == 0


def test_ndjson_interactions_and_tickets_import_idempotently(store: ChronicleStore,
                                                            tmp_path: Path) -> None:
    rng = random.Random(5)
    interactions = []
    for number in range(200):
        at = START + timedelta(days=rng.uniform(0, DAYS), seconds=rng.randrange(86400))
        interactions.append({
            "customer_ref": f"C{rng.randrange(25)}", "channel": rng.choice(["call", "email"]),
            "direction": rng.choice(["inbound", "outbound"]), "subject": "Follow-up",
            "duration_s": rng.randint(60, 1800), "occurred_at": at.isoformat(),
            # Half come without a reference: then the row's content names it.
            "ref": f"ACT-{number}" if number % 2 else None,
        })
    interactions.append(dict(interactions[0]))  # the same call logged twice: two facts
    path = tmp_path / "activities.ndjson"
    path.write_text("\n".join(json.dumps(row) for row in interactions) + "\n{not json\n")

    summary = import_file(store, "interactions", path, batch_rows=40)
    assert (summary.imported, summary.rejected) == (201, 1)
    rerun = import_file(store, "interactions", path, batch_rows=40)
    assert (rerun.imported, rerun.already_imported, rerun.events) == (0, 201, 0)

    tickets = tmp_path / "tickets.jsonl"
    tickets.write_text("\n".join(json.dumps(row) for row in [
        {"customer_ref": "C1", "ticket_ref": "T-1", "subject": "Cannot log in",
         "priority": "high", "channel": "email", "assignee": "agent-1",
         "opened_at": "2024-03-01T09:00:00Z", "first_response_at": "2024-03-01T10:30:00Z",
         "resolved_at": "2024-03-02T09:00:00Z", "closed_at": "2024-03-05T09:00:00Z"},
        {"customer_ref": "C99", "ticket_ref": "T-2", "subject": "Invoice question",
         "priority": "low", "opened_at": "2025-01-10"},
        {"customer_ref": "C1", "ticket_ref": "T-3", "subject": "Closed unresolved",
         "priority": "normal", "opened_at": "2025-01-10", "closed_at": "2025-01-12"},
        {"customer_ref": "C1", "ticket_ref": "T-4", "subject": "x", "priority": "critical",
         "opened_at": "2025-01-10"},
    ]) + "\n")
    ticket_summary = import_file(store, "tickets", tickets)
    assert (ticket_summary.imported, ticket_summary.rejected) == (2, 2)
    assert ticket_summary.customers_registered == 1  # C99; C1 came with the interactions
    events = _events(store)
    first = [e for e in events if e.customer_id == customer_id_for("default", "C1")
             and e.event_type.startswith("crm.ticket.")]
    assert [(e.event_type, e.occurred_at) for e in first] == [
        ("crm.ticket.opened", _moment("2024-03-01T09:00:00+00:00")),
        ("crm.ticket.first_responded", _moment("2024-03-01T10:30:00+00:00")),
        ("crm.ticket.status_changed", _moment("2024-03-02T09:00:00+00:00")),
        ("crm.ticket.status_changed", _moment("2024-03-05T09:00:00+00:00"))]
    assert first[1].response_seconds == 5400  # type: ignore[attr-defined]
    assert first[1].responded_by == "agent-1"  # type: ignore[attr-defined]


CUSTOMER_COLUMNS = ["customer_ref", "name", "email", "phone", "company", "region", "industry",
                    "source", "owner", "tags", "occurred_at"]


def test_customers_file_registers_profiles_that_later_records_link_to(
        store: ChronicleStore, tmp_path: Path) -> None:
    rows = [{"customer_ref": f"ERP-{n:04d}", "name": f"Customer {n}",
             "email": f"c{n}@example.com", "phone": "+44 20 7946 0000", "company": "Acme Ltd",
             "region": "emea", "industry": "retail", "source": "web", "owner": "rep-2",
             "tags": "vip; newsletter" if n % 2 else "", "occurred_at": "2023-12-01"}
            for n in range(30)]
    rows[7]["email"] = "not-an-email"
    customers = _write_csv(tmp_path / "customers.csv", CUSTOMER_COLUMNS, rows)
    summary = import_file(store, "customers", customers)
    assert (summary.imported, summary.rejected) == (29, 1)

    orders = _write_csv(tmp_path / "orders.csv", PURCHASE_COLUMNS, _purchase_rows(100, 30))
    purchases = import_file(store, "purchases", orders)
    assert purchases.customers_registered == 1  # only ERP-0007, whose profile was rejected
    events = _events(store)
    registered = [e for e in events if e.event_type == "crm.customer.registered"]
    assert len(registered) == 30
    profile = next(e for e in registered if e.external_ref == "ERP-0001")  # type: ignore[attr-defined]
    assert profile.tags == ["vip", "newsletter"]  # type: ignore[attr-defined]
    assert profile.personal.email == "c1@example.com"  # type: ignore[attr-defined]
    assert profile.occurred_at == datetime(2023, 12, 1, tzinfo=UTC)


def test_crm_import_end_to_end(tmp_path: Path) -> None:
    runner = CliRunner()
    data_dir = tmp_path / "data"
    rows = _purchase_rows(150, 15)
    rows[9]["amount"] = "lots"
    path = _write_csv(tmp_path / "orders.csv", PURCHASE_COLUMNS, rows)
    rejects = tmp_path / "bad.csv"

    result = runner.invoke(app, ["import", "purchases", str(path), "--data-dir", str(data_dir),
                                 "--rejects", str(rejects), "--batch-rows", "40"])

    # A rejected row is a row not imported: exit 1, saying how many and where they are listed.
    assert result.exit_code == 1, result.output
    assert "rows read 150 · imported 149 · already imported 0 · rejected 1" in result.output
    assert "events/s" in result.output
    assert f"1 row rejected: not imported, listed with line and reason in {rejects}" \
        in result.output
    assert "11" in rejects.read_text().splitlines()[1].split(",")[0]
    store = _open(data_dir / "events.sqlite")
    head = store.recorder.max_notification_id()
    store.close()
    assert head and f"last position {head:,})" in result.output

    again = runner.invoke(app, ["import", "purchases", str(path), "--data-dir", str(data_dir),
                                "--rejects", str(rejects)])
    assert again.exit_code == 1, again.output
    assert "imported 0 · already imported 149 · rejected 1" in again.output
    assert "events written 0" in again.output
    assert f"last position {head:,})" in again.output, "the store's, though this run wrote none"

    wrong = runner.invoke(app, ["import", "deals", str(path), "--data-dir", str(data_dir)])
    assert wrong.exit_code == 2 and "unknown kind" in wrong.output
    unknown_format = tmp_path / "orders.txt"
    unknown_format.write_text(path.read_text())
    refused = runner.invoke(app, ["import", "purchases", str(unknown_format),
                                  "--data-dir", str(data_dir)])
    assert refused.exit_code == 2 and "--format" in refused.output
    forced = runner.invoke(app, ["import", "purchases", str(unknown_format), "--format", "csv",
                                 "--data-dir", str(data_dir)])
    assert forced.exit_code == 1 and "already imported 149" in forced.output

    clean = _write_csv(tmp_path / "clean.csv", PURCHASE_COLUMNS, _purchase_rows(20, 5, seed=11))
    loaded = runner.invoke(app, ["import", "purchases", str(clean), "--data-dir", str(data_dir)])
    assert loaded.exit_code == 0, loaded.output
    assert "rejected 0" in loaded.output and "not imported" not in loaded.output
