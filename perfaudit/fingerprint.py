"""SQL normalisation: turn a statement into its *shape*.

Two queries that differ only in values (literals, placeholders, the length of
an ``IN`` list, the number of ``VALUES`` rows) get the same fingerprint, so
an N+1 loop shows up as one shape repeated N times. The same pass extracts
what the detectors need without re-parsing: the statement kind and the
tables read and written.

One regular-expression tokenizer, one pass over the tokens: an order of
magnitude faster than a sqlparse-based normaliser (see ``benchmarks/``), and
cached on the raw SQL string because Django repeats identical parametrised
SQL. Pure functions, no Django import.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

__all__ = ["SqlShape", "analyze", "fingerprint"]


@dataclass(frozen=True, slots=True)
class SqlShape:
    """What perfaudit knows about one SQL statement.

    ``kind`` is one of ``select``, ``insert``, ``update``, ``delete``,
    ``transaction`` (``BEGIN``, ``COMMIT``, ``SAVEPOINT``…), ``ddl`` or
    ``other``. ``tables`` are the tables named after ``FROM``/``JOIN``
    (read), ``written`` the target of an ``INSERT``/``UPDATE``/``DELETE``;
    both in order of first appearance, unquoted.
    """

    fingerprint: str
    kind: str
    tables: tuple[str, ...]
    written: tuple[str, ...]


def fingerprint(sql: str) -> str:
    """Return the normalised shape of ``sql``.

    >>> fingerprint('SELECT "a"."id" FROM "a" WHERE "a"."id" IN (%s, %s, %s)')
    'SELECT a.id FROM a WHERE a.id IN (...)'
    """
    return analyze(sql).fingerprint


@functools.lru_cache(maxsize=8192)
def analyze(sql: str) -> SqlShape:
    """Fingerprint ``sql`` and extract its kind and tables (cached on the string)."""
    return _analyze(sql)


# -- tokenizer ----------------------------------------------------------------

_TOKEN: Final = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<comment>--[^\n]*|/\*.*?\*/)
    | (?P<string>[EeNnBbXx]?'(?:[^']|'')*'|\$(?P<tag>[^\W\d]\w*)?\$.*?\$(?P=tag)?\$)
    | (?P<qident>"(?:[^"]|"")*"|`(?:[^`]|``)*`)
    | (?P<param>%\(\w+\)s|%s|\?|\$\d+|(?<!:):[^\W\d]\w*)
    | (?P<number>0[xX][0-9A-Fa-f]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<word>[^\W\d][\w$]*)
    | (?P<op>::|<>|!=|<=|>=|\|\||%%|->>?|\#>>?|@>|<@|&&|\S)
    """,
    re.VERBOSE | re.DOTALL,
)

# Token classes in the normalised stream.
_KW, _IDENT, _VALUE, _PUNCT = 0, 1, 2, 3

_KEYWORDS: Final = frozenset(
    """
    ABORT ALL ALTER ANALYZE AND ANY ARRAY AS ASC AVG BEGIN BETWEEN BIGINT BINARY BOOLEAN
    BOTH BY CASCADE CASE CAST CHAR COALESCE COLLATE COLUMN COMMIT CONCAT CONFLICT
    CONSTRAINT COUNT CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIMESTAMP DATE DEFAULT
    DEFERRABLE DEFERRED DELETE DESC DISTINCT DO DROP ELSE END ESCAPE EXCEPT EXCLUSIVE
    EXISTS EXPLAIN EXTRACT FALSE FETCH FILTER FIRST FOLLOWING FOR FOREIGN FROM FULL GLOB
    GREATEST GROUP GROUP_CONCAT HAVING IF IFNULL IGNORE ILIKE IMMEDIATE IN INDEX INNER
    INSERT INTEGER INTERSECT INTERVAL INTO IS ISNULL JOIN JSON KEY LAST LATERAL LEADING
    LEAST LEFT LENGTH LIKE LIMIT LOCK LOWER MATERIALIZED MAX MIN NATURAL NEXT NO NOT
    NOTHING NOTNULL NOWAIT NULL NULLIF NULLS OF OFFSET ON ONLY OR ORDER OUTER OVER
    PARTITION PRECEDING PRIMARY RANGE RECURSIVE REFERENCES REGEXP RELEASE REPLACE
    RESTRICT RETURNING RIGHT ROLLBACK ROW ROWS SAVEPOINT SELECT SET SHARE SKIP SOME
    START STRING_AGG SUBSTRING SUM TABLE TEXT THEN TIME TIMESTAMP TO TRAILING
    TRANSACTION TRIM TRUE TRUNCATE UNBOUNDED UNION UNIQUE UNNEST UPDATE UPPER USING
    VALUES VARCHAR VIEW WHEN WHERE WINDOW WITH WITHOUT WORK
    """.split()
)

# Keywords after which "(" opens a clause, not a function call's argument list.
_CLAUSE_KEYWORDS: Final = frozenset(
    """
    ALL AND ANY AS BY DISTINCT EXCEPT EXISTS FROM IN INTERSECT INTO JOIN LATERAL NOT ON
    OR OVER SELECT SET SOME THEN UNION USING VALUES WHEN WHERE WITH ELSE RETURNING
    HAVING FILTER WINDOW IS
    """.split()
)

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

_NO_SPACE_BEFORE: Final = frozenset({")", ",", ".", "::", ";", "[", "]"})
_NO_SPACE_AFTER: Final = frozenset({"(", ".", "::", "["})
_IN_LIST_ITEMS: Final = frozenset({"?", ",", "NULL", "(", ")"})


def _tokens(sql: str) -> tuple[list[str], list[int]]:
    """Normalised tokens and their classes, with value lists already collapsed."""
    texts: list[str] = []
    kinds: list[int] = []
    open_parens: list[int] = []
    after_savepoint = False
    for match in _TOKEN.finditer(sql):
        group = match.lastgroup
        if group == "ws" or group == "comment":
            continue
        token = match.group()
        if group == "word":
            upper = token.upper()
            if upper == "TRUE" or upper == "FALSE":
                text, kind = "?", _VALUE
            elif upper in _KEYWORDS:
                text, kind = upper, _KW
            else:
                text, kind = token.lower(), _IDENT
        elif group == "qident":
            text, kind = token[1:-1].replace(token[0] * 2, token[0]), _IDENT
        elif group == "op":
            text, kind = token, _PUNCT
        else:  # string, number, param
            text, kind = "?", _VALUE

        if after_savepoint and kind == _IDENT:
            # Savepoint names are generated per call ("s1403_x1"): fold them.
            text, kind = "?", _VALUE
        after_savepoint = text == "SAVEPOINT"

        if text == "(":
            open_parens.append(len(texts))
        elif text == ")" and open_parens:
            start = open_parens.pop()
            if _collapse_group(texts, kinds, start):
                continue
        texts.append(text)
        kinds.append(kind)
    return texts, kinds


def _collapse_group(texts: list[str], kinds: list[int], start: int) -> bool:
    """Collapse the group opened at ``start`` (its ")" not yet appended).

    ``IN (?, ?, ?)`` (or ``IN ((?), (?))``, Django's tuple lookups) becomes
    ``IN (...)`` whatever its length; ``VALUES (…), (…)`` becomes
    ``VALUES (...)`` whatever the number of rows; ``(a = ? OR a = ? OR …)``,
    the form Django's tuple ``IN`` takes on SQLite, becomes ``(a = ? OR ...)``.
    """
    before = texts[start - 1] if start > 0 else ""
    if "OR" in texts[start + 1 :] and _collapse_repeated_or(texts, kinds, start):
        return False  # the group's own ")" is still to be appended
    if before == "VALUES" or (
        before == "IN" and all(t in _IN_LIST_ITEMS for t in texts[start + 1 :])
    ):
        pass
    elif (
        before == ","
        and start >= 3
        and texts[start - 2] == "(...)"
        and (texts[start - 3] == "VALUES")
    ):
        # A further VALUES row: drop it and its comma.
        del texts[start - 1 :], kinds[start - 1 :]
        return True
    else:
        return False
    del texts[start:], kinds[start:]
    texts.append("(...)")
    kinds.append(_VALUE)
    return True


def _collapse_repeated_or(texts: list[str], kinds: list[int], start: int) -> bool:
    """Fold ``x OR x OR x`` (identical terms) inside the group opened at ``start``."""
    pieces: list[tuple[str, ...]] = []
    depth = 0
    piece_start = start + 1
    for i in range(start + 1, len(texts)):
        text = texts[i]
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif text == "OR" and depth == 0:
            pieces.append(tuple(texts[piece_start:i]))
            piece_start = i + 1
    pieces.append(tuple(texts[piece_start:]))
    if len(pieces) < 2 or any(piece != pieces[0] for piece in pieces):
        return False
    end = start + 1 + len(pieces[0])
    del texts[end:], kinds[end:]
    texts += ["OR", "..."]
    kinds += [_KW, _VALUE]
    return True


def _join(texts: list[str], kinds: list[int]) -> str:
    parts: list[str] = []
    previous = ""
    previous_kind = _PUNCT
    for text, kind in zip(texts, kinds, strict=True):
        if parts and not (
            text in _NO_SPACE_BEFORE
            or previous in _NO_SPACE_AFTER
            or (
                text == "("
                and (
                    previous_kind == _IDENT
                    or (previous_kind == _KW and previous not in _CLAUSE_KEYWORDS)
                )
            )
        ):
            parts.append(" ")
        parts.append(text)
        previous, previous_kind = text, kind
    return "".join(parts)


def _qualified_name(texts: list[str], kinds: list[int], i: int) -> tuple[str, int]:
    """Read ``name`` or ``schema.name`` starting at ``i``; return it and the next index."""
    name = texts[i]
    j = i + 1
    while j + 1 < len(texts) and texts[j] == "." and kinds[j + 1] == _IDENT:
        name = f"{name}.{texts[j + 1]}"
        j += 2
    return name, j


def _skip_alias(texts: list[str], kinds: list[int], i: int) -> int:
    if i < len(texts) and kinds[i] == _IDENT:
        return i + 1
    if i + 1 < len(texts) and texts[i] == "AS" and kinds[i + 1] == _IDENT:
        return i + 2
    return i


def _tables(
    texts: list[str], kinds: list[int], verb: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    read: dict[str, None] = {}
    written: dict[str, None] = {}
    n = len(texts)
    i = 0
    while i < n:
        text = texts[i]
        target: dict[str, None] | None = None
        if text == "FROM":
            target = written if (verb == "DELETE" and i > 0 and texts[i - 1] == "DELETE") else read
        elif text == "JOIN":
            target = read
        elif (text == "INTO" and verb in ("INSERT", "REPLACE")) or (text == "UPDATE" and i == 0):
            target = written
        if target is None or i + 1 >= n or kinds[i + 1] != _IDENT:
            i += 1
            continue
        name, i = _qualified_name(texts, kinds, i + 1)
        target[name] = None
        if target is read:
            # Old-style comma joins: FROM a, b x, c AS y
            i = _skip_alias(texts, kinds, i)
            while i + 1 < n and texts[i] == "," and kinds[i + 1] == _IDENT:
                name, i = _qualified_name(texts, kinds, i + 1)
                read[name] = None
                i = _skip_alias(texts, kinds, i)
    return tuple(read), tuple(written)


def _analyze(sql: str) -> SqlShape:
    texts, kinds = _tokens(sql)
    verb = next((t for t, k in zip(texts, kinds, strict=True) if k == _KW), "")
    if verb in _KIND_BY_VERB:
        kind = _KIND_BY_VERB[verb]
    elif verb in _TRANSACTION_VERBS:
        kind = "transaction"
    elif verb in _DDL_VERBS:
        kind = "ddl"
    else:
        kind = "other"
    read, written = _tables(texts, kinds, verb)
    return SqlShape(_join(texts, kinds), kind, read, written)
