"""Failure messages that answer "what do I fix".

Shared by the unittest mixin, the pytest plugin and any consumer that needs a
human summary of a recording: first what was expected and what happened, then
the queries by shape from the recording's one analysis (most frequent
first, with call sites), then the
findings with their suggestions, then the numbered SQL (truncated).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from perfaudit.sql.shape import clip

if TYPE_CHECKING:
    from perfaudit.capture import Recording
    from perfaudit.detect import Finding

__all__ = ["describe", "findings_text", "query_list", "shapes_text"]

#: How many shapes and statements a message lists before it summarises the rest.
MAX_SHAPES: Final = 10
MAX_STATEMENTS: Final = 50
MAX_SQL_CHARS: Final = 300


def _clip(sql: str) -> str:
    return clip(sql, MAX_SQL_CHARS)


def shapes_text(recording: Recording) -> str:
    """The recording's shapes (from its one analysis), most frequent first."""
    shapes = recording.analysis.shapes
    lines = ["Queries by shape, most frequent first:"]
    for shape in shapes[:MAX_SHAPES]:
        lines.append(f"  {shape.count:>4} × {_clip(shape.fingerprint)}")
        for site, origin, count in shape.sources[:3]:
            where = " at ".join(str(part) for part in (origin, site) if part is not None)
            lines.append(f"         {count} from {where}")
    if len(shapes) > MAX_SHAPES:
        rest = sum(s.count for s in shapes[MAX_SHAPES:])
        lines.append(f"  … {len(shapes) - MAX_SHAPES} more shapes ({rest} queries)")
    return "\n".join(lines)


def findings_text(findings: Iterable[Finding], *, title: str = "Findings:") -> str:
    """Each finding on its own line: kind, severity, suggestion."""
    listed = list(findings)
    if not listed:
        return ""
    lines = [title]
    for finding in listed:
        lines.append(f"  - [{finding.kind}, {finding.severity}] {finding.suggestion}")
    return "\n".join(lines)


def query_list(recording: Recording) -> str:
    """The numbered SQL of the recording, truncated sensibly."""
    queries = recording.queries
    lines = ["All queries:"]
    for number, event in enumerate(queries[:MAX_STATEMENTS], start=1):
        alias = f" [{event.alias}]" if event.alias != "default" else ""
        lines.append(f"  {number}.{alias} {_clip(event.sql)}")
    hidden = len(recording) - min(len(queries), MAX_STATEMENTS)
    if hidden > 0:
        lines.append(f"  … {hidden} more")
    return "\n".join(lines)


def describe(
    headline: str, recording: Recording, findings: Iterable[Finding] = (), *, hint: str = ""
) -> str:
    """The full message: headline, shapes, findings, hint, numbered SQL."""
    parts = [headline]
    if len(recording):
        parts.append(shapes_text(recording))
    text = findings_text(findings)
    if text:
        parts.append(text)
    if hint:
        parts.append(hint)
    if len(recording):
        parts.append(query_list(recording))
    return "\n\n".join(parts)
