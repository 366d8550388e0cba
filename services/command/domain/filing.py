"""The customer's file: the stream beside a customer in which its tasks and notes are filed
(services/common/events/filing.py says why they are not linked on the customer's stream)."""

from __future__ import annotations

from uuid import UUID

from services.command.domain.aggregate import AggregateRoot, CommandContext
from services.common.events.filing import CustomerRecordFiled, FiledKind, file_id


class CustomerFile(AggregateRoot):
    kind = "customer_file"
    created_by = CustomerRecordFiled

    @classmethod
    def at_version(cls, customer_id: UUID, tenant_id: str, version: int) -> CustomerFile:
        """The file as far as its version: nothing of its state is needed to file another
        record, only where its stream ends."""
        found = cls(file_id(customer_id))
        found.customer_id, found.tenant_id, found.version = customer_id, tenant_id, version
        return found

    def file(self, ctx: CommandContext, kind: FiledKind, record_id: UUID) -> None:
        self._record(CustomerRecordFiled, ctx, kind=kind, record_id=record_id)

    def _when_CustomerRecordFiled(self, event: CustomerRecordFiled) -> None:
        if self.version == 0:
            self._when_created(event)
