"""Slow queries: any statement over ``SLOW_QUERY_MS``, grouped by shape."""

from __future__ import annotations

from perfaudit.capture import Recording
from perfaudit.conf import app_settings
from perfaudit.detect._common import Evidence, fmt_ms, fmt_share
from perfaudit.detect.finding import Finding

__all__ = ["detect"]


def detect(source: Recording | Evidence, *, threshold_ms: float | None = None) -> list[Finding]:
    analysis = Evidence.of(source)
    if threshold_ms is None:
        threshold_ms = app_settings.SLOW_QUERY_MS
    threshold = threshold_ms / 1000.0
    by_shape: dict[tuple[str, str], list[int]] = {}
    shapes = analysis.shapes
    for i, event in enumerate(analysis.events):
        if event.duration < threshold or shapes[i].kind == "transaction":
            continue
        by_shape.setdefault((event.alias, shapes[i].fingerprint), []).append(i)

    findings = []
    for indices in by_shape.values():
        event, shape = analysis.events[indices[0]], analysis.shapes[indices[0]]
        total = analysis.total(indices)
        slowest = max(analysis.events[i].duration for i in indices)
        table = shape.main_tables[0] if shape.main_tables else None
        findings.append(
            Finding(
                kind="slow",
                severity="high" if slowest >= 10 * threshold else "medium",
                fingerprint=shape.fingerprint,
                count=len(indices),
                total_duration=total,
                callsite=event.callsite,
                sql=event.sql,
                suggestion=(
                    f"{len(indices)} run(s) over {threshold_ms:g} ms (slowest "
                    f"{fmt_ms(slowest)}; {fmt_share(analysis.share(total))}); read its plan "
                    f"with `QuerySet.explain()` and look for a sequential scan that an index "
                    f"on the filtered or ordered columns would avoid."
                ),
                table=table,
                model=analysis.schema.label(table),
                share=analysis.share(total),
                callsites=analysis.sites(indices),
            )
        )
    return findings
