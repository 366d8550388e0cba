"""UserAccount: a person who signs in with a password (a local account), and its changes."""

from __future__ import annotations

from uuid import UUID

from services.command.domain.aggregate import AggregateRoot, CommandContext
from services.command.domain.errors import RuleViolation
from services.common.events.access import UserAdded, UserDisabled, UserPasswordChanged


class UserAccount(AggregateRoot):
    kind = "user"
    created_by = UserAdded

    name: str
    disabled: bool

    @classmethod
    def add(cls, user_id: UUID, ctx: CommandContext, *, name: str, roles: list[str],
            teams: list[str], display_name: str | None) -> UserAccount:
        account = cls(user_id)
        account._record(UserAdded, ctx, customer_id=user_id, name=name, roles=roles,
                        teams=teams, display_name=display_name)
        return account

    def password_changed(self, ctx: CommandContext) -> None:
        if self.disabled:
            raise RuleViolation("user_disabled", "the account is disabled")
        self._record(UserPasswordChanged, ctx)

    def disable(self, ctx: CommandContext, reason: str | None) -> None:
        if self.disabled:
            raise RuleViolation("user_disabled", "the account is already disabled")
        self._record(UserDisabled, ctx, reason=reason)

    def _when_UserAdded(self, event: UserAdded) -> None:
        self._when_created(event)
        self.name, self.disabled = event.name, False

    def _when_UserPasswordChanged(self, event: UserPasswordChanged) -> None:
        pass

    def _when_UserDisabled(self, event: UserDisabled) -> None:
        self.disabled = True
