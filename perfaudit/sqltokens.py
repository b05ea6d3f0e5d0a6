"""SQL tokenizer: one regular expression, one pass, value lists collapsed.

The token stream is the common input of the fingerprint (``render``) and of
clause extraction (:mod:`perfaudit.sqlclauses`). Tokens are normalised as they
are read: literals and placeholders become ``?``, quoted identifiers lose their
quotes, keywords are upper-cased and other bare words lower-cased. Pure
functions, no Django import.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["IDENT", "KW", "PUNCT", "VALUE", "render", "tokenize"]

_TOKEN: Final = re.compile(
    # Leading whitespace is folded into each match; the commonest tokens of
    # Django's SQL ("table"."column", punctuation) come first. Quoted strings
    # use the unrolled form ('[^']*(?:''[^']*)*'), which backtracks less.
    r"""
    \s*(?:
      (?P<qcol>"(?P<qtable>[^"]*(?:""[^"]*)*)"\."(?P<qcolumn>[^"]*(?:""[^"]*)*)")
    | (?P<qident>"[^"]*(?:""[^"]*)*"|`[^`]*(?:``[^`]*)*`)
    | (?P<punct>[,()=]|\.(?!\d))
    | (?P<comment>--[^\n]*|/\*.*?\*/)
    | (?P<string>[EeNnBbXx]?'[^']*(?:''[^']*)*'|\$(?P<tag>[^\W\d]\w*)?\$.*?\$(?P=tag)?\$)
    | (?P<param>%\(\w+\)s|%s|\?|\$\d+|(?<!:):[^\W\d]\w*)
    | (?P<number>0[xX][0-9A-Fa-f]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<word>[^\W\d][\w$]*)
    | (?P<op>::|<>|!=|<=|>=|\|\||%%|->>?|\#>>?|@>|<@|&&|\S)
    )
    """,
    re.VERBOSE | re.DOTALL,
)

# Token classes in the normalised stream.
KW: Final = 0
IDENT: Final = 1
VALUE: Final = 2
PUNCT: Final = 3

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

_NO_SPACE_BEFORE: Final = frozenset({")", ",", ".", "::", ";", "[", "]"})
_NO_SPACE_AFTER: Final = frozenset({"(", ".", "::", "["})
_IN_LIST_ITEMS: Final = frozenset({"?", ",", "NULL", "(", ")"})


def tokenize(sql: str) -> tuple[list[str], list[int]]:
    """Normalised tokens and their classes, with value lists already collapsed."""
    texts: list[str] = []
    kinds: list[int] = []
    open_parens: list[int] = []
    after_savepoint = False
    for match in _TOKEN.finditer(sql):
        group = match.lastgroup
        if group == "qcol":
            # Django's "table"."column" in one match: three tokens.
            texts += (match["qtable"].replace('""', '"'), ".", match["qcolumn"].replace('""', '"'))
            kinds += (IDENT, PUNCT, IDENT)
            after_savepoint = False
            continue
        if group is None or group == "comment":
            continue
        token = match[group]
        if group == "word":
            upper = token.upper()
            if upper == "TRUE" or upper == "FALSE":
                text, kind = "?", VALUE
            elif upper in _KEYWORDS:
                text, kind = upper, KW
            else:
                text, kind = token.lower(), IDENT
        elif group == "qident":
            text, kind = token[1:-1].replace(token[0] * 2, token[0]), IDENT
        elif group == "punct" or group == "op":
            text, kind = token, PUNCT
        else:  # string, number, param
            text, kind = "?", VALUE

        if after_savepoint and kind == IDENT:
            # Savepoint names are generated per call ("s1403_x1"): fold them.
            text, kind = "?", VALUE
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
    kinds.append(VALUE)
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
    kinds += [KW, VALUE]
    return True


def render(texts: list[str], kinds: list[int]) -> str:
    parts: list[str] = []
    previous = ""
    previous_kind = PUNCT
    for text, kind in zip(texts, kinds, strict=True):
        if parts and not (
            text in _NO_SPACE_BEFORE
            or previous in _NO_SPACE_AFTER
            or (
                text == "("
                and (
                    previous_kind == IDENT
                    or (previous_kind == KW and previous not in _CLAUSE_KEYWORDS)
                )
            )
        ):
            parts.append(" ")
        parts.append(text)
        previous, previous_kind = text, kind
    return "".join(parts)
