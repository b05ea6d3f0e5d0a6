"""Forced GROUP BY: an aggregate annotation over a join on a list query.

``.annotate(n=Count("reviews"))`` joins every review row and groups the
result back: by every selected column on SQLite, by the primary key on
PostgreSQL and MariaDB/MySQL (followed there by ``ORDER BY NULL`` when the
queryset is unordered). Either way the list query now sorts or hashes the
joined rows. Reported when the main statement groups by the main table's
primary key and aggregates a column of another (joined) table. A report such
as ``values("author").annotate(n=Count("id"))`` groups by another column and
is not reported.
"""

from __future__ import annotations

from perfaudit.capture import Recording
from perfaudit.detect._common import Evidence, fmt_ms, fmt_share
from perfaudit.detect.finding import Finding
from perfaudit.sql.shape import Aggregate, SqlShape

__all__ = ["detect"]


def detect(source: Recording | Evidence) -> list[Finding]:
    analysis = Evidence.of(source)
    schema = analysis.schema

    def joined_aggregate(shape: SqlShape) -> Aggregate | None:
        if shape.kind != "select" or not shape.group_by or len(shape.main_tables) < 2:
            return None
        main = shape.main_tables[0]
        if f"{main}.{schema.pk_column(main)}" not in shape.group_by:
            return None
        for aggregate in shape.aggregates:
            table = aggregate.column.rpartition(".")[0]
            if aggregate.column != "*" and table not in ("", main):
                return aggregate
        return None

    by_shape: dict[tuple[str, int], list[int]] = {}
    for i in analysis.matching(lambda shape: joined_aggregate(shape) is not None):
        by_shape.setdefault((analysis.events[i].alias, analysis.shape_index[i]), []).append(i)
    findings = []
    for indices in by_shape.values():
        aggregate = joined_aggregate(analysis.shapes[indices[0]])
        assert aggregate is not None
        findings.append(_finding(analysis, indices, aggregate))
    return findings


def _finding(analysis: Evidence, indices: list[int], aggregate: Aggregate) -> Finding:
    event, shape = analysis.events[indices[0]], analysis.shapes[indices[0]]
    main = shape.main_tables[0]
    model = analysis.schema.model(main)
    name = model.__name__ if model is not None else f"`{main}`"
    total = analysis.total(indices)
    share = analysis.share(total)
    call = f"{aggregate.function}({'DISTINCT ' if aggregate.distinct else ''}{aggregate.column})"
    subquery = _subquery(analysis, main, aggregate)
    listing = "paginated list" if shape.limit else "list"
    suggestion = (
        f"The {listing} of `{name}` computes `{call}` over a join and groups the joined "
        f"rows back (GROUP BY of {len(shape.group_by)} item(s); {len(indices)} query(ies), "
        f"{fmt_ms(total)}, {fmt_share(share)}); replace the aggregate annotation with a "
        f"correlated subquery: `{subquery}` (wrap it in `Coalesce(..., 0)` for rows "
        f"without any)."
    )
    return Finding(
        kind="forced_group_by",
        severity="high" if share >= 0.5 else "medium",
        fingerprint=shape.fingerprint,
        count=len(indices),
        total_duration=total,
        callsite=event.callsite,
        sql=event.sql,
        suggestion=suggestion,
        table=main,
        model=model._meta.label if model is not None else None,
        fix=subquery,
        share=share,
        callsites=analysis.sites(indices),
    )


def _subquery(analysis: Evidence, main: str, aggregate: Aggregate) -> str:
    table, _, column = aggregate.column.rpartition(".")
    parent = analysis.schema.model(main)
    counted = analysis.schema.model(table)
    if parent is None or counted is None:
        return f'Subquery(<{table} rows filtered by OuterRef("pk")>.values(<count>))'
    fk = next(
        (
            f.name
            for f in counted._meta.concrete_fields
            if f.is_relation and f.related_model is parent
        ),
        None,
    )
    if fk is None:
        path = f"<path to {parent.__name__}>"
        return f'Subquery({counted.__name__}.objects.filter({path}=OuterRef("pk"))...)'
    field = analysis.schema.field_by_column(counted, column)
    target = "pk" if field is None or field.primary_key else field.name
    distinct = ", distinct=True" if aggregate.distinct else ""
    function = aggregate.function.capitalize()
    return (
        f'Subquery({counted.__name__}.objects.filter({fk}=OuterRef("pk")).order_by()'
        f'.values("{fk}").annotate(n={function}("{target}"{distinct})).values("n"))'
    )
