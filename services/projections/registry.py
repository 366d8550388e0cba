"""Every read model by name, and which store kind holds it."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from services.common.settings import Settings
from services.projections.model import Projection

_FACTORIES: dict[str, str] = {
    "customer_360": "services.projections.customer_360:Customer360Projection",
    "timeline": "services.projections.timeline:TimelineProjection",
    "lifecycle": "services.projections.lifecycle:LifecycleProjection",
    "alerts": "services.projections.alerts:AlertsProjection",
    "policy_state": "services.projections.policy_state:PolicyStateProjection",
    "funnel": "services.projections.analytics.funnel:FunnelProjection",
    "retention": "services.projections.analytics.retention:RetentionProjection",
    "service": "services.projections.analytics.service:ServiceProjection",
}

NAMES: tuple[str, ...] = tuple(_FACTORIES)


def projection_class(name: str) -> Callable[..., Projection]:
    if name not in _FACTORIES:
        raise KeyError(f"unknown projection {name!r}; known: {', '.join(NAMES)}")
    module, _, attr = _FACTORIES[name].partition(":")
    return getattr(import_module(module), attr)  # type: ignore[no-any-return]


def build(name: str, settings: Settings) -> Projection:
    """The projection, configured from settings (e.g. lifecycle thresholds)."""
    cls = projection_class(name)
    from_settings = getattr(cls, "from_settings", None)
    return from_settings(settings) if from_settings else cls()
