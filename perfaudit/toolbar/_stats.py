"""The panel's data: one finished recording (and its response) as plain JSON.

Nothing here imports debug_toolbar, so the shape of the stats is tested
without a toolbar. Everything returned is made of ``dict``, ``list``, ``str``,
``int``, ``float``, ``bool`` and ``None``: django-debug-toolbar 6+ serializes
panel stats to JSON in its store (and its encoder would silently turn anything
else into a string), and reads them back to render the panel later.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

import orjson

from perfaudit.capture import Recording
from perfaudit.detect.budgets import budget_for
from perfaudit.payload import digest
from perfaudit.sql.shape import analyze
from perfaudit.text import plural
from perfaudit.web.record import ORJSON_OPTIONS, param_default

if TYPE_CHECKING:
    from django.http.response import HttpResponseBase

    from perfaudit.capture import CallSite, QueryEvent
    from perfaudit.detect import Finding
    from perfaudit.detect.analysis import Analysis

__all__ = [
    "MAX_PARAMS_CHARS",
    "MAX_STATEMENTS",
    "MAX_TIMELINE",
    "build_stats",
    "code_spans",
    "nav_subtitle",
    "without_tables",
]

logger = logging.getLogger("perfaudit")

#: Statements listed under one shape; the rest are counted ("… 120 more").
MAX_STATEMENTS: Final = 50
#: Queries drawn on the timeline; the rest are counted.
MAX_TIMELINE: Final = 300
#: Characters of one statement's parameters shown (a bulk insert can be huge).
MAX_PARAMS_CHARS: Final = 2000
# Call sites listed per shape.
_MAX_CALLSITES: Final = 5


def nav_subtitle(stats: dict[str, Any]) -> str:
    """``"182 queries · 3 findings"`` (singular when one), ``""`` without stats."""
    if "query_count" not in stats:
        return ""
    queries = int(stats["query_count"])
    findings = len(stats.get("findings") or ())
    return f"{plural(queries, 'query', 'queries')} · {plural(findings, 'finding', 'findings')}"


def without_tables(recording: Recording, tables: Iterable[str]) -> Recording:
    """``recording`` minus the statements that read or write one of ``tables``.

    The toolbar's database and cache stores write to their own tables while
    the request runs; those writes are the toolbar's, not the application's.
    """
    excluded = frozenset(tables)
    if not excluded:
        return recording
    kept = [
        event
        for event in recording.queries
        if excluded.isdisjoint(analyze(event.sql).tables)
        and excluded.isdisjoint(analyze(event.sql).written)
    ]
    if len(kept) == len(recording.queries):
        return recording
    return Recording(
        kept,
        overflow=recording.overflow,
        duration=recording.duration,
        using=recording.using,
        cache=recording.cache,
        http=recording.http,
        cpu_time=recording.cpu_time,
    )


def build_stats(
    recording: Recording, response: HttpResponseBase | None, *, view: str
) -> dict[str, Any]:
    """Findings, queries by shape, payload identity and budget status, JSON-ready."""
    analysis = recording.analysis
    return {
        "query_count": analysis.query_count,
        "kept_count": len(analysis.events),
        "overflow": analysis.overflow,
        "db_ms": round(analysis.db_ms, 3),
        "findings": [_finding(finding) for finding in analysis.findings],
        "groups": _groups(analysis),
        "timeline": _timeline(analysis),
        "payload": _payload(response),
        "budget": _budget(view, recording),
        # Beside SQL: the analysis' cache / HTTP split (key shapes only) and CPU.
        "cache": analysis.cache.to_dict(),
        "http": analysis.http.to_dict(),
        "cpu_ms": round(analysis.cpu_ms, 3) if analysis.cpu_ms is not None else None,
    }


def _where(site: CallSite | None, origin: str | None = None) -> str | None:
    parts = [part for part in (origin, str(site) if site is not None else None) if part]
    return " at ".join(parts) or None


def code_spans(text: str) -> list[dict[str, Any]]:
    """``text`` split at its Markdown backticks: ``[{"text": ..., "code": bool}]``.

    Suggestions mark code with backticks; the template renders those parts in
    ``<code>`` (autoescaped), never as Markdown or as raw HTML.
    """
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: show the text as it is
        return [{"text": text, "code": False}]
    return [{"text": part, "code": i % 2 == 1} for i, part in enumerate(parts) if part]


def _timeline(analysis: Analysis) -> dict[str, Any]:
    """Each query's start and length as a share of the request, like the SQL panel's bars."""
    events = analysis.events[:MAX_TIMELINE]
    end = max((e.started_at + e.duration for e in analysis.events), default=0.0)
    span = max(analysis.duration or 0.0, end)
    index = {(s.fingerprint, s.alias): n for n, s in enumerate(analysis.shapes, 1)}
    shape_of = {i: index[(s.fingerprint, s.alias)] for s in analysis.shapes for i in s.events}
    rows = []
    for i, event in enumerate(events):
        left = event.started_at / span * 100.0 if span > 0 else 0.0
        width = event.duration / span * 100.0 if span > 0 else 0.0
        rows.append(
            {
                "number": i + 1,
                "shape": shape_of.get(i),
                "start_ms": round(event.started_at * 1000.0, 3),
                "ms": round(event.duration_ms, 3),
                "left_pct": round(min(left, 100.0), 2),
                # At least a sliver, so a 0.05 ms query is still a visible mark.
                "width_pct": round(max(min(width, 100.0 - min(left, 100.0)), 0.3), 2),
            }
        )
    return {
        "span_ms": round(span * 1000.0, 3),
        "rows": rows,
        "hidden": max(0, len(analysis.events) - MAX_TIMELINE),
    }


def _finding(finding: Finding) -> dict[str, Any]:
    data = finding.to_dict()  # never holds parameter values
    data["parts"] = code_spans(finding.suggestion)
    data["where"] = _where(finding.callsite)
    data["callsites"] = [str(site) for site in finding.callsites]
    data["share_pct"] = round(finding.share * 100.0, 1)
    return data


def _groups(analysis: Analysis) -> list[dict[str, Any]]:
    events = analysis.events
    groups = []
    for shape in analysis.shapes:
        listed = [events[i] for i in shape.events[:MAX_STATEMENTS]]
        groups.append(
            {
                "fingerprint": shape.fingerprint,
                "alias": shape.alias,
                "count": shape.count,
                "total_ms": round(shape.db_ms, 3),
                "callsites": [
                    {"where": _where(site, origin), "count": count}
                    for site, origin, count in shape.sources[:_MAX_CALLSITES]
                ],
                "queries": [_statement(event) for event in listed],
                "hidden": max(0, shape.count - MAX_STATEMENTS),
            }
        )
    return groups


def _statement(event: QueryEvent) -> dict[str, Any]:
    return {
        "sql": event.sql,
        "params": _params_text(event.params),
        "ms": round(event.duration_ms, 3),
        "alias": event.alias,
        "many": event.many,
        "where": _where(event.callsite, event.origin),
        "error": event.error,
    }


def _params_text(params: Any) -> str | None:
    """The parameters as JSON text (what the JSONL sink writes), clipped; never raises."""
    if params is None:
        return None
    try:
        text = orjson.dumps(params, default=param_default, option=ORJSON_OPTIONS).decode()
    except Exception:  # an int beyond 64 bits, a recursive structure...
        try:
            text = repr(params)
        except Exception:
            return "<unprintable parameters>"
    if len(text) > MAX_PARAMS_CHARS:
        text = text[: MAX_PARAMS_CHARS - 1] + "…"
    return text


def _payload(response: HttpResponseBase | None) -> dict[str, Any]:
    if response is None:
        return {"canonical": None, "raw": None, "kind": None, "note": "no response"}
    try:
        result = digest(response)  # never consumes a streaming response
    except Exception as exc:  # e.g. a malformed PAYLOAD_IGNORE mask
        logger.exception("the toolbar panel could not hash the payload")
        note = f"could not hash: {type(exc).__name__}: {exc}"
        return {"canonical": None, "raw": None, "kind": None, "note": note}
    return {
        "hash": result.hash,  # status, content type and canonical body: what to compare
        "canonical": result.canonical,
        "raw": result.raw,
        "kind": result.kind,
        "status": result.status,
        "content_type": result.content_type,
        "note": result.note,
    }


def _budget(view: str, recording: Recording) -> dict[str, Any]:
    budget = budget_for(view)
    if budget is None:
        return {"view": view, "status": "none", "pattern": None, "limits": [], "violations": []}
    limits = []
    if budget.queries is not None:
        limits.append(f"at most {budget.queries} queries")
    if budget.db_ms is not None:
        limits.append(f"at most {budget.db_ms:g} ms in the database")
    violations = [str(violation) for violation in recording.analysis.violations(view)]
    return {
        "view": view,
        "status": "over" if violations else "within",
        "pattern": budget.pattern,
        "limits": limits,
        "violations": violations,
    }
