"""The web app's build (services/web/dist/) for the tests that serve or drive it, and Node for
those that run its tools: built once if missing, else skipped with how to get it (under
CI=true a missing build or Node is a failure, never a skip)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

from services.common.web_app import default_web_dir

WEB = Path(__file__).resolve().parent.parent / "services" / "web"
DIST = default_web_dir()


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def node_modules() -> Path:
    """services/web/node_modules, installed by `npm ci` if it is not there."""
    modules = WEB / "node_modules"
    if not (modules / ".package-lock.json").is_file():
        _npm("ci", "--no-audit", "--no-fund")
    return modules


def built_web_app() -> Path:
    """services/web/dist with the built app, built now if it is missing."""
    if not (DIST / "index.html").is_file() or not (DIST / "api-docs" / "index.html").is_file():
        node_modules()
        _npm("run", "build")
    return DIST


def _npm(*args: str) -> None:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        unavailable("Node.js 20 and npm are needed to build the web app (services/web)")
    done = subprocess.run([npm, *args, "--prefix", str(WEB)], capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        pytest.fail(f"npm {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}",
                    pytrace=False)
