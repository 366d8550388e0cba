"""Purchase events: orders synced from ERP or finance, or recorded by hand."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.common.events.envelope import CrmEvent, amount_field, currency_field


class PurchaseItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str | None = None
    name: str
    quantity: int = Field(ge=1)
    unit_price: str = amount_field()


class PurchaseRecorded(CrmEvent):
    event_type: ClassVar[str] = "crm.purchase.recorded"

    amount: str = amount_field()
    currency: str = currency_field()
    reference: str | None = Field(default=None, description="External reference (ERP order, invoice).")
    items: list[PurchaseItem] = Field(default_factory=list)
    lead_id: UUID | None = None
