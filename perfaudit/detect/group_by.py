"""Forced GROUP BY: an aggregate annotation over a join, where it costs.

``.annotate(n=Count("reviews"))`` joins every review row and groups the
result back: by every selected column on SQLite, by the primary key on
PostgreSQL and MariaDB/MySQL. On a plain list over one join that is the
textbook fix for a per-row count and is not reported. It is reported where
it costs: a ``LIMIT``ed (paginated) list, which groups every joined row to
keep a page; aggregates over two or more multi-valued joins, which multiply
each other's rows; and ``DISTINCT`` aggregates, which de-duplicate them.

The rewrite (correlated subqueries) is given only when it provably computes
the same numbers: every aggregate is a direct column of a table with a
foreign key to the listed model (or of a many-to-many join table, named
``Model.field.through``), nothing in ``WHERE`` restricts a joined table,
and the joins do not multiply each other's rows. Otherwise the finding says
what it saw and where, with no ``fix``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

from perfaudit.capture import Recording
from perfaudit.detect._common import Evidence, fmt_ms, fmt_share
from perfaudit.detect.finding import Finding
from perfaudit.detect.views import queryset_owner
from perfaudit.sql.shape import SqlShape
from perfaudit.text import plural

if TYPE_CHECKING:
    from django.db.models import Model

__all__ = ["detect"]

_AGGREGATE = re.compile(
    r"\b(COUNT|SUM|AVG|MIN|MAX)\((DISTINCT )?"
    r"(?:\"([^\"]+)\"|`([^`]+)`)\.(?:\"([^\"]+)\"|`([^`]+)`)\)\s+AS\s+(?:\"([^\"]+)\"|`([^`]+)`)",
    re.IGNORECASE,
)


class _Annotation(NamedTuple):
    function: str
    distinct: bool
    table: str
    column: str
    alias: str


def detect(source: Recording | Evidence) -> list[Finding]:
    evidence = Evidence.of(source)
    schema = evidence.schema

    def grouped_join(shape: SqlShape) -> bool:
        if shape.kind != "select" or not shape.group_by or len(shape.main_tables) < 2:
            return False
        main = shape.main_tables[0]
        if f"{main}.{schema.pk_column(main)}" not in shape.group_by:
            return False
        return any(
            a.column != "*" and a.column.rpartition(".")[0] not in ("", main)
            for a in shape.aggregates
        )

    by_shape: dict[tuple[str, int], list[int]] = {}
    for i in evidence.matching(grouped_join):
        by_shape.setdefault((evidence.events[i].alias, evidence.shape_index[i]), []).append(i)
    findings = []
    for indices in by_shape.values():
        finding = _finding(evidence, indices)
        if finding is not None:
            findings.append(finding)
    return findings


def _multi_valued(evidence: Evidence, parent: type[Model] | None, tables: list[str]) -> list[str]:
    """Joined tables with a foreign key to ``parent`` (reverse FK or join table)."""
    found = []
    for table in tables:
        model = evidence.schema.model(table)
        if model is None or parent is None:
            continue
        if any(
            f.is_relation and f.many_to_one and f.related_model is parent
            for f in model._meta.concrete_fields
        ):
            found.append(table)
    return found


def _finding(evidence: Evidence, indices: list[int]) -> Finding | None:
    event, shape = evidence.events[indices[0]], evidence.shapes[indices[0]]
    main = shape.main_tables[0]
    parent = evidence.schema.model(main)
    joined = [t for t in shape.main_tables[1:] if t != main]
    multi = _multi_valued(evidence, parent, joined)
    distinct = any(a.distinct for a in shape.aggregates)
    if not (shape.limit or distinct or len(multi) >= 2):
        return None  # one join, a whole list: the cheapest way to count per row
    name = parent.__name__ if parent is not None else f"`{main}`"
    total = evidence.total(indices)
    share = evidence.share(total)
    calls = ", ".join(
        f"`{a.function}({'DISTINCT ' if a.distinct else ''}{a.column})`" for a in shape.aggregates
    )
    listing = "paginated list" if shape.limit else "list"
    why = (
        f"The {listing} of `{name}` computes {calls} over a join and groups the joined rows "
        f"back (GROUP BY of {plural(len(shape.group_by), 'item')}; "
        f"{plural(len(indices), 'query', 'queries')}, "
        f"{fmt_ms(total)}, {fmt_share(share)})"
    )
    annotations = _annotations(event.sql, main)
    fix, reason = _rewrite(evidence, shape, parent, annotations, multi)
    if fix is not None:
        suggestion = (
            f"{why}; compute each aggregate in a correlated subquery instead, which gives "
            f"the same numbers without grouping the list: `{fix}`."
        )
    else:
        suggestion = f"{why}. {reason}"
    owner = queryset_owner(evidence, parent, event.callsite)
    if owner is not None:
        suggestion += f" That queryset is built at {owner}."
    return evidence.finding(
        "forced_group_by",
        indices,
        severity="high" if share >= 0.5 else "medium",
        suggestion=suggestion,
        table=main,
        model=parent._meta.label if parent is not None else None,
        fix=fix,
    )


def _annotations(sql: str, main: str) -> list[_Annotation]:
    found = []
    for m in _AGGREGATE.finditer(sql):
        table = m.group(3) or m.group(4)
        if table == main:
            continue
        found.append(
            _Annotation(
                m.group(1).upper(),
                m.group(2) is not None,
                table,
                m.group(5) or m.group(6),
                m.group(7) or m.group(8),
            )
        )
    return found


def _rewrite(
    evidence: Evidence,
    shape: SqlShape,
    parent: type[Model] | None,
    annotations: list[_Annotation],
    multi: list[str],
) -> tuple[str | None, str]:
    """The subquery rewrite of every aggregate, or ``None`` and why not."""
    joined = [a for a in shape.aggregates if a.column.rpartition(".")[0] not in ("", "*")]
    if parent is None or not annotations or len(annotations) != len(joined):
        return None, (
            "Not every aggregate is a plain column of a joined table (a `filter=` or an "
            "expression), so no rewrite is given: compute each in a correlated `Subquery` "
            "with the same condition."
        )
    if len(multi) >= 2 and not all(a.distinct for a in annotations):
        return None, (
            f"The joins of {', '.join(multi)} multiply each other's rows, so each aggregate "
            "also counts the other join's rows; correlated subqueries would give per-relation "
            "numbers, a different result: check which one the code means before rewriting."
        )
    main = shape.main_tables[0]
    counted = {a.table for a in annotations}
    restricted = {t for t in _where_tables(shape) if t != main}
    inner = set(re.findall(r" INNER JOIN (\w+)", shape.fingerprint))
    if (restricted | inner) & counted:
        return None, (
            "A joined table that is aggregated is also filtered (or inner-joined), so the "
            "aggregate covers only the matching rows: a rewrite must repeat that filter inside "
            "each correlated subquery; none is given here."
        )
    if restricted and not all(a.distinct for a in annotations):
        return None, (
            f"The rows are also filtered through {', '.join(sorted(restricted))}, whose join "
            "can repeat each row in the aggregate: correlated subqueries would not count "
            "those repeats, a different result; check which one the code means first."
        )
    parts = []
    for annotation in annotations:
        part = _subquery(evidence, parent, annotation)
        if part is None:
            return None, (
                f"`{annotation.table}` is not reached from `{parent.__name__}` by one foreign "
                "key, so no rewrite is given: compute the aggregate in a correlated `Subquery`."
            )
        parts.append(f"{annotation.alias}={part}")
    return f"annotate({', '.join(parts)})", ""


def _where_tables(shape: SqlShape) -> list[str]:
    match = re.search(r" WHERE (.*?)(?: GROUP BY |$)", shape.fingerprint)
    if match is None:
        return []
    tables = set(shape.main_tables)
    return [t for t in re.findall(r"\b([a-z_]\w*)\.[a-z_]\w*", match.group(1)) if t in tables]


def _subquery(evidence: Evidence, parent: type[Model], annotation: _Annotation) -> str | None:
    counted = evidence.schema.model(annotation.table)
    if counted is None:
        return None
    fks = [
        f
        for f in counted._meta.concrete_fields
        if f.is_relation and f.many_to_one and f.related_model is parent
    ]
    if len(fks) != 1:
        return None
    fk = fks[0].name
    name = _importable(evidence, counted)
    if name is None:
        return None
    field = evidence.schema.field_by_column(counted, annotation.column)
    if field is None:
        return None
    target = "pk" if field.primary_key else field.name
    distinct = ", distinct=True" if annotation.distinct else ""
    function = annotation.function.capitalize()
    inner = (
        f'Subquery({name}.objects.filter({fk}=OuterRef("pk")).order_by()'
        f'.values("{fk}").annotate(n={function}("{target}"{distinct})).values("n"))'
    )
    return f"Coalesce({inner}, 0)" if annotation.function == "COUNT" else inner


def _importable(evidence: Evidence, model: type[Model]) -> str | None:
    """The model's name as code can reach it: ``Book.tags.through`` for a join table."""
    if not model._meta.auto_created:
        return model.__name__
    for field in evidence.schema.m2m_through(model._meta.db_table):
        return f"{field.model.__name__}.{field.name}.through"
    return None
