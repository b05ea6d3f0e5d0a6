"""Django system checks for the ``PERFAUDIT`` setting.

Ids are stable and documented (docs/settings.md):

* ``perfaudit.E001`` - ``PERFAUDIT`` is not a dict.
* ``perfaudit.E002`` - unknown key (usually a typo; the hint suggests the key you meant).
* ``perfaudit.E003`` - a value has the wrong type, or cannot be validated (its methods raise).
* ``perfaudit.E004`` - a value is out of range (e.g. a negative threshold) or
  malformed (a bad ``PAYLOAD_IGNORE`` pattern, an unknown budget limit, ``NaN``,
  a ``JSONL_PATH`` with a NUL byte or naming an existing FIFO, device or folder).

The scenario checks (``perfaudit.E010``, ``E011``, ``W010``) live in
:mod:`perfaudit.scenarios.checks`.
"""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Mapping, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from perfaudit.conf import SETTINGS, Problem
from perfaudit.conf.validators import budget_problems, value_repr

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
    try:
        items = list(raw.items())
    except Exception as exc:
        return [Error(f"PERFAUDIT cannot be read: {exc}", id="perfaudit.E001")]
    for name, value in items:
        setting = SETTINGS.get(name) if type(name) is str else None
        if setting is None:
            errors.append(_unknown_key(name))
            continue
        if setting.name == "BUDGETS":
            # Every mistake of every budget entry, not just the first.
            try:
                problems = budget_problems(setting.name, value)
            except Exception:
                problems = [p for p in [_validate(setting.name, value)] if p is not None]
        else:
            problem = _validate(setting.name, value)
            problems = [problem] if problem is not None else []
        errors.extend(Error(p.message, hint=p.hint, id=p.check_id) for p in problems)
    return errors


def _validate(name: str, value: Any) -> Problem | None:
    """The setting's validator, plus what only a check may afford (a ``stat``).

    A value whose methods raise is reported, not let through to crash the
    checks: the runtime would fall over it too.
    """
    try:
        problem = SETTINGS[name].validate(name, value)
    except Exception as exc:
        return Problem(
            "perfaudit.E003",
            f"PERFAUDIT[{name!r}] cannot be validated ({type(exc).__name__}: {exc}).",
            f"Set PERFAUDIT[{name!r}] to a plain value, or remove it to use the default.",
        )
    if problem is None and name == "JSONL_PATH" and value is not None:
        return _jsonl_target(name, os.fspath(value))
    return problem


def _jsonl_target(name: str, path: str) -> Problem | None:
    """The middleware appends to regular files only: a FIFO or a folder is refused there."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # created on the first request (a missing folder is logged then)
    if stat.S_ISREG(mode):
        return None
    return Problem(
        "perfaudit.E004",
        f"PERFAUDIT[{name!r}] {path!r} exists and is not a regular file.",
        "Point JSONL_PATH at a regular file (it is created if missing); FIFOs, "
        "devices and folders are refused.",
    )


def _unknown_key(name: object) -> Error:
    shown = value_repr(name)
    close = difflib.get_close_matches(name, list(SETTINGS), n=1) if type(name) is str else []
    hint = (
        f"Did you mean {close[0]!r}?"
        if close
        else "Valid keys: " + ", ".join(sorted(SETTINGS)) + "."
    )
    return Error(f"PERFAUDIT has an unknown key {shown}.", hint=hint, id="perfaudit.E002")
