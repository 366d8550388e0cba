"""Browser tests wait for what a page shows, never for how fast: Playwright's assertions retry
until their bound, which is raised from its 5 s default so a busy two-core machine (CI may run
beside other work) cannot fail a page that is merely slow to draw."""

from __future__ import annotations

try:
    from playwright.sync_api import expect
except ImportError:  # the browser tests skip (or, under CI, fail) on their own
    pass
else:
    expect.set_options(timeout=30_000)
