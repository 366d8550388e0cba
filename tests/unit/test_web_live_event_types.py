"""The web app listens to every published event type of the live stream by name (an
EventSource hands a named event only to a listener of that name): its list in
services/web/src/api/live/events.ts is the catalog's."""

from __future__ import annotations

import re
from pathlib import Path

from services.common.events.catalog import BY_TYPE

EVENTS_TS = (Path(__file__).resolve().parents[2] / "services" / "web" / "src" / "api" / "live"
             / "events.ts")


def test_the_app_listens_to_every_published_event_type() -> None:
    text = EVENTS_TS.read_text()
    listed = text[text.index("LIVE_EVENT_TYPES = [") : text.index("] as const;")]
    in_app = re.findall(r'"(crm\.[a-z_.]+)"', listed)
    published = sorted(name for name, cls in BY_TYPE.items() if not cls.internal)
    assert sorted(in_app) == published
    assert len(in_app) == len(set(in_app))
