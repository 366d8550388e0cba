"""The command service's aggregate cache never lets a stale aggregate decide.

Two `CommandService`s on one SQLite file stand for two API processes sharing a store: each has
its own cache, and each must see what the other wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from services.command.domain.aggregate import CommandContext
from services.command.domain.customer import Customer
from services.command.domain.errors import RuleViolation, VersionConflict
from services.command.service import CommandService, NewCustomer
from services.common.event_store import ChronicleStore, open_event_store
from services.common.events.customer import CustomerPersonal
from services.common.settings import Settings

CTX = CommandContext(actor="rep-1", tenant_id="default")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "crm-data")


@pytest.fixture
def stores(settings: Settings) -> Iterator[tuple[ChronicleStore, ChronicleStore]]:
    first, second = open_event_store(settings), open_event_store(settings)
    yield first, second
    first.close()
    second.close()


@pytest.fixture
def services(stores: tuple[ChronicleStore, ChronicleStore],
             settings: Settings) -> Iterator[tuple[CommandService, CommandService]]:
    here, there = CommandService(stores[0], settings), CommandService(stores[1], settings)
    yield here, there
    here.close()
    there.close()


def register(service: CommandService) -> UUID:
    result = service.register_customer(CTX, NewCustomer(personal=CustomerPersonal(name="Ada")))
    return UUID(result.ids["customer_id"])


def replayed(store: ChronicleStore, customer_id: UUID) -> Customer:
    customer: Customer = store.repository.get(customer_id, projector_func=Customer.project)
    return customer


def state(customer: Customer) -> dict[str, Any]:
    return {k: v for k, v in vars(customer).items() if k != "_pending"}


def test_a_write_by_another_instance_is_seen_before_deciding(
    services: tuple[CommandService, CommandService],
) -> None:
    here, there = services
    customer_id = register(here)
    here.tag_customer(CTX, customer_id, "vip")  # cached here at version 2, tagged "vip"
    there.untag_customer(CTX, customer_id, "vip")  # version 3, written by the other process
    # A stale "vip" would refuse this as already present; a stale version would 409 it.
    result = here.tag_customer(CTX, customer_id, "vip", expected_version=3)
    assert result.version == 4
    there.tag_customer(CTX, customer_id, "gold")  # version 5
    with pytest.raises(RuleViolation) as refused:
        here.tag_customer(CTX, customer_id, "gold")
    assert refused.value.rule == "tag_already_present"
    with pytest.raises(VersionConflict) as stale:
        here.tag_customer(CTX, customer_id, "silver", expected_version=4)
    assert stale.value.current_version == 5


def test_a_write_that_lands_between_load_and_save_is_not_lost(
    services: tuple[CommandService, CommandService], stores: tuple[ChronicleStore, ...],
) -> None:
    here, there = services
    customer_id = register(here)
    here.tag_customer(CTX, customer_id, "vip")  # cached here at version 2
    interfered = []
    load = here._load

    def load_then_let_the_other_process_write(*args: Any, **kwargs: Any) -> Any:
        aggregate = load(*args, **kwargs)
        if not interfered:
            interfered.append(True)
            there.tag_customer(CTX, customer_id, "gold")  # version 3 lands now
        return aggregate

    here._load = load_then_let_the_other_process_write  # type: ignore[method-assign]
    result = here.tag_customer(CTX, customer_id, "silver")  # conflicts once, then retries
    assert result.version == 4
    stored = replayed(stores[0], customer_id)
    assert stored.tags == ["vip", "gold", "silver"]
    assert stored.version == 4


def test_a_conditional_command_that_lost_the_race_gets_409_and_the_cache_recovers(
    services: tuple[CommandService, CommandService], stores: tuple[ChronicleStore, ...],
) -> None:
    here, there = services
    customer_id = register(here)
    here.tag_customer(CTX, customer_id, "vip")
    load = here._load

    def load_then_let_the_other_process_write(*args: Any, **kwargs: Any) -> Any:
        aggregate = load(*args, **kwargs)
        there.tag_customer(CTX, customer_id, "gold")
        return aggregate

    here._load = load_then_let_the_other_process_write  # type: ignore[method-assign]
    with pytest.raises(VersionConflict):
        here.tag_customer(CTX, customer_id, "silver", expected_version=2)
    here._load = load  # type: ignore[method-assign]
    # The half-decided aggregate (with "silver" pending) must not have gone back to the cache.
    with pytest.raises(RuleViolation):
        here.untag_customer(CTX, customer_id, "silver")
    assert here.tag_customer(CTX, customer_id, "silver").version == 4


def test_a_refused_command_leaves_no_trace_in_the_cache(
    services: tuple[CommandService, CommandService],
) -> None:
    here, _ = services
    customer_id = register(here)
    here.tag_customer(CTX, customer_id, "vip")
    with pytest.raises(RuleViolation):
        here.tag_customer(CTX, customer_id, "vip")
    assert here.untag_customer(CTX, customer_id, "vip").version == 3
    assert here.tag_customer(CTX, customer_id, "vip").version == 4


def test_the_cached_aggregate_equals_a_full_replay(
    services: tuple[CommandService, CommandService], stores: tuple[ChronicleStore, ...],
) -> None:
    here, there = services
    customer_id = register(here)
    for n in range(10):
        (here if n % 3 else there).tag_customer(CTX, customer_id, f"t{n}")
    here.untag_customer(CTX, customer_id, "t4")
    here.change_customer_owner(CTX, customer_id, "rep-9")
    here.change_customer_consent(CTX, customer_id, "email", True)
    cached = here.aggregate_cache.take(customer_id)
    assert isinstance(cached, Customer)
    assert state(cached) == state(replayed(stores[1], customer_id))


def test_the_cache_is_bounded() -> None:
    from services.command.aggregate_cache import AggregateCache

    cache = AggregateCache(capacity=2)
    customers = [Customer(UUID(int=n)) for n in range(1, 4)]
    for customer in customers:
        cache.give_back(customer)
    assert len(cache) == 2
    assert cache.take(customers[0].id) is None
    assert cache.take(customers[2].id) is customers[2]
    assert cache.take(customers[2].id) is None  # lent to one command at a time
