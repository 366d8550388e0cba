"""Erasure, end to end: a person's values are written, read, then erased — and afterwards no
byte the system wrote holds them, no route shows them, and the figures stay the same.

Run on each backend by a subclass that names its settings and every extra place that holds
bytes (PostgreSQL's dump, data directory and WAL; the broker's topics).
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from pydantic import SecretStr

from services.bootstrap import Chronicle, Parts
from services.common.event_store import EventLog, open_event_store
from services.common.privacy.master_key import LocalKeyEncryptionKey, new_master_key_text
from services.common.settings import Settings
from services.projections.offline.export import export_events
from services.projections.rebuild import rebuild_many
from services.projections.registry import NAMES, build
from tests.contract.query_api import Crm, compose_serve
from tests.errors import error_shaped

ERASED = {"name": "Zebulon Quartermaine", "email": "zebulon.quartermaine@erasure.example",
          "phone": "+44 20 7946 0958"}
KEPT = {"name": "Philippa Oakenshield", "email": "philippa.oakenshield@kept.example",
        "phone": "+33 1 7039 4411"}


def free_text(who: str) -> dict[str, str]:
    """Free text a person writes about the customer, each distinctive."""
    return {"subject": f"{who} renewal chat", "body": f"{who} mentioned a daughter Quilla",
            "ticket": f"{who} cannot reach the portal", "comment": f"{who} comment xyzzy",
            "lost": f"{who} chose Competitorix", "discount": f"{who} loyalty plea",
            "task": f"{who} wants a callback Thursday", "task_note": f"{who} asked for Quentin",
            "outcome": f"{who} agreed to Zephyr plan", "note": f"{who} collects Ophicleides",
            "note_edit": f"{who} collects Sackbuts"}


def values_of(person: dict[str, str]) -> list[str]:
    first = person["name"].split()[0]
    return [person["name"], person["email"], person["phone"], person["name"].split()[1],
            *free_text(first).values()]


ANALYTICS = ("/v1/analytics/funnel", "/v1/analytics/lifecycle", "/v1/analytics/retention",
             "/v1/analytics/service")
AS_OF = {"as_of": "2026-06-01T00:00:00Z", "start": "2026-01-01T00:00:00Z",
         "end": "2026-06-01T00:00:00Z"}
DAY = "2026-03-0{}T10:00:00Z"


def story(crm: Crm, person: dict[str, str]) -> str:
    """A customer with every kind of personal value written about it."""
    text = free_text(person["name"].split()[0])
    customer = str(crm.post("/v1/customers", {"personal": person, "occurred_at": DAY.format(1),
                                              "company": "Kept Company Ltd"})["customer_id"])
    crm.post(f"/v1/customers/{customer}/interactions", {
        "channel": "call", "direction": "inbound", "subject": text["subject"],
        "personal": {"body": text["body"]}, "occurred_at": DAY.format(2)})
    ticket = crm.post(f"/v1/customers/{customer}/tickets", {
        "subject": text["ticket"], "priority": "high", "occurred_at": DAY.format(2)})["ticket_id"]
    crm.post(f"/v1/tickets/{ticket}/comments", {"personal": {"body": text["comment"]},
                                                "author_type": "agent"})
    crm.post(f"/v1/tickets/{ticket}/status", {"status": "resolved", "reason": text["subject"]})
    won = crm.lead(customer, DAY.format(3))
    crm.post(f"/v1/leads/{won}/discounts", {"percent": "5", "reason": text["discount"]})
    for stage in ("contacted", "qualified", "proposal", "negotiation", "won"):
        crm.stage(won, stage, DAY.format(4))
    lost = crm.lead(customer, DAY.format(3))
    crm.post(f"/v1/leads/{lost}/stage", {"stage": "lost", "reason": text["lost"],
                                         "occurred_at": DAY.format(6)})
    crm.purchase(customer, "120.00", DAY.format(7))
    task = crm.post("/v1/tasks", {
        "customer_id": customer, "title": text["task"], "note": text["task_note"],
        "assignee": "rep-1", "due_at": DAY.format(8), "remind_before": "1h",
        "occurred_at": DAY.format(7)})["task_id"]
    crm.post(f"/v1/tasks/{task}/complete", {"note": text["outcome"]})
    crm.post(f"/v1/customers/{customer}/notes", {"body": text["note"], "pinned": True,
                                                 "occurred_at": DAY.format(7)})
    edited = crm.post(f"/v1/leads/{won}/notes", {"body": text["note"],
                                                  "occurred_at": DAY.format(7)})["note_id"]
    crm.post(f"/v1/notes/{edited}/edit", {"body": text["note_edit"]})
    return customer


class ErasureContract:
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        raise NotImplementedError

    def bytes_elsewhere(self, settings: Settings) -> dict[str, bytes]:
        """Every byte the backend holds outside the data dir, by where it was found."""
        return {}

    def event_holders(self, written: dict[str, bytes]) -> list[str]:
        """The places among `written` that hold stored events (where the search must see the
        company, which is not personal, in clear — so it would see a leaked value too)."""
        return [where for where in written if Path(where).name.startswith("events.sqlite")]

    def test_after_an_erasure_no_byte_route_or_rebuild_holds_the_values(
            self, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        with ExitStack() as stack:
            client, read_models = compose_serve(stack, settings)
            crm = Crm(client, f"t-{uuid4().hex[:10]}")
            erased, kept = story(crm, ERASED), story(crm, KEPT)
            assert read_models.wait_for(NAMES, crm.position, 60)
            before = {route: crm.get(route, **AS_OF) for route in ANALYTICS}
            found = crm.get("/v1/customers", q=ERASED["email"])["items"]
            assert [item["customer_id"] for item in found] == [erased]
            assert crm.get("/v1/customers", q="zebul")["items"][0]["name"] == ERASED["name"]

            answer = crm.post(f"/v1/customers/{erased}/erase", {
                "legal_basis": "gdpr_art_17", "request_reference": "DSR-0042",
                "reason": "Erasure request through the privacy portal"}, actor="dpo")
            assert answer["customer_id"] == erased
            assert read_models.wait_for(NAMES, crm.position, 60)

            # The figures are the same; every route forgets the person.
            after = {route: crm.get(route, **AS_OF) for route in ANALYTICS}
            assert after == before, [(r, before[r], after[r]) for r in ANALYTICS
                                     if before[r] != after[r]]
            shown = {
                "customer": crm.get(f"/v1/customers/{erased}"),
                "timeline": crm.get(f"/v1/customers/{erased}/timeline", limit=100),
                "history": crm.get_raw(f"/v1/customers/{erased}/history").json(),
                "export": crm.get_raw(f"/v1/customers/{erased}/export").json(),
                "list": crm.get("/v1/customers", limit=100),
                "tasks": crm.get("/v1/tasks", status="any", limit=200),
                "notes": crm.get(f"/v1/customers/{erased}/notes", limit=200),
                "search": [crm.get("/v1/customers", q=q)["items"]
                           for q in (ERASED["email"], "zebulon", "quartermaine", "0958")],
            }
            assert shown["customer"]["erased"] is True and shown["customer"]["personal"] == {}
            assert shown["export"]["erased"] is True and shown["export"]["profile"]["personal"] == {}
            assert shown["search"] == [[], [], [], []]
            summaries = [item["summary"] for item in shown["timeline"]["items"]]
            assert "Personal data erased" in summaries[0] and any("[erased]" in s for s in summaries)
            dumped = repr(shown)
            for value in values_of(ERASED):
                assert value not in dumped, value
            # Amounts, stages and dates stay.
            leads = shown["customer"]["leads"]
            assert sorted(lead["status"] for lead in leads) == ["lost", "won"]
            assert shown["customer"]["purchases"]["total"] == "120.00"

            # The erased customer takes no further command; the other keeps every value.
            refused = client.post(f"/v1/customers/{erased}/tags", json={"tag": "vip"},
                                  headers=crm.auth())
            assert error_shaped(refused, 422, "rule_violation")["details"]["rule"] == \
                "customer_erased"
            again = client.post(f"/v1/customers/{erased}/erase", json={
                "legal_basis": "other", "request_reference": "DSR-0043", "reason": "Twice"},
                headers=crm.auth())
            assert error_shaped(again, 422, "rule_violation")["details"]["rule"] == \
                "customer_erased"
            other = crm.get(f"/v1/customers/{kept}")
            assert (other["personal"]["name"], other["personal"]["email"]) == \
                (KEPT["name"], KEPT["email"])
            other_timeline = repr(crm.get(f"/v1/customers/{kept}/timeline", limit=100))
            assert free_text("Philippa")["subject"] in other_timeline
            assert free_text("Philippa")["ticket"] in other_timeline
            assert free_text("Philippa")["task"] in other_timeline
            assert free_text("Philippa")["note_edit"] in other_timeline
            kept_doc = repr(crm.get(f"/v1/customers/{kept}"))
            assert free_text("Philippa")["note"] in kept_doc
            assert free_text("Philippa")["note_edit"] in kept_doc

            # Exports in both formats, and a rebuild of every read model from the log.
            assert read_models.event_store is not None
            for fmt in ("ndjson", "parquet"):
                export_events(read_models.event_store, tmp_path / f"export-{fmt}", fmt=fmt)
            kept_export = b"".join(path.read_bytes()
                                   for path in (tmp_path / "export-ndjson").rglob("*")
                                   if path.is_file())
            assert KEPT["email"].encode() in kept_export
        # Every read model rebuilt from the log: nothing comes back.
        with Chronicle(settings, Parts(commands=True, read_models=NAMES)) as again:
            assert again.store is not None
            host = again.projector_host
            rebuild_many([(build(name, settings), host.store_for(host.projections[name]))
                          for name in NAMES], settings, source="store", event_store=again.store)
            # The rebuild replays the erased customer's events too: their rows come back with
            # their figures and without their values; none of them is a dead letter.
            assert all(status["dead_letters"] == 0 for status in host.statuses()), \
                host.statuses()

        written = {str(path): path.read_bytes()
                   for root in (settings.data_dir, tmp_path)
                   for path in Path(root).rglob("*") if path.is_file()}
        written.update(self.bytes_elsewhere(settings))
        written["log"] = caplog.text.encode()
        holders = self.event_holders(written)
        assert holders and all(b"Kept Company Ltd" in written[where] for where in holders
                               if not where.endswith(("-shm", "-wal"))) \
            and any(b"Kept Company Ltd" in written[where] for where in holders), holders
        for where, content in written.items():
            for value in values_of(ERASED):
                assert value.encode() not in content, f"{value!r} found in {where}"

    def test_a_master_key_rotation_leaves_every_customer_readable(
            self, settings: Settings) -> None:
        def everything(crm: Crm, customers: list[str]) -> dict[str, object]:
            return {customer: (crm.get(f"/v1/customers/{customer}"),
                               crm.get(f"/v1/customers/{customer}/timeline", limit=100),
                               crm.get_raw(f"/v1/customers/{customer}/history").json())
                    for customer in customers}

        tenant = f"t-{uuid4().hex[:10]}"
        with ExitStack() as stack:
            client, read_models = compose_serve(stack, settings)
            crm = Crm(client, tenant)
            customers = [story(crm, ERASED), story(crm, KEPT)]
            assert read_models.wait_for(NAMES, crm.position, 60)
            before = everything(crm, customers)
            written_up_to = crm.position
        assert before[customers[1]][0]["personal"]["email"] == KEPT["email"]

        new_key = new_master_key_text()
        with Chronicle(settings, Parts(commands=True)) as running:
            assert running.store is not None
            rewrapped = running.store.vault.rewrap(LocalKeyEncryptionKey.from_text(new_key, "new"))
        assert rewrapped >= 3  # both customers' keys and the tenant's search key

        # The old master key opens nothing any more, and says why.
        old = open_event_store(settings)
        try:
            with pytest.raises(ValueError, match="wrapped by master key"):
                EventLog(old).events_of([UUID(customers[0])])
        finally:
            old.close()

        rotated = settings.model_copy(update={"master_key": SecretStr(new_key)})
        with ExitStack() as stack:
            client, read_models = compose_serve(stack, rotated)
            crm = Crm(client, tenant)
            crm.position = written_up_to
            assert everything(crm, customers) == before
            found = crm.get("/v1/customers", q=KEPT["email"])["items"]
            assert [item["customer_id"] for item in found] == [customers[1]]
            newcomer = crm.post("/v1/customers", {"personal": {"name": "Rotated Newcomer"}})
            assert crm.get(f"/v1/customers/{newcomer['customer_id']}")["personal"]["name"] == \
                "Rotated Newcomer"
