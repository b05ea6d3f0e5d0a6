"""N+1: one query per parent row where one query for all of them would do.

The rule: the same shape from the same call site, run at least
``N_PLUS_ONE_MIN_REPEATS`` times, where the value compared to the row's key
(``= ?`` on a filtered column) *varies* across executions, and the rows come
from a parent query of the same unit. Other filters may stay fixed (the
reader of ``profile.favorites.filter(pk=article.pk).exists()``). The same row
re-read (no key varies, or only a timestamp such as ``expire_date > ?``) is
at most a duplicate; ``WHERE fk IN (...)`` batches (prefetches, chunked
``iterator()``) are batching, not N+1. Groups of one relation and one parent
query are merged into one finding, whatever the call sites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from perfaudit.capture import Recording
from perfaudit.conf import app_settings
from perfaudit.detect._common import Evidence, fmt_ms, fmt_site, fmt_source
from perfaudit.detect.finding import Finding
from perfaudit.detect.fixes import suggest
from perfaudit.detect.params import slots, varying
from perfaudit.detect.parents import Parent, locate
from perfaudit.detect.relations import Access, access_of, is_row_load, joined_key, selected_columns
from perfaudit.detect.schema import Relation
from perfaudit.detect.views import changelist_admin, view_queryset
from perfaudit.sql.shape import SqlShape

__all__ = ["Group", "detect", "groups"]


@dataclass(slots=True)
class Group:
    """The events of one per-row query: ``key`` is the varying ``table.column``."""

    indices: list[int]
    key: str
    fixed: list[str] = field(default_factory=list)


def _candidate(shape: SqlShape) -> bool:
    """A SELECT of up to three tables compared to values only on those tables."""
    if shape.kind != "select" or not shape.filters or len(shape.main_tables) > 3:
        return False
    return all(f.rpartition(".")[0] in shape.main_tables for f in shape.filters)


def groups(evidence: Evidence, min_repeats: int) -> list[Group]:
    """The per-row groups of ``evidence``, in order of first occurrence."""
    candidates: dict[tuple[object, ...], list[int]] = {}
    events, shape_index = evidence.events, evidence.shape_index
    for i in evidence.matching(_candidate):
        event = events[i]
        key = (event.alias, shape_index[i], event.callsite, event.origin)
        candidates.setdefault(key, []).append(i)
    found = []
    for indices in candidates.values():
        if len(indices) >= min_repeats:
            group = _row_key(evidence, indices)
            if group is not None:
                found.append(group)
    found.sort(key=lambda g: g.indices[0])
    return found


def group_key(evidence: Evidence, i: int) -> tuple[object, ...]:
    """What the events of one per-row group share (see :func:`groups`)."""
    event = evidence.events[i]
    return (event.alias, evidence.shape_index[i], event.callsite, event.origin)


def _row_key(evidence: Evidence, indices: list[int]) -> Group | None:
    """The group, if the value compared to a row key varies (else ``None``)."""
    events = evidence.events
    shape = evidence.shapes[indices[0]]
    params = [events[i].params for i in indices]
    layout = slots(events[indices[0]].sql)
    try:
        changed = varying(params, len(layout))
    except (TypeError, ValueError):
        if any(p is None for p in params):
            # Parameters not captured: only a one-column lookup can be judged.
            return Group(indices, shape.filters[0]) if len(shape.filters) == 1 else None
        return None  # dict parameters, or lists of other lengths: not judged
    if not changed:
        return None
    filters = set(shape.filters)
    keys = [s.column for n, s in enumerate(layout) if n in changed and s.op == "=" and s.column]
    keys = [k for k in keys if k in filters]
    if not keys:
        return None  # the same row re-read, or a batch (`IN (...)`), or a varying timestamp
    fixed = [
        s.column
        for n, s in enumerate(layout)
        if n not in changed and s.column and s.column in filters and s.op in ("=", "IN")
    ]
    # Conditions without a parameter (`NOT loan.returned`, `IS NULL`) restrict
    # the rows too: a prefetch that dropped them would change the result.
    fixed.extend(c for c in _where_columns(shape) if c not in fixed)
    return Group(indices, keys[0], [c for c in dict.fromkeys(fixed) if c not in keys])


_WHERE = re.compile(r" WHERE (.*?)(?: ORDER BY | LIMIT | GROUP BY | FOR UPDATE|$)")
_COLUMN = re.compile(r"\b([a-z_][\w$]*)\.([a-z_][\w$]*)\b", re.IGNORECASE)


def _where_columns(shape: SqlShape) -> list[str]:
    """``table.column`` of the main tables mentioned in the main ``WHERE``."""
    match = _WHERE.search(shape.fingerprint)
    if match is None:
        return []
    if "SELECT" in match.group(1):
        return ["?.?"]  # a subquery restricts the rows in a way no fix here can keep
    tables = shape.main_tables
    return [
        f"{m.group(1)}.{m.group(2)}"
        for m in _COLUMN.finditer(match.group(1))
        if m.group(1) in tables
    ]


def detect(source: Recording | Evidence, *, min_repeats: int | None = None) -> list[Finding]:
    evidence = Evidence.of(source)
    if min_repeats is None:
        min_repeats = app_settings.N_PLUS_ONE_MIN_REPEATS
    found = groups(evidence, min_repeats)
    links: dict[object, tuple[Relation, int]] = {}
    merged: dict[tuple[object, ...], tuple[Group, Access | None, Parent | None, list[int]]] = {}
    for group in found:
        access, parent = _classify(evidence, group, links)
        if parent is None and (access is not None or not _rows_loaded_before(evidence, group)):
            continue  # no parent rows loaded in this unit: not a loop over rows
        if access is not None and access.mode == "load":
            links[group_key(evidence, group.indices[0])] = (access.relation, group.indices[0])
        if access is not None and parent is not None:
            key: tuple[object, ...] = (access.relation.label, access.mode, parent.index)
        else:
            key = ("", id(group))
        if key in merged:
            merged[key][3].extend(group.indices)
        else:
            merged[key] = (group, access, parent, list(group.indices))
    # The queries an N+1 finding explains: its repeated values are not also duplicates.
    evidence.claimed = {i for *_, indices in merged.values() for i in indices}
    return [
        _finding(evidence, group, access, parent, sorted(indices))
        for group, access, parent, indices in merged.values()
    ]


def _classify(
    evidence: Evidence, group: Group, links: dict[object, tuple[Relation, int]]
) -> tuple[Access | None, Parent | None]:
    first = group.indices[0]
    shape = evidence.shapes[first]
    recent = _recent_tables(evidence, first)
    event = evidence.events[first]
    # What names the foreign key: under DRF, the field being rendered (its
    # name is its source attribute unless `source=` says otherwise; the
    # application frame's own attribute is then the outer `.data`); else the
    # attribute whose load at the call site ran the query. Only a name that
    # is one of the candidate foreign keys is used.
    attribute = event.origin.rpartition(".")[2] if event.origin else event.attribute
    accesses = access_of(
        evidence.schema, shape, group.key, group.fixed, recent, event.sql, attribute
    )
    if len(accesses) != 1:
        return None, None
    access = accesses[0]
    return access, locate(evidence, access.parent, first, links)


def _finding(
    evidence: Evidence,
    group: Group,
    access: Access | None,
    parent: Parent | None,
    indices: list[int],
) -> Finding:
    first = indices[0]
    event, shape = evidence.events[first], evidence.shapes[first]
    table, _, column = group.key.rpartition(".")
    total = evidence.total(indices)
    sites = evidence.sites(indices)
    origin = fmt_source(event) if len(sites) <= 1 else ", ".join(fmt_site(s) for s in sites)
    where = f"{len(indices)} queries from {origin}, {fmt_ms(total)}"
    joined = joined_key(evidence.schema, shape, table)
    fix: str | None = None
    if access is not None and parent is not None:
        fields: tuple[str, ...] = ()
        if access.mode == "deferred":
            model = access.relation.source
            columns = selected_columns(evidence.events[parent.index].sql, model._meta.db_table)
            fields = tuple(
                f.name
                for f in model._meta.concrete_fields
                if f.column in columns and not f.primary_key
            )
        suggestion, fix = suggest(access, parent, where, _loaded_at(evidence, parent), fields)
        admin = changelist_admin(evidence, parent, evidence.events[parent.index].callsite)
        if admin is not None and fix is not None and fix.startswith("select_related("):
            path = fix[len("select_related(") : -1]
            suggestion = (
                f"{suggestion.removesuffix('.')}; or name {path} in `{admin}.list_select_related`."
            )
    else:
        accesses = access_of(
            evidence.schema, shape, group.key, group.fixed, _recent_tables(evidence, first)
        )
        if accesses:
            options = " or ".join(
                f'`{a.relation.label}` (`{a.relation.method}("{a.relation.name}")` on '
                f"`{a.relation.source.__name__}`)"
                for a in accesses
            )
            suggestion = (
                f"`{table}` rows are loaded one at a time by `{column}` ({where}) through one "
                f"of {options}; add the matching call to the queryset that loads the parent "
                f"rows."
            )
        elif joined:
            base = shape.main_tables[0]
            verb = "counted" if shape.aggregates else "read"
            suggestion = (
                f"`{base}` is {verb} once per row, joined to `{table}` and filtered by "
                f"`{table}.{column}` ({where}); that is a query of its own, not a relation "
                f"perfaudit can rewrite: compute it for all the rows in one query before the "
                f"loop (grouped by `{table}.{column}`) and look each row's result up."
            )
        else:
            suggestion = (
                f"`{table}` is queried once per row by `{table}.{column}` ({where}); load all "
                f"the rows in one query before the loop (`filter({column}__in=...)`), or use "
                f"`prefetch_related` if this is a relation."
            )
    count = len(indices)
    # The table whose rows the query reads: its FROM table when the key is joined.
    read = shape.main_tables[0] if joined else table
    relation = access.relation if access is not None and parent is not None else None
    loaded = relation.target if relation is not None else None
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
        model=loaded._meta.label if loaded is not None else evidence.schema.label(read),
        relation=relation.label if relation is not None else None,
        fix=fix,
        share=evidence.share(total),
        callsites=sites,
    )


def _rows_loaded_before(evidence: Evidence, group: Group) -> bool:
    """Some query of the unit loaded rows before the group (the relation is unknown)."""
    first = group.indices[0]
    own = evidence.shape_index[first]
    return any(
        is_row_load(evidence.shapes[i]) and evidence.shape_index[i] != own for i in range(first)
    )


_RECENT = 200  # queries looked back at to break ties between foreign keys


def _recent_tables(evidence: Evidence, before: int) -> list[str]:
    """Tables read by the queries before ``before``, most recent first."""
    tables: list[str] = []
    for i in range(before - 1, max(before - _RECENT, 0) - 1, -1):
        for table in evidence.shapes[i].main_tables:
            if table not in tables:
                tables.append(table)
    return tables


def _loaded_at(evidence: Evidence, parent: Parent) -> str:
    """ " (evaluated at x.py:12)": the view's queryset when DRF or the admin ran it."""
    site = evidence.events[parent.index].callsite
    view = view_queryset(evidence, parent, site)
    if view is not None:
        return f" (evaluated at {view})"
    return f" (evaluated at {fmt_site(site)})" if site is not None else ""
