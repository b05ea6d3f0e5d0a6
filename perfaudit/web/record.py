"""One recorded request, summarised: what it ran and what was found in it.

The middleware builds one :class:`RequestRecord` per recorded request
(:func:`summarise`); the store aggregates it and the JSONL sink writes it. The
query shapes are computed here once, so no consumer re-parses SQL.

A record holds no SQL parameter values unless it was built with
``keep_params`` (which the middleware sets only with ``JSONL_PARAMS`` on).
Parameter values are then made JSON-ready at once, so the record keeps no
reference to the application's objects.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from perfaudit.detect.summary import (
    ORJSON_OPTIONS,
    ShapeSummary,
    param_default,
    summarise_shape,
)

if TYPE_CHECKING:
    from perfaudit.capture import Recording
    from perfaudit.detect import Finding
    from perfaudit.detect.budgets import Violation
    from perfaudit.detect.timing import CacheSplit, HttpSplit

__all__ = [
    "FORMAT_VERSION",
    "ORJSON_OPTIONS",
    "RequestRecord",
    "ShapeSummary",
    "param_default",
    "summarise",
]

#: Version of the JSONL line format; ``report`` refuses lines of a newer one.
FORMAT_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What one recorded request ran and what was found in it (no parameter values
    unless built with ``keep_params``)."""

    view: str
    method: str
    path: str
    status: int
    queries: int
    db_ms: float
    total_ms: float
    shapes: tuple[ShapeSummary, ...] = ()
    findings: tuple[Finding, ...] = ()
    violations: tuple[Violation, ...] = ()
    payload: str | None = None
    sample_rate: float = 1.0
    timestamp: float = field(default_factory=time.time)
    #: Beside SQL: cache calls, outbound HTTP, the thread's CPU (None: async).
    cache: CacheSplit | None = None
    http: HttpSplit | None = None
    cpu_ms: float | None = None

    def to_dict(self, *, params: bool = False) -> dict[str, Any]:
        """The JSONL line as a dict; SQL parameter values only when ``params``."""
        return {
            "v": FORMAT_VERSION,
            "ts": _iso(self.timestamp),
            "view": self.view,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "queries": self.queries,
            "db_ms": round(self.db_ms, 3),
            "total_ms": round(self.total_ms, 3),
            "sample_rate": self.sample_rate,
            "payload": self.payload,
            "shapes": [shape.to_dict(params=params) for shape in self.shapes],
            "findings": [finding.to_dict() for finding in self.findings],
            "violations": [
                {
                    "metric": v.metric,
                    "limit": v.limit,
                    "actual": round(v.actual, 3),
                    "pattern": v.pattern,
                }
                for v in self.violations
            ],
            "cache": self.cache.to_dict() if self.cache is not None else None,
            "http": self.http.to_dict() if self.http is not None else None,
            "cpu_ms": round(self.cpu_ms, 3) if self.cpu_ms is not None else None,
        }


def _iso(timestamp: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp))
    return f"{seconds}.{int(timestamp % 1 * 1000):03d}Z"


def summarise(
    recording: Recording,
    *,
    view: str,
    method: str,
    path: str,
    status: int,
    total_ms: float | None = None,
    findings: Iterable[Finding] | None = None,
    violations: Iterable[Violation] | None = None,
    payload: str | None = None,
    sample_rate: float = 1.0,
    keep_params: bool = False,
) -> RequestRecord:
    """Format ``recording.analysis`` (a finished recording) as a :class:`RequestRecord`.

    Shapes, findings and the budget verdict come from the recording's one
    :class:`~perfaudit.detect.analysis.Analysis`; ``findings``/``violations``
    override them only for callers that already filtered them.
    ``total_ms`` defaults to the recording's own duration.
    """
    analysis = recording.analysis
    # Most DB time first: the store and the report rank by cost.
    ordered = sorted(analysis.shapes, key=lambda s: (-s.duration, -s.count, s.fingerprint))
    shapes = tuple(summarise_shape(shape, keep_params=keep_params) for shape in ordered)
    if total_ms is None:
        total_ms = (analysis.duration or 0.0) * 1000.0
    return RequestRecord(
        view=view,
        method=method,
        path=path,
        status=status,
        queries=analysis.query_count,
        db_ms=analysis.db_ms,
        total_ms=total_ms,
        shapes=shapes,
        findings=tuple(analysis.findings if findings is None else findings),
        violations=tuple(analysis.violations(view) if violations is None else violations),
        payload=payload,
        sample_rate=sample_rate,
        cache=analysis.cache,
        http=analysis.http,
        cpu_ms=analysis.cpu_ms,
    )
