"""The hotspot inventory: JSONL request lines aggregated by query shape and by view.

The read side of :mod:`perfaudit.web.store`'s JSONL sink, kept apart from the
request cycle: it only parses lines and adds numbers up, so ``report`` can run
it on a file copied from a server, and tests can feed it hand-written lines.

A *shape* is a fingerprint on one database alias. Shapes are ranked by the
DB time they cost across every request, because that is what removing them
saves; each keeps the views and call sites issuing it and the findings that
name its fingerprint.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from perfaudit.web.jsonl import read_jsonl
from perfaudit.web.store import percentile

__all__ = [
    "FindingSummary",
    "Inventory",
    "ShapeHotspot",
    "ViewSummary",
    "build_inventory",
    "load_inventory",
]

_SEVERITY_RANK: Final = {"high": 0, "medium": 1, "low": 2}


# -- the aggregates ----------------------------------------------------------------


@dataclass
class FindingSummary:
    """One kind of finding on one shape, over all requests it was found in.

    ``findings`` counts the findings, ``requests`` the requests (JSONL lines)
    that had at least one: a request with the same N+1 in two places adds two
    findings and one request.
    """

    kind: str
    severity: str
    requests: int = 0
    findings: int = 0
    queries: int = 0
    _last_request: int = field(default=-1, repr=False)
    total_ms: float = 0.0
    suggestion: str = ""
    fix: str | None = None
    relation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "requests": self.requests,
            "findings": self.findings,
            "queries": self.queries,
            "total_ms": round(self.total_ms, 3),
            "fix": self.fix,
            "relation": self.relation,
            "suggestion": self.suggestion,
        }


@dataclass
class ShapeHotspot:
    """A query shape's cost across every request of the file.

    ``views`` and ``callsites`` count the queries each issued. ``sql`` is
    the slowest execution seen; ``params`` its values when they were
    recorded (``JSONL_PARAMS``), else ``None``; ``param_count`` how many it
    had (``None``: unknown).
    """

    fingerprint: str
    alias: str
    kind: str
    count: int = 0
    total_ms: float = 0.0
    requests: int = 0
    views: Counter[str] = field(default_factory=Counter)
    callsites: Counter[str] = field(default_factory=Counter)
    findings: list[FindingSummary] = field(default_factory=list)
    sql: str = ""
    max_ms: float = -1.0
    params: Any = None
    has_params: bool = False
    param_count: int | None = None

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.count if self.count else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "alias": self.alias,
            "kind": self.kind,
            "count": self.count,
            "total_ms": round(self.total_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "requests": self.requests,
            "views": dict(self.views.most_common()),
            "callsites": dict(self.callsites.most_common()),
            "findings": [f.to_dict() for f in self.findings],
            "sql": self.sql,
        }


@dataclass
class ViewSummary:
    """One view's requests: query counts and times (nearest-rank percentiles)."""

    view: str
    requests: int = 0
    queries: list[int] = field(default_factory=list)
    db_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    #: Beside SQL (lines of format 1 written before them have none).
    cache_ms: list[float] = field(default_factory=list)
    http_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    http_calls: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    findings: Counter[str] = field(default_factory=Counter)
    violations: int = 0

    @property
    def db_ms_total(self) -> float:
        return sum(self.db_ms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "requests": self.requests,
            "queries_mean": round(sum(self.queries) / self.requests, 2) if self.requests else 0,
            "queries_p50": percentile(self.queries, 0.5),
            "queries_p95": percentile(self.queries, 0.95),
            "queries_max": max(self.queries, default=0),
            "db_ms_total": round(self.db_ms_total, 3),
            "db_ms_p50": round(percentile(self.db_ms, 0.5), 3),
            "db_ms_p95": round(percentile(self.db_ms, 0.95), 3),
            "total_ms_p50": round(percentile(self.total_ms, 0.5), 3),
            "total_ms_p95": round(percentile(self.total_ms, 0.95), 3),
            "cache_ms_p50": round(percentile(self.cache_ms, 0.5), 3),
            "http_ms_p50": round(percentile(self.http_ms, 0.5), 3),
            "cpu_ms_p50": round(percentile(self.cpu_ms, 0.5), 3) if self.cpu_ms else None,
            "http_calls": self.http_calls,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "findings": dict(self.findings.most_common()),
            "budget_violations": self.violations,
        }


@dataclass
class Inventory:
    """Shapes most total DB time first; views likewise."""

    source: str | None
    requests: int
    shapes: list[ShapeHotspot]
    views: list[ViewSummary]
    # Requests recorded but never reported (their response was never closed):
    # the sum of the lines' ``dropped`` fields.
    dropped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "requests": self.requests,
            "dropped": self.dropped,
            "shapes": [shape.to_dict() for shape in self.shapes],
            "views": [view.to_dict() for view in self.views],
        }


def build_inventory(lines: Iterable[Mapping[str, Any]], source: str | None = None) -> Inventory:
    """Aggregate validated request lines (as :func:`read_jsonl` yields them)."""
    shapes: dict[tuple[str, str], ShapeHotspot] = {}
    views: dict[str, ViewSummary] = {}
    findings: dict[tuple[str, str], FindingSummary] = {}
    requests = dropped = 0
    for line in lines:
        requests += 1
        extra = line.get("dropped", 0)
        if isinstance(extra, int) and not isinstance(extra, bool) and extra > 0:
            dropped += extra
        view = _view(views, line)
        for shape_line in line["shapes"]:
            _add_shape(shapes, shape_line, line["view"])
        for finding in line.get("findings", []):
            _add_finding(findings, finding, view, requests)
    by_fingerprint: dict[str, list[FindingSummary]] = {}
    for (_, fingerprint), summary in findings.items():
        by_fingerprint.setdefault(fingerprint, []).append(summary)
    for shape in shapes.values():
        shape.findings = sorted(
            by_fingerprint.get(shape.fingerprint, ()),
            key=lambda f: (_SEVERITY_RANK.get(f.severity, 3), -f.total_ms, f.kind),
        )
    ranked = sorted(shapes.values(), key=lambda s: (-s.total_ms, -s.count, s.fingerprint))
    by_cost = sorted(views.values(), key=lambda v: (-v.db_ms_total, v.view))
    return Inventory(source, requests, ranked, by_cost, dropped)


def load_inventory(path: str | os.PathLike[str]) -> Inventory:
    """Read and aggregate a JSONL file; :class:`~perfaudit.web.jsonl.JsonlError` when it cannot."""
    return build_inventory((line for _, line in read_jsonl(path)), os.fspath(path))


def _view(views: dict[str, ViewSummary], line: Mapping[str, Any]) -> ViewSummary:
    view = views.get(line["view"])
    if view is None:
        view = views[line["view"]] = ViewSummary(line["view"])
    view.requests += 1
    view.queries.append(line["queries"])
    view.db_ms.append(float(line["db_ms"]))
    view.total_ms.append(float(line["total_ms"]))
    _add_split(view, line)
    status = line.get("status")
    if isinstance(status, int):
        view.statuses[status] += 1
    violations = line.get("violations")
    if isinstance(violations, list) and violations:
        view.violations += 1
    return view


def _add_split(view: ViewSummary, line: Mapping[str, Any]) -> None:
    """Cache, HTTP and CPU milliseconds of one line, when it has them."""
    cache, http = line.get("cache"), line.get("http")
    if isinstance(cache, Mapping):
        view.cache_ms.append(_number(cache.get("ms"), 0.0))
    if isinstance(http, Mapping):
        view.http_ms.append(_number(http.get("ms"), 0.0))
        calls = http.get("calls")
        view.http_calls += calls if isinstance(calls, int) else 0
    cpu = line.get("cpu_ms")
    if isinstance(cpu, int | float) and not isinstance(cpu, bool):
        view.cpu_ms.append(float(cpu))


def _add_shape(shapes: dict[tuple[str, str], ShapeHotspot], line: Any, view: str) -> None:
    alias = str(line.get("alias") or "default")
    key = (line["fingerprint"], alias)
    shape = shapes.get(key)
    if shape is None:
        shape = shapes[key] = ShapeHotspot(line["fingerprint"], alias, str(line.get("kind", "")))
    count, db_ms = line["count"], float(line["db_ms"])
    shape.count += count
    shape.total_ms += db_ms
    shape.requests += 1
    shape.views[view] += count
    sites = line.get("callsites")
    if isinstance(sites, dict):
        for site, n in sites.items():
            shape.callsites[str(site)] += n if isinstance(n, int) else 0
    # The example to EXPLAIN: the slowest execution, preferring one whose
    # parameter values were recorded.
    max_ms = _number(line.get("max_ms"), db_ms)
    has_params = "params" in line and line["params"] is not None
    better = (has_params, max_ms) > (shape.has_params, shape.max_ms)
    if better:
        shape.sql, shape.max_ms, shape.has_params = line["sql"], max_ms, has_params
        shape.params = line.get("params")
        count_value = line.get("param_count")
        shape.param_count = count_value if isinstance(count_value, int) else None


def _add_finding(
    findings: dict[tuple[str, str], FindingSummary],
    line: Mapping[str, Any],
    view: ViewSummary,
    request: int,
) -> None:
    kind, fingerprint = str(line.get("kind", "?")), str(line.get("fingerprint", ""))
    view.findings[kind] += 1
    summary = findings.get((kind, fingerprint))
    if summary is None:
        summary = findings[(kind, fingerprint)] = FindingSummary(
            kind, str(line.get("severity", "low"))
        )
    severity = str(line.get("severity", "low"))
    if _SEVERITY_RANK.get(severity, 3) < _SEVERITY_RANK.get(summary.severity, 3):
        summary.severity = severity
    summary.findings += 1
    if summary._last_request != request:
        summary.requests += 1
        summary._last_request = request
    count = line.get("count")
    summary.queries += count if isinstance(count, int) else 0
    summary.total_ms += _number(line.get("total_ms"), 0.0)
    # The most recent wording wins: it reflects the code as it is now.
    summary.suggestion = str(line.get("suggestion") or summary.suggestion)
    summary.fix = _text(line.get("fix")) or summary.fix
    summary.relation = _text(line.get("relation")) or summary.relation


# The file is input: optional fields of the wrong type are read as absent,
# never allowed to crash the report half-way.


def _number(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
