"""Validators for the ``PERFAUDIT`` keys, shared by the system checks and the accessor.

Each validator takes the key's name and its raw value and returns a
:class:`Problem` (``perfaudit.E003`` wrong type, ``perfaudit.E004`` out of
range or malformed) or ``None``. One function decides for both the check and
the runtime, so a value ``manage.py check`` accepts is a value the runtime
uses, and the other way round.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any, NamedTuple

__all__ = [
    "Problem",
    "Validator",
    "boolean",
    "budget_problems",
    "budgets",
    "fraction",
    "int_at_least",
    "number_at_least",
    "optional_path",
    "payload_patterns",
    "setting_path",
    "str_sequence",
    "text_masks",
    "valid_budgets",
    "value_repr",
]


class Problem(NamedTuple):
    """What is wrong with one setting value, as a system check reports it."""

    check_id: str
    message: str
    hint: str


Validator = Callable[[str, Any], Problem | None]


def setting_path(name: str, *keys: object) -> str:
    """How messages name a setting or a value inside it, one quoting style:
    ``PERFAUDIT['BUDGETS']['catalog:book-list']['db_ms']``."""
    return "PERFAUDIT" + "".join(f"[{key!r}]" for key in (name, *keys))


def _path(name: str) -> str:
    # Nested values are validated under a pre-rendered path (see budget_problems).
    return name if name.startswith("PERFAUDIT[") else setting_path(name)


_REPR_LIMIT = 80


def value_repr(value: Any) -> str:
    """``repr(value)``, shortened, and never raising: a check must report, not crash."""
    try:
        text = repr(value)
    except Exception:
        return f"<{type(value).__name__} whose repr() fails>"
    if not isinstance(text, str):  # pragma: no cover - repr() already enforces it
        return f"<{type(value).__name__}>"
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 1] + "…"


def _wrong_type(name: str, value: Any, expected: str) -> Problem:
    return Problem(
        "perfaudit.E003",
        f"{_path(name)} must be {expected}, got {type(value).__name__} {value_repr(value)}.",
        f"Set {_path(name)} to {expected}, or remove it to use the default.",
    )


def boolean(name: str, value: Any) -> Problem | None:
    if not isinstance(value, bool):
        return _wrong_type(name, value, "a bool (True or False)")
    return None


def int_at_least(minimum: int) -> Validator:
    def validate(name: str, value: Any) -> Problem | None:
        # bool is an int subclass; PERFAUDIT["MAX_QUERIES"] = True is a mistake.
        if isinstance(value, bool) or not isinstance(value, int):
            return _wrong_type(name, value, "an int")
        if value < minimum:
            return Problem(
                "perfaudit.E004",
                f"{_path(name)} must be at least {minimum}, got {value_repr(value)}.",
                f"Use a whole number >= {minimum}.",
            )
        return None

    return validate


def number_at_least(minimum: float) -> Validator:
    def validate(name: str, value: Any) -> Problem | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _wrong_type(name, value, "a number")
        if isinstance(value, float) and math.isnan(value):
            # Every comparison with NaN is false: the threshold would never fire.
            return Problem(
                "perfaudit.E004",
                f"{_path(name)} is NaN, which no value ever exceeds.",
                f"Use a number >= {minimum}.",
            )
        if value < minimum:
            return Problem(
                "perfaudit.E004",
                f"{_path(name)} must be at least {minimum}, got {value_repr(value)}.",
                f"Use a number >= {minimum}.",
            )
        return None

    return validate


def fraction(name: str, value: Any) -> Problem | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _wrong_type(name, value, "a number between 0 and 1")
    if not 0 <= value <= 1:
        return Problem(
            "perfaudit.E004",
            f"{_path(name)} must be between 0 and 1, got {value_repr(value)}.",
            "Use 1.0 to record every request, 0.1 for one in ten, 0 for none.",
        )
    return None


def optional_size(name: str, value: Any) -> Problem | None:
    """None, or a file size in bytes large enough to hold a few lines."""
    if value is None:
        return None
    return int_at_least(4096)(name, value)


def optional_path(name: str, value: Any) -> Problem | None:
    if value is not None and (not isinstance(value, str | PurePath) or not str(value)):
        return _wrong_type(name, value, "a file path (str or pathlib.Path) or None")
    if value is not None and "\x00" in str(value):
        return Problem(
            "perfaudit.E004",
            f"{_path(name)} holds a NUL byte, which no file path may contain.",
            "Remove the NUL byte (often from a mis-decoded environment variable).",
        )
    return None


def str_sequence(name: str, value: Any) -> Problem | None:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        return _wrong_type(name, value, "a list of strings")
    for item in value:
        if not isinstance(item, str) or not item:
            return _wrong_type(name, value, "a list of non-empty strings")
    return None


def payload_patterns(name: str, value: Any) -> Problem | None:
    problem = str_sequence(name, value)
    if problem is not None:
        return problem
    # Imported here, not at the top: perfaudit.payload reads app_settings, so a
    # module-level import would be circular.
    from perfaudit.payload._jsonpath import compile_pattern

    for pattern in value:
        try:
            compile_pattern(pattern)
        except ValueError as exc:
            return Problem(
                "perfaudit.E004",
                f"{_path(name)} has a malformed pattern: {exc}",
                "Fix or remove the pattern; each must start with '$' and use only "
                ".name, ['name'], [n], [*] and ..name steps.",
            )
    return None


def text_masks(name: str, value: Any) -> Problem | None:
    problem = str_sequence(name, value)
    if problem is not None:
        return problem
    from perfaudit.payload._textmask import compile_text_mask

    for entry in value:
        try:
            compile_text_mask(entry)
        except ValueError as exc:
            return Problem(
                "perfaudit.E004",
                f"PERFAUDIT[{name!r}] has a malformed mask: {exc}",
                "Use 'csrf', 'nonce', or a regular expression with a capturing group "
                "around the part to ignore.",
            )
    return None


def budgets(name: str, value: Any) -> Problem | None:
    """The first problem of the ``BUDGETS`` value (see :func:`budget_problems`)."""
    problems = budget_problems(name, value)
    return problems[0] if problems else None


def budget_problems(name: str, value: Any) -> list[Problem]:
    """Every problem of the ``BUDGETS`` value: each budget entry, each limit.

    The system check reports them all (an entry with two mistakes shows two
    errors); the runtime keeps the entries that have none (:func:`valid_budgets`).
    """
    if not isinstance(value, Mapping):
        return [
            _wrong_type(name, value, 'a dict of view name -> {"queries": int, "db_ms": number}')
        ]
    problems: list[Problem] = []
    for view, limits in value.items():
        problems.extend(_entry_problems(name, view, limits))
    return problems


def valid_budgets(value: Mapping[Any, Any]) -> dict[str, Any]:
    """The budget entries of ``value`` that have no problem."""
    return {
        view: limits
        for view, limits in value.items()
        if not _entry_problems("BUDGETS", view, limits)
    }


def _entry_problems(name: str, view: Any, limits: Any) -> list[Problem]:
    if not isinstance(view, str) or not view:
        return [
            _wrong_type(
                setting_path(name, view), view, "a view name (a non-empty string) as the key"
            )
        ]
    if not isinstance(limits, Mapping):
        return [_wrong_type(setting_path(name, view), limits, 'a dict such as {"queries": 15}')]
    problems: list[Problem] = []
    for key, limit in limits.items():
        if not isinstance(key, str) or key not in ("queries", "db_ms"):
            problems.append(
                Problem(
                    "perfaudit.E004",
                    f"{setting_path(name, view)} has an unknown limit {value_repr(key)}.",
                    'A budget may limit "queries" (int) and "db_ms" (number).',
                )
            )
            continue
        validate = int_at_least(0) if key == "queries" else number_at_least(0)
        problem = validate(setting_path(name, view, key), limit)
        if problem is not None:
            problems.append(problem)
    return problems
