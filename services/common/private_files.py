"""Files holding events, read models, exports or keys are their owner's alone: 0600 files in
0700 directories.

Two layers. `crm` sets a umask of 077 when it starts (services/cli/__init__.py), so whatever
the process creates — by us or by a library: SQLite's `-wal` and `-shm`, DuckDB's `.wal`,
Parquet files, keys — is born private. And the code that opens a store or writes an export
makes its files private explicitly (`private_file`, `make_private`), so they are private
however the code is run (tests, an embedding program with a looser umask) and a data dir made
by an older version is tightened. SQLite gives a new `-wal` and `-shm` the database file's
permissions; DuckDB creates its `.wal` with the umask's, so only the umask covers that one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700

SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
DUCKDB_COMPANIONS = (".wal",)


def restrict_umask() -> int:
    """Take group and other bits off every file and directory this process creates from now
    on; returns the umask it had (to restore it)."""
    previous = os.umask(PRIVATE_UMASK)
    os.umask(previous | PRIVATE_UMASK)
    return previous


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) only its owner may enter. A directory that already
    exists keeps its mode: it may be one the user chose to share, such as the current one."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        with contextlib.suppress(OSError):
            path.chmod(DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def private_file(path: Path, companions: Iterable[str] = ()) -> Path:
    """Create `path` empty with mode 0600 if it is missing (an empty file is a valid new SQLite
    database, and SQLite gives its `-wal` and `-shm` the same mode), else make it and its
    companions private; returns `path`."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    except FileExistsError:
        pass
    make_private(path, companions=companions)
    return path


def make_private(*paths: Path, companions: Iterable[str] = ()) -> None:
    """chmod 0600 each of `paths` and their companion files (`path` + suffix) that exist."""
    suffixes = ("", *companions)
    for path in paths:
        for suffix in suffixes:
            candidate = path.with_name(path.name + suffix) if suffix else path
            with contextlib.suppress(FileNotFoundError):
                if candidate.is_file() and candidate.stat().st_mode & 0o777 != FILE_MODE:
                    candidate.chmod(FILE_MODE)
