"""Purchase: an order recorded for a customer (from ERP/finance, an import, or by hand)."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID, uuid5

from services.command.domain.aggregate import AggregateRoot, CommandContext
from services.command.domain.errors import RuleViolation
from services.common.events.purchase import PurchaseItem, PurchaseRecorded

_REFERENCE_NAMESPACE = UUID("0b7e8a52-0a43-4f4c-8d3b-0e6f4a7a9c21")


def purchase_id_for_reference(tenant_id: str, customer_id: UUID, reference: str) -> UUID:
    """The id of a customer's purchase with an external reference (an order or invoice
    number): the same order always gets the same id, so it can never be recorded twice."""
    return uuid5(_REFERENCE_NAMESPACE, f"{tenant_id}\x1f{customer_id}\x1f{reference}")


class Purchase(AggregateRoot):
    kind = "purchase"
    created_by = PurchaseRecorded

    @classmethod
    def record(
        cls, purchase_id: UUID, ctx: CommandContext, *, customer_id: UUID, amount: str,
        currency: str, reference: str | None = None, items: list[PurchaseItem] | None = None,
        lead_id: UUID | None = None,
    ) -> Purchase:
        items = items or []
        if items:
            total = sum(Decimal(i.unit_price) * i.quantity for i in items)
            if total != Decimal(amount):
                raise RuleViolation(
                    "items_do_not_add_up", f"the items add up to {total}, not {amount}",
                    items_total=str(total), amount=amount,
                )
        purchase = cls(purchase_id)
        purchase._record(
            PurchaseRecorded, ctx, customer_id=customer_id, amount=amount, currency=currency,
            reference=reference, items=items, lead_id=lead_id,
        )
        return purchase

    def _when_PurchaseRecorded(self, event: PurchaseRecorded) -> None:
        self._when_created(event)
        self.amount, self.currency, self.reference = event.amount, event.currency, event.reference
