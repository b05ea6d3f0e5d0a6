"""The code change that removes an N+1, and the sentence that says it.

Every fix is code that runs as written against the user's models and keeps
what the code computes: lookup paths are composed from the query that loaded
the parent rows (``select_related("author__user")``), join tables are named
``Model.field.through``, a per-row filter keeps its filter (``Prefetch(...,
queryset=..., to_attr=...)``). When the evidence does not support a rewrite
that is certainly equivalent, the finding says what it saw and where, with no
``fix``. The one-line ``fix`` and the sentence always name the same change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import django

from perfaudit.detect.parents import Parent
from perfaudit.detect.relations import Access
from perfaudit.detect.schema import Relation

if TYPE_CHECKING:
    from django.db.models import Model

__all__ = ["suggest"]

_FETCH_MODES = django.VERSION >= (6, 1)
_MULTI = ("reverse_fk", "m2m")


def suggest(
    access: Access, parent: Parent, where: str, loaded_at: str, parent_fields: tuple[str, ...] = ()
) -> tuple[str, str | None]:
    """``(sentence, fix)`` for one per-row access whose parent rows ``parent`` loaded.

    ``parent_fields``: the fields the parent query selected (for a deferred field).
    """
    relation = access.relation
    root = parent.root.__name__
    on = f"the queryset that loads `{root}` rows{loaded_at}"
    path = "__".join((*parent.path, relation.name))
    if access.mode == "reader":
        return _reader(access, parent, where, on)
    if access.mode == "deferred":
        model = relation.source.__name__
        added = ", ".join(f'"{name}"' for name in access.fixed)
        if parent.path:
            return (
                f"`{model}.{relation.name}` was deferred (`.only()`/`.defer()`) when `{model}` "
                f"rows were loaded under `{root}`{loaded_at} and is read on every row ({where}); "
                f"load {added} with them.",
                None,
            )
        kept = [f for f in parent_fields if f not in access.fixed]
        fields = ", ".join(f'"{name}"' for name in (*kept, *access.fixed))
        fix = f"only({fields})"
        return (
            f"`{model}.{relation.name}` was left out of the query that loads `{model}` "
            f"rows{loaded_at} (`.only()`/`.defer()`) and is read on every row, one query per "
            f"row ({where}); load it with the rows: `{fix}` (or drop it from `.defer(...)`).",
            fix,
        )
    if access.mode in ("count", "exists"):
        return _aggregate(access, parent, where, on)
    if access.fixed:
        return _filtered(access, parent, where, on, path)
    multi = parent.multi or relation.kind in _MULTI
    method = "prefetch_related" if multi else "select_related"
    fix = f'{method}("{path}")'
    sentence = f"`{relation.label}` is loaded one row at a time ({where}); add `{fix}` to {on}"
    if not multi and relation.kind in ("forward", "reverse_one_to_one") and _FETCH_MODES:
        sentence += (
            f", or load {relation.target.__name__} rows for all peers on first access with "
            f"`.fetch_mode(models.FETCH_PEERS)` (Django 6.1+)"
        )
    return sentence + ".", fix


def _filtered(
    access: Access, parent: Parent, where: str, on: str, path: str
) -> tuple[str, str | None]:
    relation = access.relation
    seen = ", ".join(f"`{name}`" for name in access.fixed)
    if relation.kind not in _MULTI:
        # A helper calling .get(pk=..., <more>=...) per row: select_related would drop the filter.
        return (
            f"`{relation.label}` is looked up one row at a time with a fixed filter on {seen} "
            f"({where}); load the {relation.target.__name__} rows for all parents in one query "
            f"before the loop (`{relation.target.__name__}.objects.filter(..., pk__in=ids)."
            f"in_bulk()`) and read them from the dict.",
            None,
        )
    target = relation.target.__name__
    attr = f"{relation.name}_filtered"
    filters = ", ".join(f"{name}={name}" for name in access.fixed)
    fix = (
        f'prefetch_related(Prefetch("{path}", queryset={target}.objects.filter({filters}), '
        f'to_attr="{attr}"))'
    )
    return (
        f"`{relation.label}` is filtered one row at a time on {seen} ({where}); prefetch the "
        f"filtered rows once by adding `{fix}` to {on} (the same filter values as the loop), "
        f"and read `obj.{attr}` instead of the per-row filter.",
        fix,
    )


def _aggregate(access: Access, parent: Parent, where: str, on: str) -> tuple[str, str | None]:
    relation = access.relation
    verb = "counted" if access.mode == "count" else "probed with `.exists()`"
    if relation.kind not in _MULTI:
        return (
            f"`{relation.label}` is {verb} one row at a time ({where}); load the related rows "
            f"with the parent rows of {on}.",
            None,
        )
    prefix = "__".join(parent.path)
    # Through single-valued steps the outer row reaches the parent's key
    # directly (`OuterRef("author")`); through a multi-valued one it cannot.
    outer = prefix if parent.path and not parent.multi else "pk"
    inner = _correlated(relation, access.fixed, access.mode, outer)
    base = f"{relation.name}_count" if access.mode == "count" else f"has_{relation.name}"
    name = f"{prefix}_{base}" if parent.path else base
    annotate = f"annotate({name}={inner})"
    if parent.multi:
        inner = _correlated(relation, access.fixed, access.mode, "pk")
        fix = (
            f'prefetch_related(Prefetch("{prefix}", queryset='
            f"{relation.source.__name__}.objects.annotate({base}={inner})))"
        )
        # Code in backticks, the words outside them: the panel renders code spans.
        read, where_read = f"obj.{base}", f" on each prefetched `{relation.source.__name__}`"
    else:
        fix = annotate
        read, where_read = f"obj.{name}", ""
    sentence = f"`{relation.label}` is {verb} one row at a time ({where}); add `{fix}` to {on} "
    if "Coalesce(" in fix:
        sentence += "(`from django.db.models.functions import Coalesce`) "
    if access.mode == "count" and not access.fixed and not parent.path:
        sentence += (
            f'and read `{read}`{where_read} (or `prefetch_related("{relation.name}")` and '
            f"`len(obj.{relation.name}.all())`)."
        )
    else:
        sentence += f"and read `{read}`{where_read}."
    return sentence, fix


def _correlated(relation: Relation, fixed: tuple[str, ...], mode: str, outer: str = "pk") -> str:
    """``Subquery`` counting, or ``Exists`` probing, the relation's rows per parent."""
    if relation.kind == "m2m":
        through = getattr(relation.source, relation.name).through
        counted = _through_name(relation)
    else:
        through = relation.target
        counted = relation.target.__name__
    fk = _fk_name(through, relation)
    extra = "".join(f", {name}={name}" for name in fixed)
    if mode == "exists":
        return f'Exists({counted}.objects.filter({fk}=OuterRef("{outer}"){extra}))'
    return (
        f'Coalesce(Subquery({counted}.objects.filter({fk}=OuterRef("{outer}"){extra})'
        f'.order_by().values("{fk}").annotate(n=Count("pk")).values("n")), 0)'
    )


def _through_name(relation: Relation) -> str:
    """``Book.tags.through``: the importable name of an auto-created join table."""
    return f"{relation.source.__name__}.{relation.name}.through"


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


def _reader(access: Access, parent: Parent, where: str, on: str) -> tuple[str, str | None]:
    """``reader.m2m.filter(pk=row.pk).exists()`` per row: one probe per row."""
    relation, field = access.relation, access.through
    assert field is not None
    variable = _reader_expression(relation.source)
    if relation.source is field.model and relation.name == field.name:
        mine, theirs = field.m2m_field_name(), field.m2m_reverse_field_name()  # type: ignore[attr-defined]
    else:
        mine, theirs = field.m2m_reverse_field_name(), field.m2m_field_name()  # type: ignore[attr-defined]
    through = f"{field.model.__name__}.{field.name}.through"
    rows = relation.target.__name__
    if parent.multi:
        ids = f'set({variable}.{relation.name}.values_list("pk", flat=True))'
        return (
            f"`{relation.label}` is probed once per `{rows}` row from the reader's side "
            f"(`{variable}.{relation.name}.filter(pk=row.pk).exists()`; {where}; rows loaded "
            f"by {on}); read the reader's ids once per request with `{ids}` and test "
            f"`row.pk in ids`.",
            None,
        )
    outer = "__".join(parent.path) if parent.path else "pk"
    name = f"{outer}_in_{relation.name}" if parent.path else f"in_{relation.name}"
    exists = f'Exists({through}.objects.filter({mine}={variable}, {theirs}=OuterRef("{outer}")))'
    fix = f"annotate({name}={exists})"
    row = f"row.{'.'.join(parent.path)}" if parent.path else "row"
    return (
        f"`{relation.label}` is probed once per `{rows}` row from the reader's side "
        f"(`{variable}.{relation.name}.filter(pk={row}.pk).exists()`; {where}); add `{fix}` to "
        f"{on} and read `row.{name}`, or read the ids once per request with "
        f'`set({variable}.{relation.name}.values_list("pk", flat=True))` and test '
        f"`{row}.pk in ids`.",
        fix,
    )


def _reader_expression(reader: type[Model]) -> str:
    """How code reaches the reader: ``request.user.profile`` for a user's one-to-one."""
    from django.contrib.auth import get_user_model

    try:
        user = get_user_model()
    except Exception:  # auth not installed or misconfigured: a plain variable
        user = None
    if reader is user:
        return "request.user"
    for field in reader._meta.concrete_fields:
        if field.one_to_one and field.related_model is user:
            accessor = field.remote_field.get_accessor_name()  # type: ignore[union-attr]
            if accessor:
                return f"request.user.{accessor}"
    return reader.__name__.lower()
