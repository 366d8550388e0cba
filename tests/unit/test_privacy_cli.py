"""`crm privacy seal`, `crm erase`, `crm subject-export` and the master-key commands, on a
store written the way versions before sealing wrote it."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from typer.testing import CliRunner

from services.cli import app
from services.common.event_store import EventLog, open_event_store
from services.common.events.customer import CustomerRecordLinked, CustomerRegistered
from services.common.events.interaction import InteractionLogged
from services.common.events.lead import LeadCreated, LeadLost
from services.common.settings import Settings

runner = CliRunner()
SECRETS = ("Yolanda Featherstonehaugh", "yolanda@legacy.example", "Featherstonehaugh wept",
           "legacy budget talk", "lost to Legacycorp")


def _envelope(customer_id: UUID, aggregate_id: UUID, version: int) -> dict[str, object]:
    now = datetime.now(UTC).isoformat()
    return {"event_id": str(uuid4()), "aggregate_id": str(aggregate_id),
            "aggregate_version": version, "customer_id": str(customer_id), "tenant_id": "default",
            "actor": "rep-1", "occurred_at": now, "recorded_at": now,
            "correlation_id": str(uuid4()), "causation_id": None}


def legacy_store(settings: Settings) -> UUID:
    """Events as version 1 stored them: personal values and free text in plain text."""
    customer, interaction, lead = uuid4(), uuid4(), uuid4()
    rows = [
        (CustomerRegistered, customer, {**_envelope(customer, customer, 1), "personal": {
            "name": SECRETS[0], "email": SECRETS[1], "phone": None}, "company": "Legacy Ltd",
            "region": None, "industry": None, "source": None, "owner": None, "tags": [],
            "external_ref": None}),
        (InteractionLogged, interaction, {**_envelope(customer, interaction, 1),
                                          "channel": "call", "direction": "inbound",
                                          "subject": SECRETS[3], "duration_s": None,
                                          "lead_id": None, "personal": {"body": SECRETS[2]},
                                          "external_ref": None}),
        (LeadCreated, lead, {**_envelope(customer, lead, 1), "title": "Old deal",
                             "source": None, "channel": None, "region": None, "industry": None,
                             "amount": None, "currency": None, "owner": None, "stage": "new",
                             "external_ref": None}),
        (LeadLost, lead, {**_envelope(customer, lead, 2), "reason": SECRETS[4],
                          "from_stage": "new"}),
        (CustomerRecordLinked, customer, {**_envelope(customer, customer, 2),
                                          "kind": "interaction", "record_id": str(interaction)}),
        (CustomerRecordLinked, customer, {**_envelope(customer, customer, 3),
                                          "kind": "lead", "record_id": str(lead)}),
    ]
    store = open_event_store(settings)
    store.recorder.insert_events([
        StoredEvent(originator_id=aggregate, originator_version=int(state["aggregate_version"]),
                    topic=get_topic(cls), state=json.dumps(state).encode())
        for cls, aggregate, state in rows])
    store.close()
    return customer


def every_byte(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


def test_seal_encrypts_a_plain_text_store_keeps_every_value_and_says_ok(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "crm-data")
    customer = legacy_store(settings)
    assert SECRETS[0].encode() in every_byte(settings.data_dir)

    sealed = runner.invoke(app, ["privacy", "seal", "--data-dir", str(settings.data_dir)])
    assert sealed.exit_code == 0, sealed.output
    assert "sealed 3 of 6 events (3 read back equal)" in sealed.output
    assert sealed.output.strip().splitlines()[-1].startswith("OK")
    everything = every_byte(settings.data_dir)
    for secret in SECRETS:
        assert secret.encode() not in everything, secret
    store = open_event_store(settings)
    events = {type(e.event).__name__: e.event for e in EventLog(store).events_of(
        [customer, *[n.originator_id for n in store.recorder.select_notifications(1, 10)]])}
    store.close()
    assert events["CustomerRegistered"].personal.name == SECRETS[0]  # type: ignore[attr-defined]
    assert events["InteractionLogged"].subject == SECRETS[3]  # type: ignore[attr-defined]
    assert events["LeadLost"].reason == SECRETS[4]  # type: ignore[attr-defined]

    again = runner.invoke(app, ["privacy", "seal", "--data-dir", str(settings.data_dir)])
    assert again.exit_code == 0 and "sealed 0 of 6 events" in again.output, again.output


def test_the_audit_chain_holds_after_sealing_and_says_why_it_was_rebuilt(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "crm-data")
    legacy_store(settings)
    data_dir = ["--data-dir", str(settings.data_dir)]
    before = runner.invoke(app, ["audit", "verify", *data_dir])
    assert before.exit_code == 0, before.output
    assert before.output.strip().splitlines()[-1].startswith("OK"), before.output

    sealed = runner.invoke(app, ["privacy", "seal", *data_dir])
    assert sealed.exit_code == 0, sealed.output
    assert "re-chained 6 events up to position 6" in sealed.output

    after = runner.invoke(app, ["audit", "verify", *data_dir])
    assert after.exit_code == 0, after.output
    verdict = after.output.strip().splitlines()[-1]
    assert verdict.startswith("OK"), after.output
    assert "crm privacy seal: 3 events rewritten" in after.output


def test_erase_and_subject_export_from_the_command_line(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "crm-data")
    customer = legacy_store(settings)
    assert runner.invoke(app, ["privacy", "seal", "--data-dir", str(settings.data_dir)]
                         ).exit_code == 0
    out = tmp_path / "subject.json"
    exported = runner.invoke(app, ["subject-export", str(customer), "--data-dir",
                                   str(settings.data_dir), "--output", str(out)])
    assert exported.exit_code == 0, exported.output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    document = json.loads(out.read_text())
    assert document["profile"]["personal"]["email"] == SECRETS[1]
    assert [i["personal"]["subject"] for i in document["interactions"]] == [SECRETS[3]]
    assert len(document["history"]) == 6 and document["history"][0]["actor"] == "rep-1"
    assert [lead["lost_reason"] for lead in document["leads"]] == [SECRETS[4]]

    erased = runner.invoke(app, ["erase", str(customer), "--legal-basis", "gdpr_art_17",
                                 "--reference", "DSR-7", "--reason", "Asked by letter",
                                 "--data-dir", str(settings.data_dir)])
    assert erased.exit_code == 0, erased.output
    assert json.loads(erased.output.strip().splitlines()[-1])["erased"] is True
    twice = runner.invoke(app, ["erase", str(customer), "--legal-basis", "other",
                                "--reference", "DSR-8", "--reason", "Again",
                                "--data-dir", str(settings.data_dir)])
    assert twice.exit_code == 2 and "customer_erased" in twice.output
    after = runner.invoke(app, ["subject-export", str(customer), "--data-dir",
                                str(settings.data_dir)])
    assert after.exit_code == 0, after.output
    for secret in SECRETS:
        assert secret not in after.output
    assert json.loads(after.output)["erased"] is True
    unknown = runner.invoke(app, ["erase", str(uuid4()), "--legal-basis", "other",
                                  "--reference", "X", "--reason", "Y",
                                  "--data-dir", str(settings.data_dir)])
    assert unknown.exit_code == 1 and "no customer" in unknown.output


def test_a_master_key_rotation_leaves_every_customer_readable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "crm-data")
    customer = legacy_store(settings)
    assert runner.invoke(app, ["privacy", "seal", "--data-dir", str(settings.data_dir)]
                         ).exit_code == 0
    new_key = tmp_path / "new.key"
    made = runner.invoke(app, ["privacy", "new-master-key", "--output", str(new_key)])
    assert made.exit_code == 0 and stat.S_IMODE(os.stat(new_key).st_mode) == 0o600
    refused = runner.invoke(app, ["privacy", "new-master-key", "--output", str(new_key)])
    assert refused.exit_code == 2
    old_key = (settings.data_dir / "master.key").read_text()
    rotated = runner.invoke(app, ["privacy", "rotate-master-key", "--new-key-file", str(new_key),
                                  "--data-dir", str(settings.data_dir)])
    assert rotated.exit_code == 0, rotated.output
    assert "re-wrapped 2 data keys" in rotated.output  # the customer's and the search key
    assert (settings.data_dir / "master.key").read_text() == new_key.read_text()
    assert (settings.data_dir / "master.key.old").read_text() == old_key
    store = open_event_store(settings)
    registered = EventLog(store).events_of([customer])[0].event
    store.close()
    assert registered.personal.email == SECRETS[1]  # type: ignore[attr-defined]
