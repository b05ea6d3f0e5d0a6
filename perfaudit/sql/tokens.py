"""SQL tokenizer: one regular expression, one pass, value lists collapsed.

The token stream is the common input of the fingerprint (``render``) and of
clause extraction (:mod:`perfaudit.sql.clauses`). Tokens are normalised as they
are read: literals and placeholders become ``?``, quoted identifiers lose their
quotes, keywords are upper-cased and other bare words lower-cased. Pure
functions, no Django import.
"""

from __future__ import annotations

import re
from typing import Any, Final

from perfaudit.sql.groups import collapse_group
from perfaudit.sql.groups import collapse_group_simple as _collapse_group
from perfaudit.sql.kinds import IDENT, KW, PUNCT, VALUE

__all__ = ["IDENT", "KW", "PUNCT", "VALUE", "render", "tokenize"]

# The reference normaliser of benchmarks/ collapses groups through this name.
__all__ += ["_collapse_group"]

_TOKEN: Final = re.compile(
    # Leading whitespace is folded into each match. The commonest tokens of
    # Django's SQL ("table"."column", punctuation, words) come first: the
    # engine tries alternatives in order; a word gives way where a prefixed
    # string (E'...', N'...') matches, as if strings came first. Quoted
    # strings use the unrolled form ('[^']*(?:''[^']*)*'). Runs that nothing
    # after them could want back are possessive (*+), so the engine keeps no
    # backtracking points for them (about 15% faster); the repeated ''-groups
    # are not: an unterminated string must still match up to its last quote.
    # An unterminated comment or dollar quote runs to the end of the text
    # (\Z): otherwise every opener would rescan the rest, a quadratic cost.
    r"""
    \s*+(?:
      (?P<qcol>"(?P<qtable>[^"]*+(?:""[^"]*+)*)"\."(?P<qcolumn>[^"]*+(?:""[^"]*+)*)")
    | (?P<punct>[,()=]|\.(?!\d))
    | (?P<word>(?![EeNnBbXx]'[^']*+(?:''[^']*+)*')[^\W\d][\w$]*+)
    | (?P<qident>"[^"]*+(?:""[^"]*+)*"|`[^`]*+(?:``[^`]*+)*`)
    | (?P<param>%s|%\(\w+\)s|\?|\$\d+|(?<!:):[^\W\d]\w*+)
    | (?P<string>[EeNnBbXx]?'[^']*+(?:''[^']*+)*'
        |\$\$.*?(?:\$\$|\Z)|\$(?P<tag>[^\W\d]\w*)\$.*?(?:\$(?P=tag)\$|\Z))
    | (?P<number>0[xX][0-9A-Fa-f]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<comment>--[^\n]*+|/\*.*?(?:\*/|\Z))
    | (?P<op>::|<>|!=|<=|>=|\|\||%%|->>?|\#>>?|@>|<@|&&|\S)
    )
    """,
    re.VERBOSE | re.DOTALL,
)
# Group numbers: ``match.lastindex`` is an int, cheaper to test than ``lastgroup``.
_QCOL, _QTABLE, _QCOLUMN, _PUNCT, _WORD, _QIDENT, _OP, _COMMENT = (
    _TOKEN.groupindex[name]
    for name in ("qcol", "qtable", "qcolumn", "punct", "word", "qident", "op", "comment")
)

# The same tokens as plain strings, for ``findall`` (no match objects): the
# alternatives of _TOKEN without names or leading whitespace (``findall``
# skips it: no alternative starts with whitespace) and without dollar-quoted
# strings, whose closing tag needs a backreference. SQL containing "$" goes
# through _TOKEN itself.
_TOKEN_TEXT: Final = re.compile(
    re.sub(
        r"\(\?P<\w+>",
        "(?:",
        _TOKEN.pattern.replace(r"\s*+(?:", "(?:", 1).replace(
            r"|\$\$.*?(?:\$\$|\Z)|\$(?P<tag>[^\W\d]\w*)\$.*?(?:\$(?P=tag)\$|\Z)", "", 1
        ),
    ),
    _TOKEN.flags,
)
assert _TOKEN_TEXT.groups == 0, "every group of _TOKEN must be dropped from _TOKEN_TEXT"

# Token classes in the normalised stream: KW, IDENT, VALUE, PUNCT (perfaudit.sql.kinds).

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


# What a token needs besides its text and class: nothing, a parenthesis
# (value lists are collapsed at ")"), "table"."column" (three tokens), a
# comment (dropped), SAVEPOINT (the next identifier is a generated name), OR
# (its position is handed to the group's collapse).
_PLAIN, _OPEN, _CLOSE, _QUALIFIED, _COMMENT_TOKEN, _SAVEPOINT, _OR = range(7)
# Raw tokens longer than this are not kept in the table (an identifier may be huge).
_MAX_KNOWN_LENGTH: Final = 64

# Raw token -> (normalised text, class, what else). A statement's tokens are
# mostly the same keywords, "table"."column" pairs and placeholders, so one
# lookup replaces the regular-expression groups and case conversions. Values
# other than short ones are not kept (literals vary and may be large).
_Known = tuple[Any, int, int]
_KNOWN: dict[str, _Known] = {}
_MAX_KNOWN: Final = 20_000
_MAX_KNOWN_VALUE_LENGTH: Final = 16


def _classify(token: str) -> _Known:
    """Normalise one token as the full tokenizer does (same regular expression)."""
    match = _TOKEN.fullmatch(token)
    group = match.lastindex if match is not None else None
    known: _Known
    if group == _QCOL:
        assert match is not None
        table, column = match.group(_QTABLE, _QCOLUMN)
        known = ((table.replace('""', '"'), column.replace('""', '"')), IDENT, _QUALIFIED)
    elif group == _PUNCT:
        known = (token, PUNCT, _OPEN if token == "(" else _CLOSE if token == ")" else _PLAIN)
    elif group == _WORD:
        upper = token.upper()
        if upper == "TRUE" or upper == "FALSE":
            known = ("?", VALUE, _PLAIN)
        elif upper in _KEYWORDS:
            role = _SAVEPOINT if upper == "SAVEPOINT" else _OR if upper == "OR" else _PLAIN
            known = (upper, KW, role)
        else:
            known = (token.lower(), IDENT, _PLAIN)
    elif group == _QIDENT:
        known = (token[1:-1].replace(token[0] * 2, token[0]), IDENT, _PLAIN)
    elif group == _OP:
        known = (token, PUNCT, _PLAIN)
    elif group == _COMMENT:
        known = ("", PUNCT, _COMMENT_TOKEN)
    else:  # string, number, param
        known = ("?", VALUE, _PLAIN)
        if len(token) > _MAX_KNOWN_VALUE_LENGTH:
            return known
    if len(token) > _MAX_KNOWN_LENGTH:
        return known
    if len(_KNOWN) >= _MAX_KNOWN:
        _KNOWN.clear()
    _KNOWN[token] = known
    return known


def tokenize(sql: str) -> tuple[list[str], list[int]]:
    """Normalised tokens and their classes, with value lists already collapsed.

    Written for speed (it is most of a fingerprint cache miss): the tokens
    come from ``findall`` as plain strings and are normalised by one lookup
    in a table of tokens already met (:func:`_classify` fills it from the
    full regular expression, so both read SQL alike).
    """
    texts: list[str] = []
    kinds: list[int] = []
    add_text = texts.append
    add_kind = kinds.append
    # Per open "(": where it is and whether a nested group is known to hold a
    # token other than a value-list item; the positions of the ORs read
    # directly inside open groups (see perfaudit.sql.groups).
    open_parens: list[int] = []
    dirty: set[int] = set()  # the starts of open groups known to hold such a token
    ors: list[int] = []
    no_ors: list[int] = []
    known_tokens = _KNOWN
    name_next = False  # the previous token was SAVEPOINT
    for token in _TOKEN_TEXT.findall(sql) if "$" not in sql else _matched_tokens(sql):
        known = known_tokens.get(token)
        if known is None:
            known = _classify(token)
        text, kind, role = known
        if role == _PLAIN:
            if name_next:
                name_next = False
                if kind == IDENT:
                    # Savepoint names are generated per call ("s1403_x1"): fold them.
                    text, kind = "?", VALUE
            add_text(text)
            add_kind(kind)
        elif role == _QUALIFIED:
            name_next = False
            texts += (text[0], ".", text[1])
            kinds += (IDENT, PUNCT, IDENT)
        elif role == _OPEN:
            name_next = False
            open_parens.append(len(texts))
            add_text("(")
            add_kind(PUNCT)
        elif role == _CLOSE:
            name_next = False
            collapsed = False
            if open_parens:
                start = open_parens.pop()
                inside = no_ors
                if ors and ors[-1] > start:
                    inside = []
                    while ors and ors[-1] > start:
                        inside.append(ors.pop())
                    inside.reverse()
                held = start in dirty
                if held:
                    dirty.discard(start)
                collapsed, leaves_other = collapse_group(texts, kinds, start, inside, held)
                if leaves_other and open_parens:
                    dirty.add(open_parens[-1])
            if not collapsed:
                add_text(")")
                add_kind(PUNCT)
        elif role == _OR:
            name_next = False
            if open_parens:
                ors.append(len(texts))
            add_text(text)
            add_kind(kind)
        elif role == _SAVEPOINT:
            name_next = True
            add_text(text)
            add_kind(kind)
        # else a comment: dropped
    return texts, kinds


def _matched_tokens(sql: str) -> list[str]:
    """The tokens of ``sql`` through _TOKEN's match objects (the text of the
    alternative that matched, without the leading whitespace): for SQL with
    "$", whose dollar-quoted strings _TOKEN_TEXT cannot read."""
    return [match[match.lastindex or 0] for match in _TOKEN.finditer(sql)]


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
