"""What one per-row query does: the relation, the kind of access, the parent model.

Input: the statement's shape, the column whose value varies from row to row
(the row key) and the columns whose value stays the same. Output: an
:class:`Access` naming ``Model.field``, how it is accessed (loaded, counted,
probed with ``.exists()``, filtered, or read from the reader's side of a
many-to-many) and the model whose rows are iterated (the parent). The schema
(:mod:`perfaudit.detect.schema`) does the table → model mapping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perfaudit.detect.schema import Relation, Schema
from perfaudit.sql.shape import SqlShape

if TYPE_CHECKING:
    from django.db.models import Field, Model

__all__ = ["Access", "access_of", "is_exists_probe", "is_row_load", "joined_key"]


@dataclass(frozen=True, slots=True)
class Access:
    """A per-row access.

    ``mode``: ``load`` (rows read), ``count`` (``.count()``), ``exists``
    (``.exists()``), ``deferred`` (a field left out by ``.only()``/``.defer()``,
    its names in ``fixed``), ``reader`` (``reader.m2m.filter(pk=row.pk).exists()``: the
    many-to-many read from the reader's side, one probe per row). ``fixed`` are
    the field names of ``relation.target`` (or of the join table for
    ``reader``) compared to a value that is the same for every row.
    ``parent`` is the model whose rows are iterated; ``through`` the
    many-to-many field for ``reader`` accesses.
    """

    relation: Relation
    mode: str
    parent: type[Model]
    fixed: tuple[str, ...] = ()
    through: Field[Any, Any] | None = None


def is_exists_probe(shape: SqlShape) -> bool:
    """``SELECT 1 AS "a" ... LIMIT 1``: what ``.exists()`` runs."""
    return shape.fingerprint.startswith("SELECT ? AS a ")


def is_row_load(shape: SqlShape) -> bool:
    """A SELECT that loads rows: not an ``.exists()`` probe, not a bare aggregate."""
    if shape.kind != "select" or is_exists_probe(shape):
        return False
    return not (shape.aggregates and not shape.group_by)


def access_of(
    schema: Schema,
    shape: SqlShape,
    key: str,
    fixed: list[str],
    recent: list[str],
    sql: str = "",
    attribute: str | None = None,
) -> list[Access]:
    """The accesses ``shape`` can be, given the row-key column ``key`` (``table.column``).

    Several only when the schema is ambiguous (the caller names them all).
    ``attribute``: the attribute whose access ran the query, when known.
    """
    table, _, column = key.rpartition(".")
    mode = "count" if shape.aggregates else "exists" if is_exists_probe(shape) else "load"
    deferred = _deferred(schema, shape, table, column, fixed, sql) if mode == "load" else None
    if deferred is not None:
        return [deferred]
    fixed_elsewhere = [f for f in fixed if f.rpartition(".")[0] != table]

    # Reader side of a many-to-many: `reader.m2m.filter(pk=row.pk).exists()`.
    model = schema.model(table)
    if model is not None and column == schema.pk_column(table) and fixed_elsewhere:
        reader = _reader_side(schema, model, fixed_elsewhere)
        if reader is not None:
            return [reader]

    if joined_key(schema, shape, table):
        # `Check.objects.filter(project__owner=user).count()` per row: the key is
        # on a joined table that is no many-to-many join table. Not a relation:
        # naming one (User.project_set) would count the wrong rows.
        return []
    relations = schema.relation_for_filter(table, column, recent, attribute)
    accesses = []
    for relation in relations:
        names = _field_names(schema, relation, table, fixed)
        if names is None:
            continue
        parent = relation.source
        accesses.append(Access(relation, mode, parent, names))
    return accesses


def joined_key(schema: Schema, shape: SqlShape, key_table: str) -> bool:
    """Whether the row key is on a table the statement joins (not its ``FROM``
    table), other than a many-to-many join table."""
    base = shape.main_tables[0] if shape.main_tables else key_table
    return key_table != base and not schema.m2m_through(key_table)


_SELECTED = re.compile(r"^SELECT\s+(.*?)\s+FROM\s", re.DOTALL | re.IGNORECASE)
_COLUMN = re.compile(r'(?:"([^"]+)"|`([^`]+)`)\.(?:"([^"]+)"|`([^`]+)`)')


def selected_columns(sql: str, table: str) -> list[str]:
    """The columns of ``table`` in the select list of ``sql``."""
    match = _SELECTED.match(sql)
    if match is None:
        return []
    return [
        m.group(3) or m.group(4)
        for m in _COLUMN.finditer(match.group(1))
        if (m.group(1) or m.group(2)) == table
    ]


def _deferred(
    schema: Schema, shape: SqlShape, table: str, column: str, fixed: list[str], sql: str
) -> Access | None:
    """A deferred field (``.only()`` / ``.defer()``) loaded per row by primary key.

    Django reloads a deferred field with ``SELECT pk, field FROM table WHERE
    pk = ?``: fewer columns than the model has, the table's own rows. A
    forward foreign key load selects every column of the target instead.
    """
    model = schema.model(table)
    if model is None or fixed or len(shape.main_tables) != 1 or not sql:
        return None
    if column != schema.pk_column(table):
        return None
    selected = selected_columns(sql, table)
    concrete = list(model._meta.concrete_fields)
    if not selected or len(selected) >= len(concrete):
        return None
    loaded = [f.name for f in concrete if f.column in selected and f.column != column]
    if not loaded:
        return None
    relation = Relation("deferred", model, ", ".join(loaded), model)
    return Access(relation, "deferred", model, tuple(loaded))


def _reader_side(schema: Schema, model: type[Model], fixed: list[str]) -> Access | None:
    """A probe of ``model`` rows through a join table filtered by a fixed reader."""
    for column in fixed:
        through_table, _, through_column = column.rpartition(".")
        for field in schema.m2m_through(through_table):
            owner, target = field.model, field.related_model
            accessor: str | None
            if through_column == field.m2m_column_name() and target is model:  # type: ignore[attr-defined]
                reader, accessor = owner, field.name
            elif through_column == field.m2m_reverse_name() and owner is model:  # type: ignore[attr-defined]
                reader = target  # type: ignore[assignment]
                accessor = field.remote_field.get_accessor_name()  # type: ignore[union-attr]
            else:
                continue
            if accessor is None or isinstance(reader, str) or reader is None:
                continue
            relation = Relation("m2m_reader", reader, accessor, model)
            return Access(relation, "reader", model, through=field)
    return None


def _field_names(
    schema: Schema, relation: Relation, key_table: str, fixed: list[str]
) -> tuple[str, ...] | None:
    """Field names (on the loaded model) of the filters that stay the same.

    ``None`` when one of them is on a table that is neither the loaded model's
    nor the key's: the access is not understood well enough to rewrite.
    """
    names = []
    for column in fixed:
        table, _, name = column.rpartition(".")
        if table == key_table and table != relation.target._meta.db_table:
            continue  # the join table's other side: part of the relation itself
        model = schema.model(table)
        if model is not relation.target:
            return None
        field = schema.field_by_column(model, name)
        if field is None:
            return None
        names.append(field.name)
    return tuple(names)
