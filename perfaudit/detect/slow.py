"""Slow queries: a shape that is slow repeatedly, not one outlier.

A shape is reported when at least two of its executions take
``SLOW_QUERY_MS`` or more (for a shape run several times, a lower median over
the threshold implies as much): a single 100 ms run, alone or among fast ones,
is as likely a loaded machine as a slow query. Index advice is for reads
only; a slow write gets advice about what slows writes down.
"""

from __future__ import annotations

from perfaudit.capture import Recording
from perfaudit.conf import app_settings
from perfaudit.detect._common import Evidence, fmt_ms, fmt_share
from perfaudit.detect.finding import Finding
from perfaudit.text import plural

__all__ = ["detect"]


def detect(source: Recording | Evidence, *, threshold_ms: float | None = None) -> list[Finding]:
    analysis = Evidence.of(source)
    if threshold_ms is None:
        threshold_ms = app_settings.SLOW_QUERY_MS
    threshold = threshold_ms / 1000.0
    over_by_shape: dict[tuple[str, str], list[int]] = {}
    shapes = analysis.shapes
    for i, event in enumerate(analysis.events):
        if event.duration >= threshold and shapes[i].kind != "transaction":
            over_by_shape.setdefault((event.alias, shapes[i].fingerprint), []).append(i)
    slow_shapes = {key for key, over in over_by_shape.items() if len(over) >= 2}
    if not slow_shapes:
        return []  # at most one slow run per shape: outliers
    by_shape: dict[tuple[str, str], list[int]] = {}
    for i, event in enumerate(analysis.events):
        key = (event.alias, shapes[i].fingerprint)
        if key in slow_shapes:
            by_shape.setdefault(key, []).append(i)

    findings = []
    for all_runs in by_shape.values():
        over = [i for i in all_runs if analysis.events[i].duration >= threshold]
        if len(over) < 2:
            continue  # one outlier: not a shape that is slow
        indices = over
        event, shape = analysis.events[indices[0]], analysis.shapes[indices[0]]
        total = analysis.total(indices)
        slowest = max(analysis.events[i].duration for i in indices)
        table = shape.main_tables[0] if shape.main_tables else None
        findings.append(
            analysis.finding(
                "slow",
                indices,
                severity="high" if slowest >= 10 * threshold else "medium",
                suggestion=(
                    f"{len(indices)} of {plural(len(all_runs), 'run')} over {threshold_ms:g} ms "
                    f"(slowest {fmt_ms(slowest)}; {fmt_share(analysis.share(total))}); "
                    + (_READ if shape.kind == "select" else _WRITE)
                ),
                table=table,
                model=analysis.schema.label(table),
            )
        )
    return findings


_READ = (
    "read its plan with `QuerySet.explain()` and look for a sequential scan that an index "
    "on the filtered or ordered columns would avoid."
)
_WRITE = (
    "a write is slowed by what it waits for or maintains, not by a missing index: look for "
    "lock waits (a long transaction holding the rows), triggers and constraint checks, and "
    "batch repeated writes (`bulk_create`, `bulk_update`, one `update()`)."
)
