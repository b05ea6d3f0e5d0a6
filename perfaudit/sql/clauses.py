"""Clause extraction over the token stream of :mod:`perfaudit.sql.tokens`.

Reads just enough structure for the detectors, so that nothing downstream
parses SQL again: the tables read and written, and, for the *main* statement
(subqueries excluded), the columns filtered by equality, the ``GROUP BY``
columns, the aggregates of the select list, ``DISTINCT`` and ``LIMIT``. Column
references are resolved through the statement's table aliases
(``U0.book_id`` → ``app_review.book_id``). Pure functions, no Django import.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from perfaudit.sql.tables import TABLE_WORDS, tables
from perfaudit.sql.tokens import IDENT, KW

__all__ = ["Aggregate", "Clauses", "extract"]

_AGGREGATES: Final = frozenset(
    {"COUNT", "SUM", "AVG", "MIN", "MAX", "ARRAY_AGG", "STRING_AGG", "GROUP_CONCAT"}
)
# Keywords that end one top-level clause and start the next.
_CLAUSE_STARTS: Final = frozenset(
    {
        "SELECT", "FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET",
        "WINDOW", "UNION", "INTERSECT", "EXCEPT", "RETURNING", "SET", "VALUES", "FOR",
        "FETCH",
    }
)  # fmt: skip
_SUBQUERY_STARTS: Final = frozenset({"SELECT", "WITH", "VALUES"})
_MARKERS: Final = _CLAUSE_STARTS | TABLE_WORDS | _AGGREGATES | {"(", ")"}


class Aggregate(NamedTuple):
    """An aggregate call of the select list: ``COUNT(DISTINCT t.col)``."""

    function: str
    column: str  # resolved "table.column", "*", or the normalised expression
    distinct: bool


class Clauses(NamedTuple):
    """What :func:`extract` reads (a named tuple: built once per cache miss)."""

    tables: tuple[str, ...]
    written: tuple[str, ...]
    main_tables: tuple[str, ...]
    filters: tuple[str, ...]
    group_by: tuple[str, ...]
    aggregates: tuple[Aggregate, ...]
    distinct: bool
    count_over_distinct: bool
    distinct_columns: int
    limit: bool
    offset: bool


def extract(texts: list[str], kinds: list[int], verb: str) -> Clauses:
    """Read the clauses of one normalised statement."""
    n = len(texts)
    # Only parentheses, clause keywords, the words before table names and
    # aggregate names matter to the passes below: find them once (most tokens
    # are none of them).
    markers = [i for i, text in enumerate(texts) if text in _MARKERS]
    # One pass: matching parentheses, which tokens belong to the main statement
    # (main[i], not inside a subquery), and where each top-level clause starts.
    closing: dict[int, int] = {}
    # Subquery spans, marked after the loop in one pass (marking each span as
    # it closes would cost the square of the nesting).
    spans: list[tuple[int, int]] = []
    stack: list[int] = []
    depth = 0  # not len(stack): an unmatched ")" lowers it
    clauses: dict[str, tuple[int, int]] = {}
    current, start = "", 0
    for i in markers:
        text = texts[i]
        if text == "(":
            stack.append(i)
            depth += 1
        elif text == ")":
            depth -= 1
            if stack:
                opening = stack.pop()
                closing[opening] = i
                if texts[opening + 1] in _SUBQUERY_STARTS:
                    spans.append((opening + 1, i))
        elif depth == 0 and text in _CLAUSE_STARTS and kinds[i] == KW:
            if current and current not in clauses:
                clauses[current] = (start, i)
            current, start = text, i + 1
    if current and current not in clauses:
        clauses[current] = (start, n)
    main = [True] * n
    if spans:
        nested = [0] * (n + 1)
        for begin, end in spans:
            nested[begin] += 1
            nested[end] -= 1
        inside = 0
        for i in range(n):
            inside += nested[i]
            main[i] = inside == 0

    read, written, aliases, main_tables = tables(texts, kinds, verb, main, markers)
    resolve = _Resolver(aliases, main_tables)

    select = clauses.get("SELECT", (0, 0))
    from_ = clauses.get("FROM", (0, 0))
    distinct = select[1] > select[0] and texts[select[0]] == "DISTINCT"
    aggregates = _aggregates(texts, kinds, select, main, closing, resolve, markers)
    count_over_distinct = (
        len(aggregates) == 1
        and aggregates[0] == Aggregate("COUNT", "*", False)
        and from_[1] - from_[0] >= 3
        and texts[from_[0]] == "("
        and texts[from_[0] + 1] == "SELECT"
        and texts[from_[0] + 2] == "DISTINCT"
    )
    distinct_columns = 0
    if count_over_distinct:
        distinct_columns = _select_list_length(texts, from_[0] + 3)
    elif distinct:
        distinct_columns = _select_list_length(texts, select[0] + 1)
    return Clauses(
        tables=read,
        written=written,
        main_tables=main_tables,
        filters=_filters(texts, kinds, clauses.get("WHERE"), main, resolve),
        group_by=_group_by(texts, kinds, clauses.get("GROUP"), resolve),
        aggregates=aggregates,
        distinct=distinct,
        count_over_distinct=count_over_distinct,
        distinct_columns=distinct_columns,
        limit="LIMIT" in clauses or "FETCH" in clauses,
        offset="OFFSET" in clauses,
    )


# An expression kept as text (an aggregate's argument, a GROUP BY item) is cut
# at this many tokens: nested aggregates would otherwise repeat the statement
# once per level.
_MAX_EXPRESSION_TOKENS: Final = 64


def _joined(texts: list[str], start: int, end: int) -> str:
    if end - start <= _MAX_EXPRESSION_TOKENS:
        return " ".join(texts[start:end])
    return " ".join(texts[start : start + _MAX_EXPRESSION_TOKENS]) + " ..."


def _select_list_length(texts: list[str], start: int) -> int:
    """How many items the select list starting at ``start`` has (up to its FROM)."""
    depth = 0
    items = 1
    for i in range(start, len(texts)):
        text = texts[i]
        if text == "(":
            depth += 1
        elif text == ")":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and text == ",":
            items += 1
        elif depth == 0 and text == "FROM":
            break
    return items


class _Resolver:
    """Turns ``alias.column`` / ``column`` into ``table.column``."""

    def __init__(self, aliases: dict[str, str], main_tables: tuple[str, ...]) -> None:
        self.aliases = aliases
        self.single = main_tables[0] if len(main_tables) == 1 else None

    def column(self, texts: list[str], kinds: list[int], i: int) -> tuple[str | None, int]:
        """The column reference starting at ``i`` (or None) and the index after it."""
        if i >= len(kinds) or kinds[i] != IDENT:  # also: a clause cut short at the end
            return None, i + 1
        parts = [texts[i]]
        j = i + 1
        while j + 1 < len(texts) and texts[j] == "." and kinds[j + 1] == IDENT:
            parts.append(texts[j + 1])
            j += 2
        if j < len(texts) and texts[j] == "(":
            return None, j  # a function call, not a column
        if len(parts) == 1:
            return (f"{self.single}.{parts[0]}" if self.single else parts[0]), j
        qualifier = ".".join(parts[:-1])
        return f"{self.aliases.get(qualifier, qualifier)}.{parts[-1]}", j


def _filters(
    texts: list[str],
    kinds: list[int],
    where: tuple[int, int] | None,
    main: list[bool],
    resolve: _Resolver,
) -> tuple[str, ...]:
    """Columns compared to a value by ``=``, ``IN (...)`` or ``= ANY(?)``."""
    if where is None:
        return ()
    found: dict[str, None] = {}
    i, end = where
    while i < end:
        if not main[i] or kinds[i] != IDENT:
            i += 1
            continue
        column, j = resolve.column(texts, kinds, i)
        if column is not None and j < end:
            following = texts[j : j + 3]
            if following[:2] in (["=", "?"], ["IN", "(...)"]) or following == ["=", "ANY", "("]:
                found[column] = None
        i = max(j, i + 1)
    return tuple(found)


def _group_by(
    texts: list[str], kinds: list[int], group: tuple[int, int] | None, resolve: _Resolver
) -> tuple[str, ...]:
    if group is None:
        return ()
    start, end = group
    if start < end and texts[start] == "BY":
        start += 1
    items: list[str] = []
    depth = 0
    item_start = start
    for i in range(start, end + 1):
        text = texts[i] if i < end else ","
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif text == "," and depth == 0:
            column, after = resolve.column(texts, kinds, item_start)
            if column is not None and after == i:
                items.append(column)
            else:
                items.append(_joined(texts, item_start, i))
            item_start = i + 1
    return tuple(items)


def _aggregates(
    texts: list[str],
    kinds: list[int],
    select: tuple[int, int],
    main: list[bool],
    closing: dict[int, int],
    resolve: _Resolver,
    markers: list[int],
) -> tuple[Aggregate, ...]:
    """Aggregate calls of the select list (``markers`` include every aggregate name)."""
    found: list[Aggregate] = []
    start, end = select
    for i in markers:
        if i < start:
            continue
        if i >= end - 1:
            break
        if not main[i] or texts[i] not in _AGGREGATES or texts[i + 1] != "(":
            continue
        close = closing.get(i + 1, end)
        j = i + 2
        distinct = texts[j] == "DISTINCT" if j < close else False
        if distinct:
            j += 1
        if close - j == 1 and texts[j] == "*":
            column = "*"
        else:
            resolved, after = resolve.column(texts, kinds, j)
            column = (
                resolved if resolved is not None and after == close else _joined(texts, j, close)
            )
        found.append(Aggregate(texts[i], column, distinct))
    return tuple(found)
