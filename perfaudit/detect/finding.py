"""The one finding type every detector returns and every consumer formats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from perfaudit.capture import CallSite

__all__ = ["KINDS", "SEVERITIES", "Finding"]

#: Finding kinds, in the order reports list them when costs tie.
KINDS: Final = (
    "n_plus_one",
    "count_distinct",
    "forced_group_by",
    "duplicate",
    "slow",
    "external_call",
    "cache_miss_db",
    "cache_repeat",
)
#: Severities, most severe first.
SEVERITIES: Final = ("high", "medium", "low")


@dataclass(frozen=True, slots=True)
class Finding:
    """An anti-pattern found in a recording, with the change that removes it.

    ``count`` and ``total_duration`` (seconds) cover the queries involved;
    ``share`` is their fraction of the recording's DB time (for
    ``external_call``, the calls' fraction of the request's wall time; for
    ``cache_repeat``, the repeated reads' fraction of its cache time). ``callsite`` is
    where the queries were issued (the first one when there are several, all of
    them in ``callsites``). ``model``/``relation``/``table`` name what is
    involved when the schema tells (``"testapp.Book"``, ``"Book.author"``);
    ``fix`` is the code-level change (``'select_related("author")'``) and
    ``suggestion`` the sentence for people. ``sql`` is one example statement,
    with placeholders, never parameter values. ``request`` is the request the
    queries ran in (``"GET /api/events/"``) when the recording spans several,
    ``None`` otherwise (and for code outside any request).
    """

    kind: str
    severity: str
    fingerprint: str
    count: int
    total_duration: float
    callsite: CallSite | None
    sql: str
    suggestion: str
    table: str | None = None
    model: str | None = None
    relation: str | None = None
    fix: str | None = None
    share: float = 0.0
    callsites: tuple[CallSite, ...] = ()
    request: str | None = None

    @property
    def total_ms(self) -> float:
        return self.total_duration * 1000.0

    def sort_key(self) -> tuple[Any, ...]:
        """Most expensive first; ties broken deterministically."""
        return (
            -self.total_duration,
            -self.count,
            KINDS.index(self.kind) if self.kind in KINDS else len(KINDS),
            self.fingerprint,
            str(self.callsite or ""),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (no parameter values: safe to log or store)."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "fingerprint": self.fingerprint,
            "count": self.count,
            "total_ms": round(self.total_ms, 3),
            "share": round(self.share, 4),
            "callsite": _site(self.callsite),
            "callsites": [_site(site) for site in self.callsites],
            "sql": self.sql,
            "table": self.table,
            "model": self.model,
            "relation": self.relation,
            "fix": self.fix,
            "suggestion": self.suggestion,
            "request": self.request,
        }


def _site(site: CallSite | None) -> dict[str, Any] | None:
    if site is None:
        return None
    return {"file": site.short_filename, "line": site.lineno, "function": site.function}
