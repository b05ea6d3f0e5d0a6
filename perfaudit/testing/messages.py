"""Failure messages that answer "what do I fix".

Shared by the unittest mixin, the pytest plugin and any consumer that needs a
human summary of a recording: first what was expected and what happened, then
the queries grouped by shape (most frequent first, with call sites), then the
findings with their suggestions, then the numbered SQL (truncated).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from perfaudit.sql.shape import analyze

if TYPE_CHECKING:
    from perfaudit.capture import CallSite, Recording
    from perfaudit.detect import Finding

__all__ = ["ShapeGroup", "describe", "findings_text", "group_by_shape", "query_list"]

#: How many shapes and statements a message lists before it summarises the rest.
MAX_SHAPES: Final = 10
MAX_STATEMENTS: Final = 50
MAX_SQL_CHARS: Final = 300


@dataclass
class ShapeGroup:
    """All queries of one fingerprint in a recording."""

    fingerprint: str
    count: int = 0
    duration: float = 0.0
    callsites: dict[tuple[CallSite | None, str | None], int] = field(default_factory=dict)


def group_by_shape(recording: Recording) -> list[ShapeGroup]:
    """Queries grouped by fingerprint, most frequent first (then slowest)."""
    groups: dict[str, ShapeGroup] = {}
    for event in recording.queries:
        shape = analyze(event.sql).fingerprint
        group = groups.get(shape)
        if group is None:
            group = groups[shape] = ShapeGroup(shape)
        group.count += 1
        group.duration += event.duration
        if event.callsite is not None or event.origin is not None:
            key = (event.callsite, event.origin)
            group.callsites[key] = group.callsites.get(key, 0) + 1
    return sorted(groups.values(), key=lambda g: (-g.count, -g.duration, g.fingerprint))


def _clip(sql: str) -> str:
    return sql if len(sql) <= MAX_SQL_CHARS else sql[: MAX_SQL_CHARS - 1] + "…"


def shapes_text(recording: Recording) -> str:
    groups = group_by_shape(recording)
    lines = ["Queries by shape, most frequent first:"]
    for group in groups[:MAX_SHAPES]:
        lines.append(f"  {group.count:>4} × {_clip(group.fingerprint)}")
        for (site, origin), count in sorted(group.callsites.items(), key=lambda i: -i[1])[:3]:
            where = " at ".join(str(part) for part in (origin, site) if part is not None)
            lines.append(f"         {count} from {where}")
    if len(groups) > MAX_SHAPES:
        rest = sum(g.count for g in groups[MAX_SHAPES:])
        lines.append(f"  … {len(groups) - MAX_SHAPES} more shapes ({rest} queries)")
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
