"""Sealing the `personal` object of an event's JSON state, and opening it again.

Only `personal` is ever sealed (DESIGN.md §4): the rest of an event stays readable, so counts,
amounts, stages and dates survive an erasure. The same sealed object is stored, published and
(re-sealed per read model) projected; only a holder of the customer's data key can open it.
"""

from __future__ import annotations

from typing import Any

from services.common.privacy.vault import PersonalDataVault, is_sealed


def seal_state(state: dict[str, Any], vault: PersonalDataVault) -> None:
    """Seal `state["personal"]` in place (null stays null)."""
    personal = state.get("personal")
    if personal is None or is_sealed(personal):
        return
    values = {k: v for k, v in personal.items() if v is not None}
    state["personal"] = vault.seal(state["customer_id"], state["event_id"], values)


def open_state(state: dict[str, Any], vault: PersonalDataVault | None) -> None:
    """Open `state["personal"]` in place: its values, or null when the key is gone (or there is
    no vault to open it with)."""
    personal = state.get("personal")
    if not isinstance(personal, dict) or not is_sealed(personal):
        return
    state["personal"] = (vault.open(state["customer_id"], state["event_id"], personal)
                         if vault is not None else None)
