"""COUNT over DISTINCT: what ``.distinct().count()`` and paginators run.

Two shapes: ``SELECT COUNT(*) FROM (SELECT DISTINCT <every column> …)
subquery`` (a queryset with ``.distinct()`` counted, typically by a paginator,
often because a filter joined through a multi-valued relation) and
``COUNT(DISTINCT …)`` over joins without ``GROUP BY`` (an ``aggregate()``;
with ``GROUP BY`` it is a per-row annotation, reported as a forced GROUP BY).
A ``DISTINCT`` of a single column (the ``values("pk").distinct()`` rewrite)
is not reported: it is the cheap form.
"""

from __future__ import annotations

from perfaudit.capture import Recording
from perfaudit.detect._common import Evidence, fmt_ms, fmt_share
from perfaudit.detect.finding import Finding
from perfaudit.detect.views import queryset_owner
from perfaudit.sql.shape import SqlShape
from perfaudit.text import plural

__all__ = ["detect"]


def detect(source: Recording | Evidence) -> list[Finding]:
    analysis = Evidence.of(source)
    by_shape: dict[tuple[str, int], list[int]] = {}
    for i in analysis.matching(_counts_over_distinct):
        key = (analysis.events[i].alias, analysis.shape_index[i])
        by_shape.setdefault(key, []).append(i)
    return [_finding(analysis, indices) for indices in by_shape.values()]


def _counts_over_distinct(shape: SqlShape) -> bool:
    if shape.kind != "select":
        return False
    if shape.count_over_distinct and shape.distinct_columns >= 2:
        return True
    # With a GROUP BY it is a per-row annotation: the forced-GROUP-BY finding.
    return (
        not shape.group_by
        and len(shape.tables) >= 2
        and any(a.function == "COUNT" and a.distinct for a in shape.aggregates)
    )


def _finding(analysis: Evidence, indices: list[int]) -> Finding:
    shape = analysis.shapes[indices[0]]
    table = shape.tables[0] if shape.tables else None
    joined = [t for t in shape.tables[1:] if t != table]
    model = analysis.schema.model(table)
    name = model.__name__ if model is not None else f"`{table}`"
    total = analysis.total(indices)
    share = analysis.share(total)
    cost = f"{plural(len(indices), 'query', 'queries')}, {fmt_ms(total)}, {fmt_share(share)}"
    exists = _exists_rewrite(analysis, table, joined)
    join_text = f" joined with {', '.join(joined)}" if joined else ""

    if shape.count_over_distinct:
        suggestion = (
            f"`{name}` rows are counted over a `SELECT DISTINCT` of "
            f"{shape.distinct_columns} columns{join_text} ({cost}): the count that "
            f"`.distinct().count()` and paginators run. "
        )
        if joined:
            suggestion += (
                f"Filter with `{exists}` instead of joining so the queryset needs no "
                f"`.distinct()`, or count keys only: "
                f'`{name}.objects.filter(pk__in=queryset.values("pk")).count()`.'
            )
        else:
            suggestion += (
                "Nothing here is joined, so `.distinct()` removes no duplicate rows: drop "
                'it, or count keys only with `queryset.values("pk").distinct().count()`.'
            )
    else:
        suggestion = (
            f"`COUNT(DISTINCT …)` over `{table}`{join_text} ({cost}) de-duplicates every "
            f"joined row; count in a correlated `Subquery` per row, or filter with "
            f"`{exists}` instead of joining."
        )
    owner = queryset_owner(analysis, model, analysis.events[indices[0]].callsite)
    if owner is not None:
        suggestion += f" That queryset is built at {owner}."
    return analysis.finding(
        "count_distinct",
        indices,
        severity="high" if joined else "medium",
        suggestion=suggestion,
        table=table,
        model=model._meta.label if model is not None else None,
        # The Exists() rewrite needs the join's own condition, which stays "...":
        # a pattern in the sentence, never a `fix` (a fix is code that runs).
        fix=None if joined else 'values("pk").distinct()',
    )


def _exists_rewrite(analysis: Evidence, table: str | None, joined: list[str]) -> str:
    """``Exists(...)`` over the first joined relation the schema can name."""
    model = analysis.schema.model(table)
    if model is None:
        return "Exists(...)"
    for joined_table in joined:
        for field in analysis.schema.m2m_through(joined_table):
            if field.model is model:
                fk = field.m2m_field_name()  # type: ignore[attr-defined]
                return (
                    f"Exists({model.__name__}.{field.name}.through.objects.filter("
                    f'{fk}=OuterRef("pk"), ...))'
                )
            if field.related_model is model:
                fk = field.m2m_reverse_field_name()  # type: ignore[attr-defined]
                accessor = field.remote_field.get_accessor_name()  # type: ignore[union-attr]
                return (
                    f"Exists({model.__name__}.{accessor}.through.objects.filter("
                    f'{fk}=OuterRef("pk"), ...))'
                )
        other = analysis.schema.model(joined_table)
        if other is None:
            continue
        for field in other._meta.concrete_fields:
            if field.is_relation and field.related_model is model:
                return f'Exists({other.__name__}.objects.filter({field.name}=OuterRef("pk"), ...))'
    return "Exists(...)"
