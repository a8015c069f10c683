"""Typed settings from parameter dicts: a misspelt key stops the run instead of doing nothing.

Every group of parameters a library function reads becomes a frozen dataclass through
`typed_settings`, which names the group and the key that is unknown or missing. The
dataclasses have no defaults: every value has one source, conf/base's parameters files,
where each key is documented (a test holds the two to the same keys). Library code used
without Kedro reads the same files (see the tests' `project_parameters`). No Kedro.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

Settings = TypeVar("Settings")


class SettingsError(ValueError):
    """A parameter group with a key its settings do not have, or without one they need; the
    message names the group and the key."""


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
    missing = [name for name in allowed if name not in values]
    if missing:
        raise SettingsError(
            f"{where}: missing key{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(k) for k in missing)}; conf/base's "
            "parameters files give every key, so a conf/local file or --params that names "
            "the group replaced it whole: name only the keys you change")
    return cls(**values, **fixed)


def dotted(values: dict, prefix: str = "") -> dict[str, Any]:
    """Nested parameters as `--params` and trackers name them: `training.fit.max_epochs`."""
    flattened = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flattened |= dotted(value, f"{prefix}{key}.")
        else:
            flattened[f"{prefix}{key}"] = value
    return flattened
