"""Secret settings read from files: `CRM_<NAME>_FILE` names a file holding `CRM_<NAME>`.

Container platforms (Docker and Kubernetes secrets, systemd credentials) mount secrets as
files rather than environment variables, which leak into `/proc/<pid>/environ`, crash reports
and child processes. Every secret field of the settings (a `SecretStr` or `SecretBytes`, found
by its type, so fields added later get this too) accepts either form, never both.
"""

from __future__ import annotations

import os
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import SecretBytes, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from pydantic_settings.exceptions import SettingsError

FILE_SUFFIX = "_FILE"


def is_secret(annotation: Any) -> bool:
    """Whether a field's type is a secret, alone or in a union (`SecretStr | None`)."""
    if annotation in (SecretStr, SecretBytes):
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return any(is_secret(arg) for arg in get_args(annotation))
    return False


def secret_fields(settings_cls: type[BaseSettings]) -> list[str]:
    return [name for name, field in settings_cls.model_fields.items()
            if is_secret(field.annotation)]


def read_secret_file(variable: str, path: str) -> str:
    """The secret in `path`, without its trailing newline; a clear error when unreadable
    (naming the variable and the path, never any of the file's content)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SettingsError(f"{variable} names {path!r}, which cannot be read: {reason}") \
            from None
    return text.rstrip("\r\n")


class SecretFilesSource(PydanticBaseSettingsSource):
    """A settings source giving each secret field the content of its `<PREFIX><NAME>_FILE`.

    Placed above the environment, so an empty `CRM_<NAME>` (compose files often pass one
    through unset) does not hide the file; a non-empty one beside the file is refused.
    """

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self._prefix = str(self.config.get("env_prefix", ""))
        self._case_sensitive = bool(self.config.get("case_sensitive", False))

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is done in __call__

    def __call__(self) -> dict[str, Any]:
        environ: dict[str, str] = dict(os.environ) if self._case_sensitive else {
            name.upper(): value for name, value in os.environ.items()}
        found: dict[str, Any] = {}
        for name in secret_fields(self.settings_cls):
            variable = f"{self._prefix}{name}"
            if not self._case_sensitive:
                variable = variable.upper()
            path = environ.get(variable + FILE_SUFFIX)
            if path is None:
                continue
            if environ.get(variable):
                raise SettingsError(f"both {variable} and {variable}{FILE_SUFFIX} are set: "
                                    "give the secret one way only")
            found[name] = read_secret_file(variable + FILE_SUFFIX, path)
        return found
