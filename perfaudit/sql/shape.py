"""SQL normalisation: turn a statement into its *shape*.

Two queries that differ only in values (literals, placeholders, the length of
an ``IN`` list, the number of ``VALUES`` rows) get the same fingerprint, so
an N+1 loop shows up as one shape repeated N times. The same pass extracts
what the detectors need (statement kind, tables, filtered columns, grouping,
aggregates), so nothing downstream parses SQL again.

A regular-expression tokenizer and one pass over its tokens: an order of
magnitude faster than a sqlparse-based normaliser (see ``benchmarks/``), and
cached (:mod:`perfaudit.sql.cache`, bounded by bytes) because Django repeats
identical parametrised SQL. The work is linear in the statement's length and
capped: a statement longer than :data:`MAX_STATEMENT_CHARS` is read up to
that length, and its fingerprint ends with :data:`TRUNCATED` to say so. Pure
functions, no Django import.
"""

from __future__ import annotations

from typing import Final, NamedTuple, Protocol, cast

from perfaudit.sql.cache import DIGEST_OVER, CacheInfo, ShapeCache, cache_key
from perfaudit.sql.clauses import Aggregate, extract
from perfaudit.sql.tokens import KW, render, tokenize

__all__ = [
    "MAX_STATEMENT_CHARS",
    "TRUNCATED",
    "Aggregate",
    "SqlShape",
    "analyze",
    "clip",
    "fingerprint",
]

#: Statements are read up to this many characters (about 0.1 s of work on an idle core).
MAX_STATEMENT_CHARS: Final = 100_000
#: The end of the fingerprint of a statement read only in part.
TRUNCATED: Final = f" … [truncated: statement over {MAX_STATEMENT_CHARS} characters]"


class SqlShape(NamedTuple):
    """What perfaudit knows about one SQL statement (an immutable named tuple).

    ``kind`` is one of ``select``, ``insert``, ``update``, ``delete``,
    ``transaction`` (``BEGIN``, ``COMMIT``, ``SAVEPOINT``…), ``ddl`` or
    ``other``. ``tables`` are the tables named after ``FROM``/``JOIN``
    anywhere in the statement (read), ``written`` the target of an
    ``INSERT``/``UPDATE``/``DELETE``; both in order of first appearance.

    The remaining fields describe the *main* statement, subqueries excluded:
    ``main_tables`` its ``FROM``/``JOIN`` tables; ``filters`` the columns it
    compares to a value with ``=``, ``IN (...)`` or ``= ANY(?)`` in ``WHERE``;
    ``group_by`` its ``GROUP BY`` items; ``aggregates`` the aggregate calls of
    its select list; ``distinct`` for ``SELECT DISTINCT``;
    ``count_over_distinct`` for ``SELECT COUNT(*) FROM (SELECT DISTINCT …)``,
    the shape of ``.distinct().count()``, with ``distinct_columns`` the
    number of columns under that ``DISTINCT`` (or under the main ``SELECT
    DISTINCT``). Columns read ``table.column``. ``truncated``: the statement
    was longer than :data:`MAX_STATEMENT_CHARS` and was read in part.
    """

    fingerprint: str
    kind: str
    tables: tuple[str, ...]
    written: tuple[str, ...]
    main_tables: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    aggregates: tuple[Aggregate, ...] = ()
    distinct: bool = False
    count_over_distinct: bool = False
    distinct_columns: int = 0
    limit: bool = False
    offset: bool = False
    truncated: bool = False


def fingerprint(sql: str) -> str:
    """Return the normalised shape of ``sql``.

    >>> fingerprint('SELECT "a"."id" FROM "a" WHERE "a"."id" IN (%s, %s, %s)')
    'SELECT a.id FROM a WHERE a.id IN (...)'
    """
    return analyze(sql).fingerprint


def _analyze_capped(sql: str) -> SqlShape:
    if len(sql) <= MAX_STATEMENT_CHARS:
        return _analyze(sql)
    shape = _analyze(sql[:MAX_STATEMENT_CHARS])
    return shape._replace(fingerprint=shape.fingerprint + TRUNCATED, truncated=True)


_CACHE: Final = ShapeCache(_analyze_capped)
_ENTRIES: Final = _CACHE.entries


class _CachedAnalyze(Protocol):
    def __call__(self, sql: str) -> SqlShape: ...
    def cache_info(self) -> CacheInfo: ...
    def cache_clear(self) -> None: ...


def _analyze_cached(sql: str) -> SqlShape:
    """Fingerprint ``sql`` and extract its structure (cached; ``analyze.cache_info()``)."""
    key = sql if len(sql) <= DIGEST_OVER else cache_key(sql)
    shape = _ENTRIES.get(key)
    if shape is None:
        shape = _CACHE.miss(sql, key)
    return shape


_analyze_cached.cache_info = _CACHE.cache_info  # type: ignore[attr-defined]
_analyze_cached.cache_clear = _CACHE.cache_clear  # type: ignore[attr-defined]
#: The cached :func:`_analyze_capped`: a plain function (a hit is one dict
#: lookup), with ``cache_info()`` and ``cache_clear()`` like an ``lru_cache``.
analyze: Final = cast(_CachedAnalyze, _analyze_cached)


_TRANSACTION_VERBS: Final = frozenset(
    {"BEGIN", "START", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "END", "ABORT"}
)
_DDL_VERBS: Final = frozenset({"CREATE", "ALTER", "DROP", "TRUNCATE"})
_KIND_BY_VERB: Final = {
    "SELECT": "select",
    "WITH": "select",
    "VALUES": "select",
    "INSERT": "insert",
    "REPLACE": "insert",
    "UPDATE": "update",
    "DELETE": "delete",
}


def _analyze(sql: str) -> SqlShape:
    texts, kinds = tokenize(sql)
    verb = texts[kinds.index(KW)] if KW in kinds else ""
    if verb in _KIND_BY_VERB:
        kind = _KIND_BY_VERB[verb]
    elif verb in _TRANSACTION_VERBS:
        kind = "transaction"
    elif verb in _DDL_VERBS:
        kind = "ddl"
    else:
        kind = "other"
    # Clauses lists SqlShape's fields after ``kind``, in the same order.
    return SqlShape(render(texts, kinds), kind, *extract(texts, kinds, verb))


def clip(sql: str, width: int = 160) -> str:
    """``sql`` shortened to ``width`` characters for display, cut in the middle.

    Two statements that differ only in their filter (``WHERE user_id = ?`` /
    ``WHERE id = ?``) must not print alike: the column list goes, the
    ``WHERE`` clause stays (itself cut at its end only if it alone is too
    long). Without a ``WHERE``, the beginning and the end are kept.
    """
    if len(sql) <= width:
        return sql
    where = sql.rfind(" WHERE ")
    if where > 0:
        head = max(width // 4, width - (len(sql) - where) - 1)
        tail = sql[where:]
        room = width - head - 1
        if len(tail) > room:
            tail = tail[: room - 1] + "…"
        return sql[:head] + "…" + tail
    half = (width - 1) // 2
    return sql[:half] + "…" + sql[len(sql) - (width - 1 - half) :]
