"""perfaudit's settings: one ``PERFAUDIT`` dict, read only through this module.

Every key is declared once in :data:`SETTINGS` with its default, its
validator and the sentence the docs render. The system checks
(:mod:`perfaudit.checks`) and the accessor below share those validators, so a
malformed value is reported by ``manage.py check`` with a stable id and, at
request time, silently replaced by its default instead of raising.

The accessor re-reads ``django.conf.settings.PERFAUDIT`` on every access so
that ``override_settings(PERFAUDIT={...})`` in tests just works; callers read
it once per recording or request, never per query.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Final, NamedTuple, cast

from django.conf import settings as django_settings

__all__ = ["SETTINGS", "Problem", "Setting", "app_settings", "user_settings"]

logger = logging.getLogger("perfaudit")


class Problem(NamedTuple):
    """What is wrong with one setting value, as a system check reports it."""

    check_id: str
    message: str
    hint: str


Validator = Callable[[str, Any], Problem | None]


@dataclass(frozen=True)
class Setting:
    """One key of the ``PERFAUDIT`` dict."""

    name: str
    default: Any
    type_label: str
    doc: str
    validate: Validator


# -- validators ---------------------------------------------------------------
# Each returns a Problem (E003 wrong type, E004 value out of range) or None.


def _wrong_type(name: str, value: Any, expected: str) -> Problem:
    return Problem(
        "perfaudit.E003",
        f"PERFAUDIT[{name!r}] must be {expected}, got {type(value).__name__} {value!r}.",
        f"Set PERFAUDIT[{name!r}] to {expected}, or remove it to use the default.",
    )


def _bool(name: str, value: Any) -> Problem | None:
    if not isinstance(value, bool):
        return _wrong_type(name, value, "a bool (True or False)")
    return None


def _int_at_least(minimum: int) -> Validator:
    def validate(name: str, value: Any) -> Problem | None:
        # bool is an int subclass; PERFAUDIT["MAX_QUERIES"] = True is a mistake.
        if isinstance(value, bool) or not isinstance(value, int):
            return _wrong_type(name, value, "an int")
        if value < minimum:
            return Problem(
                "perfaudit.E004",
                f"PERFAUDIT[{name!r}] must be at least {minimum}, got {value}.",
                f"Use a whole number >= {minimum}.",
            )
        return None

    return validate


def _number_at_least(minimum: float) -> Validator:
    def validate(name: str, value: Any) -> Problem | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _wrong_type(name, value, "a number")
        if value < minimum:
            return Problem(
                "perfaudit.E004",
                f"PERFAUDIT[{name!r}] must be at least {minimum}, got {value}.",
                f"Use a number >= {minimum}.",
            )
        return None

    return validate


def _fraction(name: str, value: Any) -> Problem | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _wrong_type(name, value, "a number between 0 and 1")
    if not 0 <= value <= 1:
        return Problem(
            "perfaudit.E004",
            f"PERFAUDIT[{name!r}] must be between 0 and 1, got {value}.",
            "Use 1.0 to record every request, 0.1 for one in ten, 0 for none.",
        )
    return None


def _optional_path(name: str, value: Any) -> Problem | None:
    if value is not None and (not isinstance(value, str | PurePath) or not str(value)):
        return _wrong_type(name, value, "a file path (str or pathlib.Path) or None")
    return None


def _str_sequence(name: str, value: Any) -> Problem | None:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        return _wrong_type(name, value, "a list of strings")
    for item in value:
        if not isinstance(item, str) or not item:
            return _wrong_type(name, value, "a list of non-empty strings")
    return None


def _payload_patterns(name: str, value: Any) -> Problem | None:
    problem = _str_sequence(name, value)
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
                f"PERFAUDIT[{name!r}] has a malformed pattern: {exc}",
                "Fix or remove the pattern; each must start with '$' and use only "
                ".name, ['name'], [n], [*] and ..name steps.",
            )
    return None


def _budgets(name: str, value: Any) -> Problem | None:
    if not isinstance(value, Mapping):
        return _wrong_type(name, value, 'a dict of view name -> {"queries": int, "db_ms": number}')
    for view, limits in value.items():
        if not isinstance(view, str) or not view:
            return _wrong_type(name, value, "a dict keyed by view names (non-empty strings)")
        if not isinstance(limits, Mapping):
            return _wrong_type(f"{name}'][{view!r}", limits, 'a dict such as {"queries": 15}')
        for key, limit in limits.items():
            if key not in ("queries", "db_ms"):
                return Problem(
                    "perfaudit.E004",
                    f"PERFAUDIT[{name!r}][{view!r}] has an unknown limit {key!r}.",
                    'A budget may limit "queries" (int) and "db_ms" (number).',
                )
            validate = _int_at_least(0) if key == "queries" else _number_at_least(0)
            problem = validate(f"{name}'][{view!r}][{key!r}", limit)
            if problem is not None:
                return problem
    return None


# -- the settings -------------------------------------------------------------

SETTINGS: Final[Mapping[str, Setting]] = {
    s.name: s
    for s in (
        Setting(
            "MAX_QUERIES",
            10_000,
            "int >= 1",
            "Most query events one recording keeps. Further queries are still executed "
            "and counted (`Recording.overflow`, `len(recording)`) but not stored, so a "
            "runaway loop cannot exhaust memory.",
            _int_at_least(1),
        ),
        Setting(
            "CAPTURE_CALLSITES",
            True,
            "bool",
            "Attribute each query to the first frame outside Django, perfaudit, the "
            "standard library and site-packages. Costs a short stack walk per query; "
            "turn it off for the cheapest possible capture.",
            _bool,
        ),
        Setting(
            "CAPTURE_PARAMS",
            True,
            "bool",
            "Keep SQL parameter values on each event. The detectors need them to tell "
            "an N+1 (different values) from a duplicate (same values). They stay in "
            "process memory; nothing emits them unless DEBUG is on or you opt in.",
            _bool,
        ),
        Setting(
            "CALLSITE_SKIP_MODULES",
            (),
            "list[str]",
            "Extra module-name prefixes treated as library code when attributing call "
            "sites, e.g. `['myproject.db_helpers']` so the frame that called your "
            "helper is reported instead of the helper itself.",
            _str_sequence,
        ),
        Setting(
            "N_PLUS_ONE_MIN_REPEATS",
            3,
            "int >= 2",
            "How many queries of one shape, from one call site, with different parameters, "
            "make an N+1 finding. See docs/detectors.md for why 3.",
            _int_at_least(2),
        ),
        Setting(
            "DUPLICATE_MIN_REPEATS",
            2,
            "int >= 2",
            "How many runs of the same read with the same parameters make a duplicate finding.",
            _int_at_least(2),
        ),
        Setting(
            "SLOW_QUERY_MS",
            100,
            "number >= 0",
            "A query at least this long (milliseconds) is reported as slow.",
            _number_at_least(0),
        ),
        Setting(
            "BUDGETS",
            {},
            "dict[str, dict]",
            "Per-view limits, keyed by view name (`namespace:name`) or shell pattern "
            '(`events:*`): `{"events:event-list": {"queries": 15, "db_ms": 50}}`. '
            "Checked by the test API and the middleware.",
            _budgets,
        ),
        Setting(
            "HEADERS",
            False,
            "bool",
            "Send the `Server-Timing`, `X-PerfAudit-Queries` and `X-PerfAudit-Payload` "
            "response headers even when DEBUG is off. With DEBUG on they are always sent.",
            _bool,
        ),
        Setting(
            "RAISE",
            False,
            "bool",
            "Make the middleware raise when a view exceeds its budget, instead of logging "
            "it. For development servers only.",
            _bool,
        ),
        Setting(
            "PAYLOAD_HASH",
            False,
            "bool",
            "Make the middleware hash each response's canonical payload (logged, stored, "
            "and sent as `X-PerfAudit-Payload` under the `HEADERS` rule).",
            _bool,
        ),
        Setting(
            "SAMPLE_RATE",
            1.0,
            "number 0..1",
            "Fraction of requests the middleware records when DEBUG is off. With DEBUG on "
            "every request is recorded.",
            _fraction,
        ),
        Setting(
            "STORE_MAX_VIEWS",
            1000,
            "int >= 1",
            "Most views whose aggregates the in-process store keeps; the least recently "
            "seen view is dropped first, so memory stays bounded.",
            _int_at_least(1),
        ),
        Setting(
            "JSONL_PATH",
            None,
            "path or None",
            "Append one JSON line per recorded request to this file, for "
            "`manage.py perfaudit report --from FILE`. Off by default.",
            _optional_path,
        ),
        Setting(
            "JSONL_PARAMS",
            False,
            "bool",
            "Include SQL parameter values in the JSONL lines (opt-in: they may hold personal "
            "data). `report --explain` needs them to EXPLAIN the exact statements.",
            _bool,
        ),
        Setting(
            "SCENARIOS",
            (),
            "list[str]",
            "Dotted paths of modules that declare `@perfaudit.scenario`s, for "
            "`manage.py perfaudit audit` and `compare`.",
            _str_sequence,
        ),
        Setting(
            "PAYLOAD_IGNORE",
            (),
            "list[str]",
            "JSONPath-like patterns (`$.results[*].updated_at`, `$..csrf_token`) whose "
            "values are replaced by a fixed marker before a payload is hashed, for fields "
            "that legitimately change between two runs.",
            _payload_patterns,
        ),
    )
}


def user_settings() -> Mapping[str, Any]:
    """The raw ``PERFAUDIT`` dict, or an empty one when unset or not a dict."""
    value = getattr(django_settings, "PERFAUDIT", None)
    if isinstance(value, Mapping):
        return value
    return {}


_warned: set[tuple[str, str]] = set()


class AppSettings:
    """Typed, validated view of ``settings.PERFAUDIT``, re-read on every access.

    An invalid value never raises here: the system check reports it, and this
    accessor falls back to the default (logging one warning per bad value).
    """

    def get(self, name: str, *, raw: Mapping[str, Any] | None = None) -> Any:
        """The validated value of ``name``; ``raw`` is the ``PERFAUDIT`` dict if
        the caller already read it (to read several keys with one lookup)."""
        setting = SETTINGS[name]
        if raw is None:
            raw = user_settings()
        if name not in raw:
            return setting.default
        value = raw[name]
        problem = setting.validate(name, value)
        if problem is None:
            return value
        key = (name, repr(value))
        if key not in _warned:
            _warned.add(key)
            logger.warning(
                "%s Using the default %r. (%s)", problem.message, setting.default, problem.check_id
            )
        return setting.default

    @property
    def MAX_QUERIES(self) -> int:
        return cast(int, self.get("MAX_QUERIES"))

    @property
    def CAPTURE_CALLSITES(self) -> bool:
        return cast(bool, self.get("CAPTURE_CALLSITES"))

    @property
    def CAPTURE_PARAMS(self) -> bool:
        return cast(bool, self.get("CAPTURE_PARAMS"))

    @property
    def CALLSITE_SKIP_MODULES(self) -> tuple[str, ...]:
        return tuple(cast("list[str]", self.get("CALLSITE_SKIP_MODULES")))

    @property
    def N_PLUS_ONE_MIN_REPEATS(self) -> int:
        return cast(int, self.get("N_PLUS_ONE_MIN_REPEATS"))

    @property
    def DUPLICATE_MIN_REPEATS(self) -> int:
        return cast(int, self.get("DUPLICATE_MIN_REPEATS"))

    @property
    def SLOW_QUERY_MS(self) -> float:
        return cast(float, self.get("SLOW_QUERY_MS"))

    @property
    def BUDGETS(self) -> Mapping[str, Mapping[str, float]]:
        return cast("Mapping[str, Mapping[str, float]]", self.get("BUDGETS"))

    @property
    def HEADERS(self) -> bool:
        return cast(bool, self.get("HEADERS"))

    @property
    def RAISE(self) -> bool:
        return cast(bool, self.get("RAISE"))

    @property
    def PAYLOAD_HASH(self) -> bool:
        return cast(bool, self.get("PAYLOAD_HASH"))

    @property
    def SAMPLE_RATE(self) -> float:
        return float(self.get("SAMPLE_RATE"))

    @property
    def STORE_MAX_VIEWS(self) -> int:
        return cast(int, self.get("STORE_MAX_VIEWS"))

    @property
    def JSONL_PATH(self) -> str | None:
        value = self.get("JSONL_PATH")
        return str(value) if value is not None else None

    @property
    def JSONL_PARAMS(self) -> bool:
        return cast(bool, self.get("JSONL_PARAMS"))

    @property
    def SCENARIOS(self) -> tuple[str, ...]:
        return tuple(cast("list[str]", self.get("SCENARIOS")))

    @property
    def PAYLOAD_IGNORE(self) -> tuple[str, ...]:
        return tuple(cast("list[str]", self.get("PAYLOAD_IGNORE")))


app_settings: Final = AppSettings()
