"""Purchase events: orders synced from ERP or finance, or recorded by hand."""

from __future__ import annotations

from decimal import Decimal
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

    @property
    def is_buying(self) -> bool:
        """Whether the purchase counts as the customer buying: its amount is above zero.

        Zero-value rows (free replacements, samples, fully discounted orders; real histories
        hold them) are kept and shown as facts, but every read model leaves them out of
        buying: not towards `customer` or `loyal`, not purchase activity in retention, not in
        the purchase count, totals and dates of customer-360, not activity for dormancy.
        """
        return Decimal(self.amount) > 0
