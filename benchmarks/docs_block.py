"""docs/BENCHMARKS.md holds one marked block per benchmark; each benchmark rewrites only its own."""

from __future__ import annotations

from pathlib import Path

DOCS_PATH = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"


def write_block(begin: str, end: str, section: str, path: Path = DOCS_PATH) -> None:
    """Replace the text between the `begin` and `end` markers (append the block if missing)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if begin in text and end in text and text.index(begin) < text.index(end):
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{section}\n{end}{tail}"
    else:
        text = f"{text.rstrip()}\n\n{begin}\n{section}\n{end}\n"
    path.write_text(text)
