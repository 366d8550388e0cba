#!/usr/bin/env bash
# The browser tests (tests/e2e/test_web_app.py) drive Debian's Chromium at /usr/bin/chromium.
# When it is missing: on CI as root, install Debian's package; otherwise say how to install
# it, and the browser tests skip (under CI=true they fail instead: a missing browser is never
# a silent skip there).
set -euo pipefail
chromium=/usr/bin/chromium
if [ -x "$chromium" ]; then
  exit 0
fi
if [ "${CI:-}" = "true" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "installing Debian's chromium for the browser tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "Chromium is not installed at $chromium: the browser tests will be skipped." >&2
echo "Install it with: sudo apt-get update && sudo apt-get install -y chromium" >&2
