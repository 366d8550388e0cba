"""The customer's file: where its tasks and notes are found by the audit history.

Tasks and notes are records of their own, created often and by many people. Linking each on
the customer's stream (as leads and tickets are, `CustomerRecordLinked`) would move the
customer's version with every one, so a profile change made with `If-Match` would be refused
because someone wrote a note meanwhile. Instead each is filed in a stream beside the customer,
whose id is derived from the customer's: writers of tasks and notes meet only there (and only
when they create one), and the customer's version stays the customer's.
"""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID, uuid5

from services.common.events.envelope import CrmEvent

FiledKind = Literal["task", "note"]
_FILE_NAMESPACE = UUID("0d7f2a4e-6c1b-4f38-9e55-3b2c8a9d1e07")


def file_id(customer_id: UUID) -> UUID:
    """The id of the customer's file stream."""
    return uuid5(_FILE_NAMESPACE, str(customer_id))


class CustomerRecordFiled(CrmEvent):
    """A task or note was created for the customer: saved atomically with it, in the
    customer's file stream. Bookkeeping of the store, never published."""

    event_type: ClassVar[str] = "crm.internal.record_filed"
    internal: ClassVar[bool] = True

    kind: FiledKind
    record_id: UUID
