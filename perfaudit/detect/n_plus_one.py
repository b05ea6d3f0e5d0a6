"""N+1: one query per parent row where one query for all of them would do.

Heuristic: the same fingerprint, issued from the same call site at least
``N_PLUS_ONE_MIN_REPEATS`` times with different parameter values, each a
``SELECT`` of one table (plus a many-to-many join table) by equality or a
value list on exactly one column. The filtered column is mapped through the
app registry to the relation being walked, which names the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import django

from perfaudit.capture import Recording
from perfaudit.conf import app_settings
from perfaudit.detect._common import Evidence, fmt_ms, fmt_site, fmt_source, params_key
from perfaudit.detect.finding import Finding
from perfaudit.detect.schema import Relation
from perfaudit.sql.shape import SqlShape

if TYPE_CHECKING:
    from django.db.models import Model

__all__ = ["detect", "groups"]

_FETCH_MODES = django.VERSION >= (6, 1)


def _candidate(shape: SqlShape) -> bool:
    """A SELECT of one table (plus a join table) by one column's value(s)."""
    if shape.kind != "select" or len(shape.filters) != 1 or len(shape.main_tables) > 2:
        return False
    return shape.filters[0].rpartition(".")[0] in shape.main_tables


def groups(analysis: Evidence, min_repeats: int) -> list[list[int]]:
    """Event indices of each N+1 group, in order of first occurrence."""
    candidates: dict[tuple[object, ...], list[int]] = {}
    events, shape_index = analysis.events, analysis.shape_index
    for i in analysis.matching(_candidate):
        event = events[i]
        key = (event.alias, shape_index[i], event.callsite, event.origin)
        candidates.setdefault(key, []).append(i)

    found = []
    for indices in candidates.values():
        if len(indices) < min_repeats:
            continue
        if _same_params_every_time([events[i].params for i in indices]):
            continue  # the same row every time: a duplicate, not an N+1
        found.append(indices)
    return found


def _same_params_every_time(params: list[object]) -> bool:
    """True only when every parameter tuple is known and equal to the first."""
    if any(p is None for p in params):
        return False
    first = params_key(params[0])
    return all(params_key(p) == first for p in params[1:])


def detect(source: Recording | Evidence, *, min_repeats: int | None = None) -> list[Finding]:
    analysis = Evidence.of(source)
    if min_repeats is None:
        min_repeats = app_settings.N_PLUS_ONE_MIN_REPEATS
    found = groups(analysis, min_repeats)
    analysis.claimed = {i for indices in found for i in indices}
    return [_finding(analysis, indices) for indices in found]


def _finding(analysis: Evidence, indices: list[int]) -> Finding:
    first = indices[0]
    event, shape = analysis.events[first], analysis.shapes[first]
    table, _, column = shape.filters[0].rpartition(".")
    recent = _recent_tables(analysis, first)
    relations = analysis.schema.relation_for_filter(table, column, recent)
    total = analysis.total(indices)
    where = f"{len(indices)} queries from {fmt_source(event)}, {fmt_ms(total)}"
    relation = relations[0] if len(relations) == 1 else None

    if relation is not None:
        loaded_at = _loaded_at(analysis, first, relation)
        suggestion, fix = _suggest(relation, shape.aggregates, where, loaded_at)
    elif relations:
        options = " or ".join(
            f'`{r.label}` (`{r.method}("{r.name}")` on `{r.source.__name__}`)' for r in relations
        )
        suggestion = (
            f"`{table}` rows are loaded one at a time by `{column}` ({where}) through one of "
            f"{options}; add the matching call to the queryset that loads the parent rows."
        )
        fix = None
    else:
        suggestion = (
            f"`{table}` is queried once per row by `{table}.{column}` ({where}); load all the "
            f"rows in one query before the loop (`filter({column}__in=...)`), or use "
            f"`prefetch_related` if this is a relation."
        )
        fix = None

    count = len(indices)
    share = analysis.share(total)
    return Finding(
        kind="n_plus_one",
        # By count only, so the same code always gets the same severity.
        severity="high" if count >= 10 else "medium",
        fingerprint=shape.fingerprint,
        count=count,
        total_duration=total,
        callsite=event.callsite,
        sql=event.sql,
        suggestion=suggestion,
        table=table,
        model=analysis.schema.label(table),
        relation=relation.label if relation is not None else None,
        fix=fix,
        share=share,
        callsites=analysis.sites(indices),
    )


def _suggest(
    relation: Relation, aggregates: tuple[object, ...], where: str, loaded_at: str
) -> tuple[str, str]:
    source = relation.source.__name__
    target = relation.target.__name__
    fix = f'{relation.method}("{relation.name}")'
    if aggregates and relation.kind in ("reverse_fk", "m2m"):
        subquery = _count_subquery(relation)
        return (
            f"`{relation.label}` is counted one row at a time ({where}); annotate the count "
            f"on the queryset that loads `{source}` rows{loaded_at} with a correlated "
            f"subquery (`{subquery}`), or `{fix}` and count the prefetched rows with "
            f"`len(obj.{relation.name}.all())`.",
            fix,
        )
    sentence = (
        f"`{relation.label}` is loaded one row at a time ({where}); add `{fix}` to the "
        f"queryset that loads `{source}` rows{loaded_at}"
    )
    if relation.kind in ("forward", "reverse_one_to_one") and _FETCH_MODES:
        sentence += (
            f", or load {target} rows for all peers on first access with "
            f"`.fetch_mode(models.FETCH_PEERS)` (Django 6.1+)"
        )
    return sentence + ".", fix


def _count_subquery(relation: Relation) -> str:
    """A correlated subquery counting the relation's rows per parent."""
    if relation.kind == "m2m":
        through = getattr(relation.source, relation.name).through
        counted = f"{relation.source.__name__}.{relation.name}.through"
    else:
        through = relation.target
        counted = relation.target.__name__
    fk_name = _fk_name(through, relation)
    return (
        f'Subquery({counted}.objects.filter({fk_name}=OuterRef("pk"))'
        f'.order_by().values("{fk_name}").annotate(n=Count("pk")).values("n"))'
    )


def _fk_name(model: type[Model], relation: Relation) -> str:
    """The foreign key on ``model`` that points back to the relation's source."""
    fallback = relation.source.__name__.lower()
    for field in model._meta.concrete_fields:
        if field.is_relation and field.related_model is relation.source:
            if relation.kind == "m2m":
                return field.name
            if field.remote_field.get_accessor_name() == relation.name:  # type: ignore[union-attr]
                return field.name
    return fallback


def _recent_tables(analysis: Evidence, before: int) -> list[str]:
    """Tables read by the queries before ``before``, most recent first."""
    tables: list[str] = []
    for i in range(before - 1, -1, -1):
        for table in analysis.shapes[i].main_tables:
            if table not in tables:
                tables.append(table)
    return tables


def _loaded_at(analysis: Evidence, before: int, relation: Relation) -> str:
    """Where the queryset of the parent rows was evaluated: " (evaluated at x.py:12)"."""
    source_table = relation.source._meta.db_table
    for i in range(before - 1, -1, -1):
        if source_table in analysis.shapes[i].main_tables:
            site = analysis.events[i].callsite
            return f" (evaluated at {fmt_site(site)})" if site is not None else ""
    return ""
