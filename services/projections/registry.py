"""Every read model, registered as its projection class; names, help texts and the
completeness test come from here."""

from __future__ import annotations

from services.common.settings import Settings
from services.projections.alerts.projection import AlertsProjection
from services.projections.customer_360.projection import Customer360Projection
from services.projections.funnel.projection import FunnelProjection
from services.projections.leads.projection import LeadsProjection
from services.projections.lifecycle.projection import LifecycleProjection
from services.projections.model import Projection
from services.projections.notes.projection import NotesProjection
from services.projections.policy_state.projection import PolicyStateProjection
from services.projections.retention.projection import RetentionProjection
from services.projections.service.projection import ServiceProjection
from services.projections.tasks.projection import TasksProjection
from services.projections.tickets.projection import TicketsProjection
from services.projections.timeline.projection import TimelineProjection

MODELS: tuple[type[Projection], ...] = (
    Customer360Projection, TimelineProjection, LifecycleProjection, AlertsProjection,
    PolicyStateProjection, LeadsProjection, TicketsProjection, FunnelProjection,
    RetentionProjection, ServiceProjection, TasksProjection, NotesProjection,
)
BY_NAME: dict[str, type[Projection]] = {model.name: model for model in MODELS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def known(names: list[str] | tuple[str, ...]) -> list[str]:
    """The names, each checked against the registry (KeyError naming the unknown ones)."""
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        raise KeyError(f"unknown read model(s) {', '.join(unknown)}; known: {', '.join(NAMES)}")
    return list(names)


def projection_class(name: str) -> type[Projection]:
    return BY_NAME[known([name])[0]]


def build(name: str, settings: Settings) -> Projection:
    """The projection, configured from settings (e.g. lifecycle thresholds)."""
    return projection_class(name).from_settings(settings)


def describe() -> str:
    """The models for help texts: `customer_360 (sql), …, service (analytics)`."""
    return ", ".join(f"{model.name} ({model.store_kind})" for model in MODELS)
