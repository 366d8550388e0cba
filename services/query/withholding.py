"""What a caller's roles leave out of customer reads (permissions.FIELDS_WITHHELD): an analyst
reads customers without their personal data, a support agent without lead amounts and
discounts. A part is left out only when every role of the caller that may read customers
leaves it out (an analyst who is also a sales manager reads what the manager reads)."""

from __future__ import annotations

from typing import Any

from services.common.auth.http import Caller
from services.common.auth.permissions import FIELDS_WITHHELD, TABLE

LEAD_MONEY = ("amount", "currency", "paid", "discount")


def withheld(caller: Caller, action: str = "customers.read") -> frozenset[str]:
    """What the caller's roles that may do `action` (a read) all leave out."""
    roles = [r for r in caller.principal.roles if action in TABLE.get(r, {})]
    if not roles and caller.principal.scopes:  # an integration key reads by its scopes
        return frozenset()
    parts = [set(FIELDS_WITHHELD.get(role, ())) for role in roles]
    return frozenset(set.intersection(*parts)) if parts else frozenset()


def served(document: dict[str, Any], caller: Caller) -> dict[str, Any]:
    """The customer-360 document as this caller may read it."""
    document.pop("book", None)  # bookkeeping of the read model, not part of the customer
    hidden = withheld(caller)
    if "personal" in hidden:
        document["personal"] = {}
        document["display_name"] = _reference_name(document)
        _without_texts(document, "tasks", ("title", "note", "outcome_note"))
        _without_texts(document, "notes", ("body",))
    if "lead amounts" in hidden or "discounts" in hidden:
        document["leads"] = [{k: v for k, v in lead.items() if k not in LEAD_MONEY}
                             for lead in document.get("leads", [])]
        document["timeline"] = withheld_from_timeline(document.get("timeline", []), caller)
    return document


def _without_texts(document: dict[str, Any], part: str, fields: tuple[str, ...]) -> None:
    """The document's open tasks or notes without what people wrote in them."""
    found = document.get(part)
    if isinstance(found, dict) and found.get("items"):
        document[part] = {**found, "items": [{**item, **dict.fromkeys(fields)}
                                             for item in found["items"]]}


def withheld_from_summary(item: dict[str, Any], caller: Caller) -> dict[str, Any]:
    """A customer list item as this caller may read it."""
    if "personal" in withheld(caller):
        return {**item, "name": None, "email": None, "display_name": _reference_name(item)}
    return item


def _reference_name(customer: dict[str, Any]) -> str | None:
    """The display name without the person's name: the external reference (not personal),
    none once erased."""
    return None if customer.get("erased") else customer.get("external_ref")


def withheld_from_timeline(items: list[dict[str, Any]], caller: Caller) -> list[dict[str, Any]]:
    """Timeline entries as this caller may read them: without lead entries (their summaries
    name amounts) for a caller who may not see lead amounts."""
    if "lead amounts" in withheld(caller):
        return [item for item in items if item.get("kind") != "lead"]
    return items
