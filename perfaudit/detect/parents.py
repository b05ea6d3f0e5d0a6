"""Where the parent rows of a per-row query came from, and the path to them.

"Evaluated at" is the last query *before the loop* that loaded rows of the
parent model (never a ``COUNT`` or an ``.exists()`` probe, never outside the
unit being judged). When those rows were themselves loaded one at a time (an
N+1 one level up), by a prefetch (``WHERE fk IN (...)``) or through a join
(``select_related``), the walk goes up to the query the user wrote and
returns the lookup path from it: ``Profile.user`` under ``Article.author``
gives ``author__user`` on the ``Article`` queryset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from perfaudit.detect.relations import is_row_load
from perfaudit.detect.schema import Relation

if TYPE_CHECKING:
    from django.db.models import Model

    from perfaudit.detect._common import Evidence

__all__ = ["Parent", "locate"]

_MAX_DEPTH = 4


@dataclass(frozen=True, slots=True)
class Parent:
    """The query that loaded the parent rows, and how to reach them from it.

    ``index`` is the event; ``root`` the model that query loads; ``path`` the
    lookups from ``root`` to the parent model (empty when they are the same);
    ``multi`` whether a step of the path is multi-valued (a reverse foreign
    key or a many-to-many), which rules out ``select_related``.
    """

    index: int
    root: type[Model]
    path: tuple[str, ...] = ()
    multi: bool = False


def locate(
    evidence: Evidence,
    model: type[Model],
    before: int,
    links: dict[object, tuple[Relation, int]],
    depth: int = 0,
) -> Parent | None:
    """The parent query of ``model`` rows used at event ``before``.

    ``links`` maps already-classified N+1 groups (by
    :func:`~perfaudit.detect.n_plus_one.group_key`) to the relation they load
    and their first event, so a chain of N+1s composes into one lookup path.
    """
    table = model._meta.db_table
    shapes = evidence.shapes
    for i in range(before - 1, -1, -1):
        shape = shapes[i]
        if table not in shape.main_tables or not is_row_load(shape):
            continue
        main = shape.main_tables[0]
        if main != table:
            root = evidence.schema.model(main)
            path = _joined_path(evidence, root, model, shape.main_tables)
            if root is None or path is None:
                continue  # the table is joined for a filter, not loaded
            return Parent(i, root, path)
        link, start = links.get(_group_key(evidence, i)) or (_prefetch_link(evidence, i, model), i)
        if link is not None and depth < _MAX_DEPTH:
            upper = locate(evidence, link.source, start, links, depth + 1)
            if upper is not None:
                multi = upper.multi or link.kind in ("reverse_fk", "m2m")
                return Parent(upper.index, upper.root, (*upper.path, link.name), multi)
        return Parent(i, model)
    return None


def _group_key(evidence: Evidence, i: int) -> tuple[object, ...]:
    event = evidence.events[i]
    return (event.alias, evidence.shape_index[i], event.callsite, event.origin)


def _prefetch_link(evidence: Evidence, i: int, model: type[Model]) -> Relation | None:
    """The relation a ``prefetch_related`` query loaded (``WHERE fk IN (...)``)."""
    from perfaudit.detect.params import slots

    event = evidence.events[i]
    for slot in slots(event.sql):
        if slot.op != "IN" or slot.column is None:
            continue
        table, _, column = slot.column.rpartition(".")
        recent = list(evidence.shapes[i - 1].main_tables) if i > 0 else []
        found = evidence.schema.relation_for_filter(table, column, recent)
        for relation in found:
            if relation.target is model:
                return relation
        return None
    return None


def _joined_path(
    evidence: Evidence, root: type[Model] | None, model: type[Model], tables: tuple[str, ...]
) -> tuple[str, ...] | None:
    """Forward lookups from ``root`` to ``model`` over tables the query joined."""
    if root is None:
        return None
    allowed = set(tables)
    frontier: list[tuple[type[Model], tuple[str, ...]]] = [(root, ())]
    seen = {root}
    while frontier:
        current, path = frontier.pop(0)
        for field in current._meta.get_fields():
            if not (field.is_relation and (field.many_to_one or field.one_to_one)):
                continue
            target = field.related_model
            if target is None or isinstance(target, str) or target in seen:
                continue
            if target._meta.db_table not in allowed:
                continue
            name = field.name if field.concrete else field.get_accessor_name()  # type: ignore[union-attr]
            if name is None:
                continue
            if target is model:
                return (*path, name)
            seen.add(target)
            frontier.append((target, (*path, name)))
    return None
