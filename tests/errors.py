"""The one error shape every API answers with, as tests check it."""

from __future__ import annotations

from typing import Any


def error_shaped(response: Any, status: int | range, code: str | None = None, *,
                 rule: str | None = None) -> dict[str, Any]:
    """Assert `response` has this status (or one in this range) and the error body
    `{code, message, details}` (with this `code`; for a refused domain rule, code
    `rule_violation` and this `details.rule`); return the body."""
    expected = status if isinstance(status, range) else range(status, status + 1)
    assert response.status_code in expected, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert isinstance(body["code"], str) and body["message"] and isinstance(body["details"], dict)
    if code is not None:
        assert body["code"] == code, body
    if rule is not None:
        assert body["code"] == "rule_violation", body
        assert body["details"]["rule"] == rule, body
    return body
