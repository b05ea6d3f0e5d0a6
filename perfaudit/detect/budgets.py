"""Per-view query budgets: ``PERFAUDIT["BUDGETS"]``.

::

    PERFAUDIT = {
        "BUDGETS": {
            "events:event-list": {"queries": 15, "db_ms": 50},
            "events:*": {"queries": 30},
        }
    }

Keys are view names as Django resolves them (``resolver_match.view_name``,
``namespace:name``) or shell-style patterns (``events:*``). An exact name wins
over patterns; among patterns the first that matches, in the dict's order,
applies. The same budgets are checked by the test API and by the middleware.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from perfaudit.conf import app_settings
from perfaudit.conf.validators import setting_path

if TYPE_CHECKING:
    from perfaudit.capture import Recording

__all__ = ["BUDGET_KEYS", "Budget", "Violation", "budget_for", "check_budget"]

#: What a budget may limit: the number of queries, the milliseconds spent in them.
BUDGET_KEYS: Final = ("queries", "db_ms")


@dataclass(frozen=True, slots=True)
class Budget:
    """The limits that apply to one view; ``pattern`` is the key that matched."""

    pattern: str
    queries: int | None = None
    db_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Violation:
    """One limit of a budget that a recording exceeded."""

    view_name: str
    pattern: str
    metric: str
    limit: float
    actual: float

    def __str__(self) -> str:
        unit = "queries" if self.metric == "queries" else "ms in the database"
        actual = f"{self.actual:g}" if self.metric == "queries" else f"{self.actual:.1f}"
        return (
            f"{self.view_name} ran {actual} {unit}, over its budget of {self.limit:g} "
            f"({setting_path('BUDGETS', self.pattern, self.metric)})"
        )


def budget_for(view_name: str, budgets: Mapping[str, Any] | None = None) -> Budget | None:
    """The budget that applies to ``view_name``, or ``None``."""
    if budgets is None:
        budgets = app_settings.BUDGETS
    limits = budgets.get(view_name)
    pattern = view_name
    if limits is None:
        for candidate, candidate_limits in budgets.items():
            if any(c in candidate for c in "*?[") and fnmatch.fnmatchcase(view_name, candidate):
                pattern, limits = candidate, candidate_limits
                break
    if limits is None:
        return None
    queries = limits.get("queries")
    return Budget(pattern, int(queries) if queries is not None else None, limits.get("db_ms"))


def check_budget(
    view_name: str, recording: Recording, budgets: Mapping[str, Any] | None = None
) -> list[Violation]:
    """Every limit of ``view_name``'s budget that ``recording`` exceeds."""
    budget = budget_for(view_name, budgets)
    if budget is None:
        return []
    violations = []
    if budget.queries is not None and len(recording) > budget.queries:
        violations.append(
            Violation(view_name, budget.pattern, "queries", budget.queries, len(recording))
        )
    db_ms = recording.db_time * 1000
    if budget.db_ms is not None and db_ms > budget.db_ms:
        violations.append(Violation(view_name, budget.pattern, "db_ms", budget.db_ms, db_ms))
    return violations
