"""The event catalog: every event class, addressable by its wire type."""

from __future__ import annotations

from services.common.events.access import (
    ApiKeyCreated,
    ApiKeyRevoked,
    UserAdded,
    UserDisabled,
    UserPasswordChanged,
)
from services.common.events.alert import AlertAcknowledged, AlertRaised, AlertResolved
from services.common.events.customer import (
    CustomerAlertLinked,
    CustomerBecameDormant,
    CustomerConsentChanged,
    CustomerErased,
    CustomerOwnerChanged,
    CustomerProfileChanged,
    CustomerRecordLinked,
    CustomerRegistered,
    CustomersMerged,
    CustomerTagged,
    CustomerUntagged,
)
from services.common.events.envelope import CrmEvent
from services.common.events.filing import CustomerRecordFiled
from services.common.events.interaction import InteractionLogged
from services.common.events.internal import CommandRecorded
from services.common.events.lead import (
    DiscountApprovalRequested,
    DiscountApproved,
    DiscountRejected,
    DiscountRequested,
    FollowUpOverdue,
    LeadAmountChanged,
    LeadAssigned,
    LeadCreated,
    LeadLost,
    LeadStageChanged,
    LeadWon,
    PaymentReceived,
)
from services.common.events.note import NoteAdded, NoteDeleted, NoteEdited
from services.common.events.purchase import PurchaseRecorded
from services.common.events.task import (
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskOverdue,
    TaskReassigned,
    TaskReminded,
    TaskRescheduled,
)
from services.common.events.tenant import TenantRulesChanged
from services.common.events.ticket import (
    TicketAssigned,
    TicketCommentAdded,
    TicketFirstResponded,
    TicketOpened,
    TicketPriorityChanged,
    TicketSlaBreached,
    TicketStatusChanged,
)

ALL_EVENT_CLASSES: tuple[type[CrmEvent], ...] = (
    CustomerRegistered,
    CustomerProfileChanged,
    CustomerTagged,
    CustomerUntagged,
    CustomerOwnerChanged,
    CustomerConsentChanged,
    CustomersMerged,
    CustomerErased,
    CustomerRecordLinked,
    CustomerBecameDormant,
    CustomerAlertLinked,
    LeadCreated,
    LeadAssigned,
    LeadStageChanged,
    LeadAmountChanged,
    DiscountRequested,
    DiscountApprovalRequested,
    DiscountApproved,
    DiscountRejected,
    LeadWon,
    LeadLost,
    PaymentReceived,
    FollowUpOverdue,
    InteractionLogged,
    TicketOpened,
    TicketAssigned,
    TicketStatusChanged,
    TicketCommentAdded,
    TicketFirstResponded,
    TicketSlaBreached,
    TicketPriorityChanged,
    PurchaseRecorded,
    AlertRaised,
    AlertAcknowledged,
    AlertResolved,
    TaskCreated,
    TaskCompleted,
    TaskRescheduled,
    TaskReassigned,
    TaskCancelled,
    TaskReminded,
    TaskOverdue,
    NoteAdded,
    NoteEdited,
    NoteDeleted,
    CommandRecorded,
    CustomerRecordFiled,
    TenantRulesChanged,
    ApiKeyCreated,
    ApiKeyRevoked,
    UserAdded,
    UserPasswordChanged,
    UserDisabled,
)

PUBLISHED_EVENT_CLASSES: tuple[type[CrmEvent], ...] = tuple(
    cls for cls in ALL_EVENT_CLASSES if not cls.internal
)

BY_TYPE: dict[str, type[CrmEvent]] = {cls.event_type: cls for cls in ALL_EVENT_CLASSES}

assert len(BY_TYPE) == len(ALL_EVENT_CLASSES), "two events share a wire type"


def dataschema(cls: type[CrmEvent]) -> str:
    """Relative URI of the JSON Schema describing this event type and version."""
    return f"schemas/events/{cls.event_type}/v{cls.schema_version}.schema.json"
