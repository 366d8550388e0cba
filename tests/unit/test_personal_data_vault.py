"""Personal data sealed under per-customer keys: what the store holds, what erasure destroys,
and what a master-key rotation keeps readable."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from services.common.event_store import ChronicleStore, EventBatch, EventLog, open_event_store
from services.common.events.customer import CustomerPersonal, CustomerRegistered
from services.common.events.envelope import CrmEvent
from services.common.events.lead import LeadLost
from services.common.privacy.master_key import (
    LocalKeyEncryptionKey,
    MasterKeyError,
    new_master_key_text,
)
from services.common.privacy.vault import CustomerForgotten, UnreadableSealedValue, is_sealed
from services.common.settings import Settings

NAME, EMAIL, REASON = "Zelda Quimbyfoot", "zelda.quimbyfoot@example.org", "Quimby's budget froze"


def _envelope(customer_id: UUID, aggregate_id: UUID, version: int) -> dict[str, object]:
    now = datetime.now(UTC)
    return {"event_id": uuid4(), "aggregate_id": aggregate_id, "aggregate_version": version,
            "customer_id": customer_id, "tenant_id": "acme", "actor": "rep-1",
            "occurred_at": now, "recorded_at": now, "correlation_id": uuid4()}


def _register(store: ChronicleStore, name: str = NAME, email: str = EMAIL) -> UUID:
    customer_id, lead_id = uuid4(), uuid4()
    events: list[CrmEvent] = [
        CustomerRegistered(**_envelope(customer_id, customer_id, 1),  # type: ignore[arg-type]
                           personal=CustomerPersonal(name=name, email=email), region="emea"),
        LeadLost(**_envelope(customer_id, lead_id, 1), reason=REASON,  # type: ignore[arg-type]
                 from_stage="new"),
    ]
    store.save(EventBatch(events))
    return customer_id


def _every_byte(data_dir: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(data_dir.iterdir()) if path.is_file())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def test_the_store_holds_personal_values_only_sealed_and_reads_them_back(settings: Settings,
                                                                          ) -> None:
    store = open_event_store(settings)
    customer_id = _register(store)
    events = [e.event for e in EventLog(store).events_of([customer_id])]
    registered = events[0]
    assert isinstance(registered, CustomerRegistered) and registered.personal is not None
    assert (registered.personal.name, registered.personal.email) == (NAME, EMAIL)
    rows = store.recorder.select_notifications(start=1, limit=10)
    assert all(b'"alg":"A256GCM"' in row.state for row in rows)
    store.close()
    everything = _every_byte(settings.data_dir)
    for value in (NAME, EMAIL, REASON, "Quimby", "quimbyfoot"):
        assert value.encode() not in everything


def test_a_lost_reason_moves_into_personal_and_is_still_read_by_name(settings: Settings) -> None:
    store = open_event_store(settings)
    customer_id = _register(store)
    rows = store.recorder.select_notifications(start=1, limit=10)
    lost = [store.mapper.to_domain_event(row) for row in rows if b"crm.lead" in row.topic.encode()
            or "LeadLost" in row.topic]
    assert isinstance(lost[0], LeadLost) and lost[0].customer_id == customer_id
    assert b"reason" not in rows[1].state and lost[0].reason == REASON
    store.close()


def test_a_stored_version_1_event_in_plain_text_is_upcast(settings: Settings) -> None:
    store = open_event_store(settings)
    customer_id = uuid4()
    envelope = {k: str(v) if not isinstance(v, (int, datetime)) else v
                for k, v in _envelope(customer_id, uuid4(), 1).items()}
    state = LeadLost.model_validate({**envelope, "reason": "old", "from_stage": "new"})
    # What a store written before version 2 holds: the reason beside the other fields.
    stored = store.mapper.to_stored_event(state)
    plain = state.model_dump(mode="json")
    plain.pop("personal")
    plain["reason"] = "old"
    legacy = type(stored)(originator_id=stored.originator_id, originator_version=1,
                          topic=stored.topic, state=__import__("json").dumps(plain).encode())
    upcast = store.mapper.to_domain_event(legacy)
    assert isinstance(upcast, LeadLost) and upcast.reason == "old"
    assert upcast.personal is not None and upcast.personal.reason == "old"
    store.close()


def test_erasing_destroys_the_key_for_every_process_and_nothing_seals_for_it_again(
        settings: Settings) -> None:
    store, other = open_event_store(settings), open_event_store(settings)
    customer_id, kept = _register(store), _register(store, "Kept Person", "kept@example.org")
    assert EventLog(other).events_of([customer_id])[0].event.personal is not None  # cached there
    assert store.vault.destroy(customer_id)
    assert not store.vault.destroy(customer_id)  # once is enough; twice is harmless
    reread = [store.mapper.to_domain_event(row)
              for row in store.recorder.select_notifications(start=1, limit=10)]
    assert [e.personal for e in reread if e.customer_id == customer_id] == [None, None]
    reread = EventLog(store).events_of([customer_id])
    assert reread[0].event.region == "emea"  # the rest of the event stays readable
    other.vault._checked_at = float("-inf")  # the other process looks again (within REFRESH_S)
    assert EventLog(other).events_of([customer_id])[0].event.personal is None
    with pytest.raises(CustomerForgotten):
        other.vault.seal(customer_id, uuid4(), {"name": "again"})
    survivor = EventLog(other).events_of([kept])[0].event
    assert survivor.personal is not None and survivor.personal.email == "kept@example.org"
    store.close()
    other.close()


def test_a_read_model_keeps_nothing_of_a_customer_erased_since_and_does_not_fail(
        settings: Settings) -> None:
    """A rebuild replays events stored before an erasure; a value opened just before the key
    went (another process's cache) must not make the projection fail on sealing it."""
    from services.projections.personal import open_values, seal_values

    store = open_event_store(settings)
    customer_id = _register(store)
    row = seal_values(store.vault, str(customer_id), "ctx", {"name": "Ada", "email": None})
    assert open_values(store.vault, str(customer_id), "ctx", row) == {"name": "Ada"}
    store.vault.destroy(customer_id)
    assert seal_values(store.vault, str(customer_id), "ctx", {"name": "Ada"}) is None
    assert open_values(store.vault, str(customer_id), "ctx", row) is None  # shredded
    store.close()


def test_a_sealed_value_moved_to_another_event_does_not_open(settings: Settings) -> None:
    store = open_event_store(settings)
    customer_id = uuid4()
    sealed = store.vault.seal(customer_id, "event-1", {"name": NAME})
    assert is_sealed(sealed) and store.vault.open(customer_id, "event-1", sealed) == {"name": NAME}
    with pytest.raises(UnreadableSealedValue):
        store.vault.open(customer_id, "event-2", sealed)
    with pytest.raises(UnreadableSealedValue):
        store.vault.open(uuid4(), "event-1", sealed)
    store.close()


def test_the_embedded_master_key_file_is_created_0600_in_the_data_dir(settings: Settings,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    open_event_store(settings).close()
    key_file = settings.data_dir / "master.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert "Created the master key" in capsys.readouterr().err
    open_event_store(settings).close()  # the second start reads it and says nothing
    assert "Created the master key" not in capsys.readouterr().err


def test_another_master_key_cannot_unwrap_and_says_so(settings: Settings, tmp_path: Path) -> None:
    store = open_event_store(settings)
    customer_id = _register(store)
    store.close()
    wrong = Settings(data_dir=settings.data_dir, master_key=new_master_key_text())
    other = open_event_store(wrong)
    with pytest.raises(ValueError, match="wrapped by master key"):
        EventLog(other).events_of([customer_id])
    other.close()
    with pytest.raises(MasterKeyError, match="not base64"):
        open_event_store(Settings(data_dir=tmp_path / "x", master_key="not a key!"))


def test_rotating_the_master_key_rewraps_every_data_key_and_touches_no_event(
        settings: Settings) -> None:
    store = open_event_store(settings)
    customers = [_register(store, f"Person {n}", f"p{n}@example.org") for n in range(5)]
    before = [row.state for row in store.recorder.select_notifications(start=1, limit=100)]
    new_text = new_master_key_text()
    assert store.vault.rewrap(LocalKeyEncryptionKey.from_text(new_text, "test")) == 5
    after = [row.state for row in store.recorder.select_notifications(start=1, limit=100)]
    assert after == before
    store.close()
    rotated = open_event_store(Settings(data_dir=settings.data_dir, master_key=new_text))
    names = [EventLog(rotated).events_of([c])[0].event.personal.name  # type: ignore[union-attr]
             for c in customers]
    assert names == [f"Person {n}" for n in range(5)]
    rotated.close()
