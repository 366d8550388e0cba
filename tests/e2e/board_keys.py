"""Moving a card on the pipeline board with the keyboard, as a person does: Space picks it up,
arrows carry it across the columns, Space drops it.

The board's drag sensor starts listening for arrow keys a moment after the pick-up, so a busy
browser may take an arrow key before it and drop it. `arrow_over` therefore looks where the
card is before each press, and presses again — back, if one too many got through — until the
column it wants is the one under the card. Language-neutral: columns are found by their stage
code (`data-stage`), not their names."""

from __future__ import annotations

from typing import Any

from tests.waiting import eventually

OVER = ".board__column--over"


def arrow_over(page: Any, stage: str, timeout_s: float = 60) -> None:
    """With a card picked up, press arrows until the column of `stage` is under it."""
    order: list[str] = page.locator(".board__column[data-stage]").evaluate_all(
        "columns => columns.map(column => column.dataset.stage)")
    assert stage in order, f"no column {stage} on the board: {order}"
    picked: list[str] = []

    def over_it() -> bool:
        where = page.locator(f".board__column{OVER}").evaluate_all(
            "columns => columns.map(column => column.dataset.stage)")
        current = where[0] if where else (picked[0] if picked else None)
        if current == stage:
            return True
        if current is None:  # nothing over yet: the card's own column is where it starts
            current = page.locator('.board__handle[aria-pressed="true"]').evaluate(
                "handle => handle.closest('.board__column').dataset.stage")
            picked.append(current)
        page.keyboard.press("ArrowRight" if order.index(current) < order.index(stage)
                            else "ArrowLeft")
        return False

    eventually(over_it, timeout_s, lambda: f"the card never got over column {stage}",
               interval_s=0.5)
