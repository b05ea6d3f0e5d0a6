"""perfaudit's settings: one ``PERFAUDIT`` dict, read only through this module.

Every key is declared once in :data:`SETTINGS` with its default, its
validator and the sentence the docs render. The system checks
(:mod:`perfaudit.checks`) and the accessor below share those validators, so a
malformed value is reported by ``manage.py check`` with a stable id and, at
request time, silently replaced by its default instead of raising.

The accessor re-reads ``django.conf.settings.PERFAUDIT`` on every access so
that ``override_settings(PERFAUDIT={...})`` in tests just works; callers read
it once per recording or request, never per query. The validated values are
kept for the ``PERFAUDIT`` dict they came from, and used again while that
same object (identical, with equal keys and values) is the setting: the
middleware reads a dozen keys per request, and validating each on every read
cost it microseconds. A value changed by assignment or ``override_settings``
is seen at once; one mutated in place inside a nested value (Django's
settings are not meant to change at run time) may not be.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from django.conf import settings as django_settings

from perfaudit.conf.registry import SETTINGS, Setting
from perfaudit.conf.validators import Problem, valid_budgets, value_repr

__all__ = ["SETTINGS", "Problem", "Setting", "app_settings", "user_settings"]

logger = logging.getLogger("perfaudit")


_EMPTY: Final[Mapping[str, Any]] = {}


def user_settings() -> Mapping[str, Any]:
    """The raw ``PERFAUDIT`` dict, or an empty one when unset or not a dict."""
    value = getattr(django_settings, "PERFAUDIT", None)
    if type(value) is dict or isinstance(value, Mapping):  # the ABC test only for non-dicts
        return value
    return _EMPTY


_warned: set[tuple[str, str]] = set()


class AppSettings:
    """Typed, validated view of ``settings.PERFAUDIT``, re-read on every access.

    An invalid value never raises here: the system check reports it, and this
    accessor falls back to the default (logging one warning per bad value).
    """

    def __init__(self) -> None:
        # (the PERFAUDIT object, a shallow copy of it, its validated values)
        self._validated: tuple[Mapping[str, Any], dict[str, Any], dict[str, Any]] | None = None

    def get(self, name: str, *, raw: Mapping[str, Any] | None = None) -> Any:
        """The validated value of ``name``; ``raw`` is the ``PERFAUDIT`` dict if
        the caller already read it."""
        return self.values(raw)[name]

    def values(self, raw: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        """Every setting's validated value, by name: several keys for one lookup
        of ``PERFAUDIT`` (the middleware and ``record()`` read them per request)."""
        if raw is None:
            raw = user_settings()
        cached = self._validated
        if cached is None or cached[0] is not raw or cached[1] != raw:
            values = {key: self._read(key, raw) for key in SETTINGS}
            cached = self._validated = (raw, dict(raw), values)
        return cached[2]

    def _read(self, name: str, raw: Mapping[str, Any]) -> Any:
        setting = SETTINGS[name]
        if name not in raw:
            return setting.default
        value = raw[name]
        try:
            problem = setting.validate(name, value)
        except Exception as exc:  # a value whose methods raise: the check reports it
            problem = Problem("perfaudit.E003", f"PERFAUDIT[{name!r}] cannot be read: {exc}", "")
        if problem is None:
            return value
        key = (name, value_repr(value))
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
    def CAPTURE_HTTP_URLS(self) -> bool:
        return cast(bool, self.get("CAPTURE_HTTP_URLS"))

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
        """The valid budget entries: one bad limit drops its own entry (with the
        warning :meth:`get` logs once), never every other view's budget."""
        raw = user_settings()
        value = raw.get("BUDGETS")
        if isinstance(value, Mapping):
            try:
                kept = valid_budgets(value)
            except Exception:  # a value whose methods raise: get() reports it
                kept = {}
            if len(kept) != len(value):
                self.get("BUDGETS", raw=raw)  # logs the problem once
            return kept
        return cast("Mapping[str, Mapping[str, float]]", self.get("BUDGETS", raw=raw))

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
    def JSONL_IN_TESTS(self) -> bool:
        return cast(bool, self.get("JSONL_IN_TESTS"))

    @property
    def EXCLUDE(self) -> Sequence[str]:
        return cast("Sequence[str]", self.get("EXCLUDE"))

    @property
    def JSONL_MAX_BYTES(self) -> int | None:
        return cast("int | None", self.get("JSONL_MAX_BYTES"))

    @property
    def OTEL(self) -> bool:
        return cast(bool, self.get("OTEL"))

    @property
    def SCENARIOS(self) -> tuple[str, ...]:
        return tuple(cast("list[str]", self.get("SCENARIOS")))

    @property
    def PAYLOAD_IGNORE(self) -> tuple[str, ...]:
        return tuple(cast("list[str]", self.get("PAYLOAD_IGNORE")))

    @property
    def PAYLOAD_IGNORE_TEXT(self) -> tuple[str, ...]:
        return tuple(cast("list[str]", self.get("PAYLOAD_IGNORE_TEXT")))


app_settings: Final = AppSettings()
