"""Domain errors. The HTTP edge translates each into one JSON error shape."""

from __future__ import annotations

from typing import Any
from uuid import UUID


class DomainError(Exception):
    """Base of every refusal the command side can give."""

    code = "domain_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class RuleViolation(DomainError):
    """A domain rule refused the command. `rule` names the rule that refused."""

    code = "rule_violation"

    def __init__(self, rule: str, message: str, **details: Any) -> None:
        super().__init__(message, rule=rule, **details)
        self.rule = rule


class NotFound(DomainError):
    code = "not_found"

    def __init__(self, kind: str, aggregate_id: UUID | str) -> None:
        super().__init__(f"{kind} {aggregate_id} not found", kind=kind, id=str(aggregate_id))


class VersionConflict(DomainError):
    """The aggregate is not at the version the command was conditioned on."""

    code = "version_conflict"

    def __init__(self, kind: str, aggregate_id: UUID, expected: int | None, current: int) -> None:
        message = (
            f"{kind} {aggregate_id} is at version {current}, not {expected}"
            if expected is not None
            else f"{kind} {aggregate_id} was changed concurrently (now version {current}); retry"
        )
        super().__init__(
            message, kind=kind, id=str(aggregate_id), expected_version=expected,
            current_version=current,
        )
        self.current_version = current


class Duplicate(DomainError):
    """The command would create something that already exists under an external reference."""

    code = "duplicate"


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"


class InvalidRules(DomainError):
    """A rules file was refused; `details["problems"]` lists each line and reason."""

    code = "invalid_rules"
