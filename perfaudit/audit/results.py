"""What ``audit`` reports: per request, per scenario, per run; their JSON form.

Filled by :mod:`perfaudit.audit.engine` from each request's one
:class:`~perfaudit.detect.analysis.Analysis`; rendered by
:mod:`perfaudit.audit.formats`.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import perfaudit
from perfaudit.detect import Finding
from perfaudit.detect.budgets import Violation
from perfaudit.payload import PayloadDigest, Snapshot
from perfaudit.scenarios import Request, Scenario

__all__ = ["FORMAT_VERSION", "AuditResult", "RequestResult", "ScenarioResult"]

#: Version of the JSON document ``audit --format json`` writes.
FORMAT_VERSION: Final = 1


@dataclass
class RequestResult:
    """One request of a scenario, run ``runs`` times."""

    request: Request
    status: int | None = None
    view_name: str | None = None
    query_counts: list[int] = field(default_factory=list)
    db_ms_runs: list[float] = field(default_factory=list)
    total_ms_runs: list[float] = field(default_factory=list)
    payload: PayloadDigest | None = None
    findings: list[Finding] = field(default_factory=list)
    shapes: list[dict[str, Any]] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    error: str | None = None
    #: Payload paths that moved between two runs (``--repeat``): reported, ignored.
    volatile: list[str] = field(default_factory=list)
    # For the payload re-check of ``--repeat`` (audit/volatile.py), not reported.
    snapshots: list[Snapshot] = field(default_factory=list, repr=False)
    first_run_at: float = field(default=0.0, repr=False)
    client: Any = field(default=None, repr=False)  # the logged-in test Client
    #: Beside SQL, per run: cache and outbound HTTP milliseconds, thread CPU
    #: (sync views only); the first run's cache/HTTP detail (analysis JSON).
    cache_ms_runs: list[float] = field(default_factory=list)
    http_ms_runs: list[float] = field(default_factory=list)
    cpu_ms_runs: list[float] = field(default_factory=list)
    cache: dict[str, Any] | None = None
    http: dict[str, Any] | None = None
    #: Per middleware: {"name", "ms", "unused"} (see audit/middleware_tax.py).
    middleware: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def queries(self) -> int:
        """Queries of the first run (all runs agree, or the request failed)."""
        return self.query_counts[0] if self.query_counts else 0

    @property
    def db_ms(self) -> float:
        """Median milliseconds spent in the database."""
        return statistics.median(self.db_ms_runs) if self.db_ms_runs else 0.0

    @property
    def total_ms(self) -> float:
        """Median wall-clock milliseconds of the request."""
        return statistics.median(self.total_ms_runs) if self.total_ms_runs else 0.0

    @property
    def cache_ms(self) -> float:
        return statistics.median(self.cache_ms_runs) if self.cache_ms_runs else 0.0

    @property
    def http_ms(self) -> float:
        return statistics.median(self.http_ms_runs) if self.http_ms_runs else 0.0

    @property
    def cpu_ms(self) -> float | None:
        """Median CPU milliseconds of the request's thread (``None``: not measured)."""
        return statistics.median(self.cpu_ms_runs) if self.cpu_ms_runs else None

    def to_dict(self) -> dict[str, Any]:
        request = self.request
        return {
            "name": request.label,
            "method": request.method,
            "path": request.path,
            "query": {
                k: v if isinstance(v, str | int | float | list) else str(v)
                for k, v in request.query.items()
            },
            "user": request.user,
            "view": self.view_name,
            "status": self.status,
            "expected_status": request.expected,
            "ok": self.ok,
            "error": self.error,
            "runs": len(self.query_counts),
            "queries": self.queries,
            "query_counts": list(self.query_counts),
            "db_ms": round(self.db_ms, 3),
            "total_ms": round(self.total_ms, 3),
            "db_ms_runs": [round(v, 3) for v in self.db_ms_runs],
            "total_ms_runs": [round(v, 3) for v in self.total_ms_runs],
            "payload": _payload_dict(self.payload, self.volatile),
            "cache_ms": round(self.cache_ms, 3),
            "http_ms": round(self.http_ms, 3),
            "cpu_ms": round(self.cpu_ms, 3) if self.cpu_ms is not None else None,
            "cache": self.cache,
            "http": self.http,
            "middleware": self.middleware,
            "shapes": self.shapes,
            "findings": [finding.to_dict() for finding in self.findings],
            "budget": [
                {
                    "view": v.view_name,
                    "pattern": v.pattern,
                    "metric": v.metric,
                    "limit": v.limit,
                    "actual": round(v.actual, 3),
                    "message": str(v),
                }
                for v in self.violations
            ],
        }


def _payload_dict(payload: PayloadDigest | None, volatile: list[str]) -> dict[str, Any] | None:
    if payload is None:
        return None
    return {
        "hash": payload.hash,
        "canonical": payload.canonical,
        "raw": payload.raw,
        "kind": payload.kind,
        "status": payload.status,
        "content_type": payload.content_type,
        "note": payload.note,
        "masked": payload.masked,
        "volatile": volatile,
    }


@dataclass
class ScenarioResult:
    """A scenario's set-up and requests."""

    scenario: Scenario
    requests: list[RequestResult] = field(default_factory=list)
    setup_ms: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(r.ok for r in self.requests)

    def failures(self) -> list[str]:
        """One line per failure: what went wrong and how to fix it."""
        found = [self.error] if self.error else []
        found.extend(r.error for r in self.requests if r.error)
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.scenario.name,
            "description": self.scenario.description,
            "setup": self.scenario.origin,
            "setup_ms": round(self.setup_ms, 3),
            "ok": self.ok,
            "error": self.error,
            "requests": [r.to_dict() for r in self.requests],
        }


@dataclass
class AuditResult:
    """Everything one ``audit`` run measured."""

    scenarios: list[ScenarioResult]
    repeat: int
    vendor: str
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.scenarios)

    def failures(self) -> list[str]:
        return [line for s in self.scenarios for line in s.failures()]

    def gated(self, kinds: Iterable[str]) -> list[str]:
        """One line per finding (or budget violation) of ``kinds``, for ``--fail-on``."""
        wanted = set(kinds)
        lines = []
        for s in self.scenarios:
            for r in s.requests:
                where = f"{s.scenario.name} {r.request.label}"
                for finding in r.findings:
                    if finding.kind in wanted:
                        what = finding.relation or finding.model or finding.table or ""
                        fix = f" -> {finding.fix}" if finding.fix else ""
                        lines.append(f"{where}: {finding.kind} {what}{fix}".rstrip())
                if "budget" in wanted:
                    lines.extend(f"{where}: {violation}" for violation in r.violations)
        return lines

    def to_dict(self) -> dict[str, Any]:
        requests = [r for s in self.scenarios for r in s.requests]
        return {
            "format": FORMAT_VERSION,
            "tool": f"perfaudit {perfaudit.__version__}",
            "command": "audit",
            "database": self.vendor,
            "repeat": self.repeat,
            "duration_s": round(self.duration_s, 3),
            "ok": self.ok,
            "summary": {
                "scenarios": len(self.scenarios),
                "requests": len(requests),
                "failed": len(self.failures()),
                "queries": sum(r.queries for r in requests),
                "findings": sum(len(r.findings) for r in requests),
            },
            "failures": self.failures(),
            "scenarios": [s.to_dict() for s in self.scenarios],
        }
