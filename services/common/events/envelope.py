"""The envelope every Chronicle event carries, and the base class of all catalog events.

Catalog events are pydantic models. They are stored in the `eventsourcing` library's event
store through `services.common.event_store.CatalogEventMapper`, which is why each event also
answers to the library's `originator_id` / `originator_version` names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

AmountStr = str  # documented in the JSON Schema through `AMOUNT_FIELD`
AMOUNT_PATTERN = r"^[0-9]{1,13}(\.[0-9]{1,4})?$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"


def amount_field(description: str = "Decimal amount as a string, never a float.") -> Any:
    return Field(pattern=AMOUNT_PATTERN, description=description)


def currency_field() -> Any:
    return Field(pattern=CURRENCY_PATTERN, description="ISO 4217 currency code.")


class CrmEvent(BaseModel):
    """Base of every stored fact. Subclasses add the event's own data fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str] = ""
    """Wire type, `crm.<aggregate>.<fact>`."""
    schema_version: ClassVar[int] = 1
    """Bump together with an `upcast_v<N>_v<N+1>(state: dict) -> None` static method."""
    internal: ClassVar[bool] = False
    """Internal bookkeeping events are stored but not part of the published contract."""

    event_id: UUID = Field(description="Unique id of this event; subscribers dedupe on it.")
    aggregate_id: UUID = Field(description="Id of the aggregate (customer, lead, ...) it belongs to.")
    aggregate_version: int = Field(ge=1, description="Version of that aggregate after this event.")
    customer_id: UUID = Field(description="The customer this fact is about.")
    tenant_id: str = Field(min_length=1, max_length=64)
    actor: str = Field(
        min_length=1, max_length=128, description="Who caused it: a user, `import:<run>` or `rule:<id>`."
    )
    occurred_at: AwareDatetime = Field(description="Business time: when it happened.")
    recorded_at: AwareDatetime = Field(description="System time: when the store recorded it.")
    correlation_id: UUID = Field(description="Shared by every event of one request or workflow.")
    causation_id: UUID | None = Field(
        default=None, description="The event or command that caused this one, if any."
    )

    # The eventsourcing library addresses events by these names.
    @property
    def originator_id(self) -> UUID:
        return self.aggregate_id

    @property
    def originator_version(self) -> int:
        return self.aggregate_version

    @property
    def timestamp(self) -> datetime:
        return self.recorded_at

    def data(self) -> dict[str, Any]:
        """The event's own fields (everything but the envelope), JSON-ready."""
        return self.model_dump(mode="json", exclude=set(ENVELOPE_FIELDS))


ENVELOPE_FIELDS: frozenset[str] = frozenset(CrmEvent.model_fields)


class PersonalTextEvent(CrmEvent):
    """An event whose free-text fields (`personal_fields`) live in its `personal` object, the
    one part of an event sealed under the customer's key (DESIGN.md §4).

    The fields are still accepted by name when an event is made (`LeadLost(reason=...)`) and
    read by name (`event.reason`, None once the customer is erased); they are moved into
    `personal` on the way in. `upcast_v1_v2` does the same to a stored version 1 (where they
    stood beside the other fields in plain text)."""

    personal_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _gather_personal(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(name in data for name in cls.personal_fields):
            data = dict(data)
            cls.move_into_personal(data)
        return data

    @classmethod
    def move_into_personal(cls, state: dict[str, Any]) -> None:
        personal = dict(state.get("personal") or {})
        for name in cls.personal_fields:
            value = state.pop(name, None)
            if value is not None:
                personal[name] = value
        state["personal"] = personal or None

    @classmethod
    def upcast_v1_v2(cls, state: dict[str, Any]) -> None:
        cls.move_into_personal(state)

    def personal_value(self, name: str) -> Any:
        personal = getattr(self, "personal", None)
        return getattr(personal, name, None) if personal is not None else None
