"""What every read-model store offers the projection runner.

Each projection's tables exist in generations: `<table>__g<N>`. A view named `<table>` points
at the active generation, which is what queries read. A rebuild fills generation N+1 while N
keeps serving, then `activate` repoints the views in one transaction.

Per (projection, generation, source partition) the store keeps the last applied source offset
and global position; they are written in the same transaction as the rows they produced.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from services.projections.model import Projection, Row, Table


def physical(table: Table | str, generation: int) -> str:
    name = table if isinstance(table, str) else table.name
    return f"{name}__g{generation}"


@dataclass(frozen=True)
class Progress:
    """How far a projection generation got in one source partition."""

    partition: int
    offset: int
    position: int
    event_recorded_at: str | None
    updated_at: str | None


@dataclass(frozen=True)
class DeadLetter:
    projection: str
    generation: int
    partition: int
    offset: int
    position: int | None
    event_id: str | None
    event_type: str | None
    error: str
    payload: str | None


class StoreTransaction(ABC):
    """One read-model transaction: rows, progress and dead letters commit together."""

    @abstractmethod
    def progress(self, projection: str, generation: int, lock: bool = False) -> dict[int, Progress]:
        """Progress per partition; `lock` holds the rows until commit (concurrent runners)."""

    @abstractmethod
    def load(self, table: Table, generation: int, ids: Sequence[str]) -> dict[str, Row]: ...

    @abstractmethod
    def write(self, table: Table, generation: int, upserts: list[Row], deletes: list[str]) -> None: ...

    @abstractmethod
    def save_progress(self, projection: str, generation: int, progress: Progress) -> None: ...

    @abstractmethod
    def dead_letter(self, letter: DeadLetter) -> None: ...

    @abstractmethod
    def active_generation(self, projection: str) -> int | None: ...


class ReadStore(ABC):
    """A database holding read models, their progress and their dead letters."""

    kind: str

    @abstractmethod
    def transaction(self) -> AbstractContextManager[StoreTransaction]: ...

    @abstractmethod
    def create_generation(self, projection: Projection, generation: int) -> None:
        """Create the generation's tables (empty) if they do not exist."""

    @abstractmethod
    def activate(self, projection: Projection, generation: int) -> None:
        """Point the projection's views at this generation and record it as active."""

    @abstractmethod
    def drop_generation(self, projection: Projection, generation: int) -> None: ...

    @abstractmethod
    def generations(self, projection: str) -> tuple[int | None, int]:
        """(active generation or None, highest generation that has progress or is active)."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Read-only query for the query side and tests (SQL in the store's dialect)."""

    @abstractmethod
    def dead_letter_counts(self) -> dict[str, int]: ...

    @abstractmethod
    def all_progress(self, projection: str, generation: int) -> dict[int, Progress]: ...

    @abstractmethod
    def close(self) -> None: ...

    def ensure_active(self, projection: Projection) -> int:
        """The active generation, creating generation 1 on first use."""
        active, _ = self.generations(projection.name)
        if active is None:
            self.create_generation(projection, 1)
            self.activate(projection, 1)
            return 1
        self.create_generation(projection, active)  # a table dropped by hand comes back empty
        return active


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
