"""Map tables and columns seen in SQL back to Django models and relations.

Detectors are pure over a recording; this is the one place they consult the
app registry, to turn ``testapp_book.author_id`` into "``Book.author``, fix
with ``select_related("author")``".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.apps import apps

if TYPE_CHECKING:
    from django.db.models import Field, Model

__all__ = ["Relation", "Schema"]


@dataclass(frozen=True, slots=True)
class Relation:
    """A relation whose rows were loaded one parent at a time.

    ``kind``: ``forward`` (FK / one-to-one), ``reverse_one_to_one``,
    ``reverse_fk``, ``m2m`` (either side). ``source`` is the model being
    iterated, ``name`` its accessor, ``target`` the model loaded.
    """

    kind: str
    source: type[Model]
    name: str
    target: type[Model]

    @property
    def method(self) -> str:
        if self.kind in ("forward", "reverse_one_to_one"):
            return "select_related"
        return "prefetch_related"

    @property
    def label(self) -> str:
        return f"{self.source.__name__}.{self.name}"


class Schema:
    """Table → model lookups over the installed apps (built once per detection run)."""

    def __init__(self) -> None:
        self.models: dict[str, type[Model]] = {}
        for model in apps.get_models(include_auto_created=True):
            self.models.setdefault(model._meta.db_table, model)

    def model(self, table: str | None) -> type[Model] | None:
        return self.models.get(table) if table else None

    def label(self, table: str | None) -> str | None:
        model = self.model(table)
        return model._meta.label if model is not None else None

    def pk_column(self, table: str) -> str:
        model = self.model(table)
        if model is not None and model._meta.pk is not None and model._meta.pk.column:
            return model._meta.pk.column
        return "id"

    def field_by_column(self, model: type[Model], column: str) -> Field[Any, Any] | None:
        for field in model._meta.concrete_fields:
            if field.column == column:
                return field
        return None

    def m2m_through(self, table: str) -> list[Field[Any, Any]]:
        """Many-to-many fields whose join table is ``table``."""
        found: list[Field[Any, Any]] = []
        for model in self.models.values():
            for field in model._meta.local_many_to_many:
                through = getattr(field.remote_field, "through", None)
                meta = getattr(through, "_meta", None)
                if meta is not None and meta.db_table == table:
                    found.append(field)
        return found

    def relation_for_filter(
        self, table: str, column: str, recent_tables: list[str], attribute: str | None = None
    ) -> list[Relation]:
        """Relations that load rows of ``table`` by ``column`` one parent at a time.

        Several are returned only when the schema is ambiguous; the caller
        names them all. Ties between forward foreign keys are broken by the
        ``attribute`` whose access ran the query (``QueryEvent.attribute``,
        read from the call site's bytecode: exact), else by ``recent_tables``
        (most recent first): the loop usually iterates the table read last.
        """
        for field in self.m2m_through(table):
            rel = field.remote_field
            if column == field.m2m_column_name():  # type: ignore[attr-defined]
                return [Relation("m2m", field.model, field.name, rel.model)]  # type: ignore[union-attr]
            if column == field.m2m_reverse_name():  # type: ignore[attr-defined]
                accessor = rel.get_accessor_name()  # type: ignore[union-attr]
                return [Relation("m2m", rel.model, accessor, field.model)]  # type: ignore[union-attr,arg-type]

        model = self.model(table)
        if model is None:
            return []
        key = self.field_by_column(model, column)
        if key is None:
            return []
        field = key
        if field.is_relation and (field.many_to_one or field.one_to_one):
            parent = field.related_model
            accessor = field.remote_field.get_accessor_name()  # type: ignore[union-attr]
            if accessor is None or parent is None or isinstance(parent, str):
                return []
            kind = "reverse_one_to_one" if field.one_to_one else "reverse_fk"
            return [Relation(kind, parent, accessor, model)]
        return self._forward_candidates(model, field, recent_tables, attribute)

    def _forward_candidates(
        self,
        target: type[Model],
        key: Field[Any, Any],
        recent_tables: list[str],
        attribute: str | None,
    ) -> list[Relation]:
        candidates: list[Relation] = []
        for model in self.models.values():
            if model._meta.auto_created:
                continue  # an m2m join table's FKs are not loaded one by one
            for field in model._meta.concrete_fields:
                if (
                    field.is_relation
                    and (field.many_to_one or field.one_to_one)
                    and field.related_model is target
                    and getattr(field, "target_field", None) is key
                ):
                    candidates.append(Relation("forward", model, field.name, target))
        if len(candidates) > 1 and attribute is not None:
            named = [c for c in candidates if c.name == attribute]
            if named:
                candidates = named
        if len(candidates) > 1:
            for table in recent_tables:
                preferred = [c for c in candidates if c.source._meta.db_table == table]
                if preferred:
                    return preferred
        return candidates
