"""Duplicate reads: the same SQL with the same parameters, run more than once.

Queries already explained by an N+1 finding are left out (a loop that loads
the same author twice is one N+1, not also a duplicate). Needs captured
parameters: with ``CAPTURE_PARAMS`` off nothing can be proven identical.
"""

from __future__ import annotations

from perfaudit.capture import Recording
from perfaudit.conf import app_settings
from perfaudit.detect import n_plus_one
from perfaudit.detect._common import Evidence, fmt_ms, fmt_share, params_key
from perfaudit.detect.finding import Finding
from perfaudit.sql.shape import SqlShape

__all__ = ["detect"]


def detect(source: Recording | Evidence, *, min_repeats: int | None = None) -> list[Finding]:
    analysis = Evidence.of(source)
    if min_repeats is None:
        min_repeats = app_settings.DUPLICATE_MIN_REPEATS
    claimed = analysis.claimed
    if claimed is None:
        found = n_plus_one.groups(analysis, app_settings.N_PLUS_ONE_MIN_REPEATS)
        claimed = analysis.claimed = {i for indices in found for i in indices}
    by_sql: dict[tuple[str, int], list[int]] = {}
    events, shape_index = analysis.events, analysis.shape_index
    for i in analysis.matching(_is_read):
        event = events[i]
        if i in claimed or event.params is None:
            continue
        by_sql.setdefault((event.alias, shape_index[i]), []).append(i)

    findings = []
    for indices in by_sql.values():
        if len(indices) < min_repeats:
            continue
        by_params: dict[object, list[int]] = {}
        for i in indices:
            by_params.setdefault(params_key(analysis.events[i].params), []).append(i)
        for same in by_params.values():
            if len(same) >= min_repeats:
                findings.append(_finding(analysis, same))
    return findings


def _is_read(shape: SqlShape) -> bool:
    return shape.kind == "select"


def _finding(analysis: Evidence, indices: list[int]) -> Finding:
    event, shape = analysis.events[indices[0]], analysis.shapes[indices[0]]
    total = analysis.total(indices)
    sites = analysis.sites(indices)
    origin = ", ".join(f"{s.short_filename}:{s.lineno}" for s in sites) or "an unknown call site"
    table = shape.main_tables[0] if shape.main_tables else None
    return Finding(
        kind="duplicate",
        severity="medium" if len(indices) >= 5 else "low",
        fingerprint=shape.fingerprint,
        count=len(indices),
        total_duration=total,
        callsite=event.callsite,
        sql=event.sql,
        suggestion=(
            f"The same query with the same parameters ran {len(indices)} times "
            f"(from {origin}; {fmt_ms(total)}, {fmt_share(analysis.share(total))}); run it "
            f"once and reuse the result: keep the object in a variable, pass it down, or "
            f"cache it on the instance (`functools.cached_property`)."
        ),
        table=table,
        model=analysis.schema.label(table),
        share=analysis.share(total),
        callsites=sites,
    )
