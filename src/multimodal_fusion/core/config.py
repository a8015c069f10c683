"""Typed settings from parameter dicts: a misspelt key stops the run instead of doing nothing.

Every group of parameters a library function reads becomes a frozen dataclass through
`typed_settings`, which names the group, the unknown key and the keys it accepts. The
dataclasses' defaults equal `conf/base` (a test holds them together), so library code used
without Kedro behaves as the project does. No Kedro.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

Settings = TypeVar("Settings")


class SettingsError(ValueError):
    """A parameter group with a key its settings do not have; the message names both."""


def typed_settings(cls: type[Settings], values: dict[str, Any] | None, where: str,
                   **fixed: Any) -> Settings:
    """`cls` built from `values`, refusing keys it does not know.

    `where` is the parameter group as a user writes it (`training.fit`), so the message
    points at the line to fix; `fixed` are values the caller supplies, not the user.
    """
    values = dict(values or {})
    allowed = [field.name for field in fields(cls) if field.name not in fixed]
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise SettingsError(
            f"{where}: unknown key {', '.join(repr(k) for k in unknown)}; "
            f"the keys it takes are {', '.join(allowed) or 'none'}")
    return cls(**values, **fixed)
