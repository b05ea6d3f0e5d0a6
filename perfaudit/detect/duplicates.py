"""Duplicate reads: the same SQL with the same parameters, run more than once.

Judged within one request (or, for a recording that is no request at all,
within the recording). In a recording that spans several requests, the code
between them is a test checking what its requests did
(``refresh_from_db()``, ``objects.get()`` after a POST): its re-reads are not
reported. Never across a write: a read repeated after an
``INSERT``/``UPDATE``/``DELETE`` of one of its tables on the same connection
may see new rows, so reusing the first result would be stale. Queries already
explained by an N+1 finding are left out (a loop that loads the same author
twice is one N+1, not also a duplicate). Needs captured parameters: with
``CAPTURE_PARAMS`` off nothing can be proven identical.
"""

from __future__ import annotations

from perfaudit.capture import CallSite, Recording
from perfaudit.conf import app_settings
from perfaudit.detect import n_plus_one
from perfaudit.detect._common import Evidence, fmt_ms, fmt_share, params_key
from perfaudit.detect.finding import Finding
from perfaudit.detect.views import model_admin
from perfaudit.sql.shape import SqlShape

__all__ = ["detect"]


def detect(source: Recording | Evidence, *, min_repeats: int | None = None) -> list[Finding]:
    analysis = Evidence.of(source)
    if analysis.outside_requests:
        return []  # duplicates are judged within a request (see the module docstring)
    if min_repeats is None:
        min_repeats = app_settings.DUPLICATE_MIN_REPEATS
    claimed = analysis.claimed
    if claimed is None:
        n_plus_one.detect(analysis)  # sets the queries its findings explain
        claimed = analysis.claimed or set()
    by_sql: dict[tuple[str, int, tuple[int, ...]], list[int]] = {}
    events, shape_index, shapes = analysis.events, analysis.shape_index, analysis.shapes
    # Writes seen so far per (alias, table): a read's key includes the count
    # for each table it reads, so reads on either side of a write never match.
    writes: dict[tuple[str, str], int] = {}
    reads = analysis.matching(_is_read)
    written = analysis.matching(_is_write)
    # Reads and writes in execution order (without writes, the reads alone).
    order = sorted(reads + written) if written else reads
    for i in order:
        event, shape = events[i], shapes[i]
        if shape.written:
            for table in shape.written:
                writes[(event.alias, table)] = writes.get((event.alias, table), 0) + 1
            continue
        if i in claimed or event.params is None:
            continue
        epoch = tuple(writes.get((event.alias, t), 0) for t in shape.tables) if writes else ()
        by_sql.setdefault((event.alias, shape_index[i], epoch), []).append(i)

    # One finding per statement shape: a loop that re-reads several rows is
    # one finding (its values counted), not one per repeated value.
    repeated: dict[tuple[str, int], list[list[int]]] = {}
    for (alias, index, _epoch), indices in by_sql.items():
        if len(indices) < min_repeats:
            continue
        by_params: dict[object, list[int]] = {}
        for i in indices:
            by_params.setdefault(params_key(analysis.events[i].params), []).append(i)
        for same in by_params.values():
            if len(same) >= min_repeats:
                repeated.setdefault((alias, index), []).append(same)
    return [
        _finding(analysis, sorted(i for same in sets for i in same), len(sets))
        for sets in repeated.values()
    ]


def _is_read(shape: SqlShape) -> bool:
    return shape.kind == "select" and not shape.written


def _is_write(shape: SqlShape) -> bool:
    return bool(shape.written)


def _finding(analysis: Evidence, indices: list[int], values: int = 1) -> Finding:
    shape = analysis.shapes[indices[0]]
    total = analysis.total(indices)
    sites = analysis.sites(indices)
    origin = ", ".join(f"{s.short_filename}:{s.lineno}" for s in sites) or "an unknown call site"
    table = shape.main_tables[0] if shape.main_tables else None
    advice = _admin_advice(analysis, shape) or _advice(shape, sites, table, values)
    return analysis.finding(
        "duplicate",
        indices,
        severity="medium" if len(indices) >= 5 else "low",
        suggestion=(
            f"The same query with the same parameters ran {len(indices)} times"
            + (f" ({values} different values, each read more than once)" if values > 1 else "")
            + f" (from {origin}; {fmt_ms(total)}, {fmt_share(analysis.share(total))}) with "
            f"no write to its tables in between; {advice}"
        ),
        table=table,
        model=analysis.schema.label(table),
    )


def _admin_advice(analysis: Evidence, shape: SqlShape) -> str | None:
    """A changelist's two counts: its paginator's and the unfiltered total's.

    Unfiltered, both are the same ``COUNT(*)``; ``show_full_result_count``
    is the admin's own switch for the second (it shows "N of M selected").
    """
    if not shape.fingerprint.startswith("SELECT COUNT("):
        return None
    admin = model_admin(analysis)
    model = getattr(admin, "model", None)
    # The count reads the model's table, or a subquery over it (a grouped
    # changelist query is counted as `COUNT(*) FROM (SELECT ... GROUP BY ...)`).
    meta = getattr(model, "_meta", None)
    if meta is None or meta.db_table not in shape.tables:
        return None
    name = type(admin).__qualname__
    return (
        f"the admin changelist of `{name}` counts its rows for the paginator and again for "
        f"the unfiltered total; `show_full_result_count = False` on `{name}` drops the second "
        'count (a filtered page then shows "Show all" instead of the total).'
    )


def _advice(shape: SqlShape, sites: tuple[CallSite, ...], table: str | None, values: int) -> str:
    """What to do, for this kind of repeated read."""
    if "FOR UPDATE" in shape.fingerprint:
        return (
            "the row is already locked by the first `select_for_update()` in this "
            "transaction: keep that object instead of locking it again."
        )
    if table == "django_session":
        return "read the session through `request.session`, which loads it once per request."
    if len(sites) > 1:
        return (
            "run it once and pass the result down to the other call sites (a variable, an "
            "argument, or an attribute of the object they share)."
        )
    if values > 1:
        return (
            "load the rows once before the loop (`in_bulk(ids)`) and look them up in the dict, "
            "or keep each one the first time it is read."
        )
    site = sites[0] if sites else None
    if site is not None and "." in site.function:
        # Whether it ran on one object or on several that share the row is not
        # in the recording: both fixes, each for its case.
        return (
            f"run it once and reuse the result: `{site.function}` runs the same lookup each "
            f"time it is called. Called again on the same object: keep the result on the "
            f"instance (`functools.cached_property` for a method without arguments) or reuse "
            f"it in the caller. Called on different objects that point at the same row: load "
            f"it once for all of them (`select_related` on their queryset)."
        )
    return "run it once and reuse the result (keep the object in a variable, or pass it down)."
