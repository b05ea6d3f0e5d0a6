"""Django system checks for the ``PERFAUDIT`` setting.

Ids are stable and documented (docs/settings.md):

* ``perfaudit.E001`` - ``PERFAUDIT`` is not a dict.
* ``perfaudit.E002`` - unknown key (usually a typo; the hint suggests the key you meant).
* ``perfaudit.E003`` - a value has the wrong type.
* ``perfaudit.E004`` - a value is out of range (e.g. a negative threshold) or
  malformed (a bad ``PAYLOAD_IGNORE`` pattern, an unknown budget limit).

The scenario checks (``perfaudit.E010``, ``E011``, ``W010``) live in
:mod:`perfaudit.scenarios.checks`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from perfaudit.conf import SETTINGS

__all__ = ["check_settings"]


@register(Tags.compatibility)
def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Validate every key of ``settings.PERFAUDIT`` against :data:`perfaudit.conf.SETTINGS`."""
    if not hasattr(settings, "PERFAUDIT"):
        return []
    raw = getattr(settings, "PERFAUDIT", None)
    if not isinstance(raw, Mapping):
        return [
            Error(
                f"PERFAUDIT must be a dict, got {type(raw).__name__}.",
                hint="Define PERFAUDIT = {...} in your settings, or remove it to use defaults.",
                id="perfaudit.E001",
            )
        ]

    errors: list[CheckMessage] = []
    for name, value in raw.items():
        setting = SETTINGS.get(name) if isinstance(name, str) else None
        if setting is None:
            errors.append(_unknown_key(name))
            continue
        problem = setting.validate(name, value)
        if problem is not None:
            errors.append(Error(problem.message, hint=problem.hint, id=problem.check_id))
    return errors


def _unknown_key(name: object) -> Error:
    close = difflib.get_close_matches(str(name), list(SETTINGS), n=1)
    hint = (
        f"Did you mean {close[0]!r}?"
        if close
        else "Valid keys: " + ", ".join(sorted(SETTINGS)) + "."
    )
    return Error(f"PERFAUDIT has an unknown key {name!r}.", hint=hint, id="perfaudit.E002")
