"""`crm replay --to FILE.duckdb`: the analytics models, built by the production projector code
into a DuckDB file of the analyst's own, from the event store, the topic or an export.

The file holds the same tables and views as the live analytics store (plus the lifecycle
tables, which production keeps in PostgreSQL/SQLite), so the models' `reads` functions and
plain DuckDB SQL both work on it.
`--lifecycle-config` swaps the lifecycle thresholds for a what-if study without touching the
settings of production.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.common.event_store import ChronicleStore
from services.common.settings import Settings
from services.projections.lifecycle.projection import LifecycleProjection
from services.projections.lifecycle.stages import LifecycleConfig
from services.projections.model import Projection
from services.projections.offline.export_source import ExportSource
from services.projections.rebuild import (
    ProgressCallback,
    RebuildResult,
    RebuildSource,
    rebuild_many,
)
from services.projections.registry import build
from services.projections.stores.duck import DuckReadStore

STANDALONE_MODELS: tuple[str, ...] = ("funnel", "retention", "service", "lifecycle")
"""What an analyst gets by default: the analytics models and the lifecycle stages."""

_LIFECYCLE_KEYS = {"dormant_days", "loyal_count", "loyal_window_days", "engaging_stages"}


def load_lifecycle_config(path: Path, base: LifecycleConfig | None = None) -> LifecycleConfig:
    """Lifecycle thresholds from a TOML file; keys it leaves out keep `base`'s values.

    The keys may sit at the top level or under `[lifecycle]`: dormant_days, loyal_count,
    loyal_window_days, engaging_stages (a list of lead stages).
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read lifecycle config {path}: {exc}") from None
    values: dict[str, Any] = document.get("lifecycle", document)
    unknown = sorted(set(values) - _LIFECYCLE_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown lifecycle setting(s) {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(_LIFECYCLE_KEYS))}")
    base = base or LifecycleConfig()
    numbers = {}
    for key in ("dormant_days", "loyal_count", "loyal_window_days"):
        value = values.get(key, getattr(base, key))
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{path}: {key} must be a whole number of at least 1, not {value!r}")
        numbers[key] = value
    stages = values.get("engaging_stages")
    engaging = frozenset(stages) if stages is not None else base.engaging_stages
    return LifecycleConfig(engaging_stages=engaging, **numbers)


def standalone_projections(names: Sequence[str], settings: Settings,
                           lifecycle: LifecycleConfig | None = None) -> list[Projection]:
    """The projections by name, lifecycle under `lifecycle` when given (else the settings')."""
    return [LifecycleProjection(lifecycle) if name == "lifecycle" and lifecycle is not None
            else build(name, settings) for name in names]


def replay_to_duckdb(
    path: Path, settings: Settings, *, source: RebuildSource,
    event_store: ChronicleStore | None = None, export_dir: Path | None = None,
    names: Sequence[str] = STANDALONE_MODELS, lifecycle: LifecycleConfig | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[RebuildResult]:
    """Build the named models into the DuckDB file at `path` (created if missing; models
    already in it are replaced by a fresh generation)."""
    if source == "export":
        if export_dir is None:
            raise ValueError("replaying an export needs its directory")
        feed: ExportSource | None = ExportSource(export_dir)
    else:
        feed = None
    if source != "topic":
        # A standalone file must never be handed over to live projectors on the topic.
        settings = settings.model_copy(update={"kafka_bootstrap": None})
    projections = standalone_projections(names, settings, lifecycle)
    store = DuckReadStore(path)
    try:
        return rebuild_many([(projection, store) for projection in projections], settings,
                            source=source, event_store=event_store, on_progress=on_progress,
                            feed=feed)
    finally:
        store.close()
