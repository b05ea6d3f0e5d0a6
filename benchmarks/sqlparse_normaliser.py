"""A sqlparse-based SQL normaliser that produces perfaudit's fingerprints.

This is the baseline of ``bench_fingerprint.py``: the way one would write a
fingerprint function on top of sqlparse, held to the same output as
:func:`perfaudit.sql.shape.fingerprint` (the benchmark asserts equality for
every corpus statement before timing anything).

It shares perfaudit's rules, imported from :mod:`perfaudit.sql.tokens`: the
keyword list, the collapsing of ``IN``/``VALUES`` lists and repeated ``OR``
terms, and the rendering of the token list into a string. What differs is
everything before that: sqlparse's lexer does the tokenising, and this module
maps sqlparse's token types onto perfaudit's four token classes (keyword,
identifier, value, punctuation). The benchmark therefore compares the two ways
of *tokenising*, on equal downstream work.

Two entry points:

* :func:`fingerprint` tokenises with ``sqlparse.lexer`` only (the cheapest
  way to use sqlparse);
* :func:`fingerprint_parsed` runs the full ``sqlparse.parse()`` pipeline
  (lexing, statement splitting, grouping into a tree) and walks the flattened
  tree, which is what most sqlparse-based normalisers do.

Where sqlparse's tokens differ from perfaudit's, they are adjusted here:

* sqlparse reads ``\\'`` inside a string as an escaped quote, which breaks
  Django's SQLite ``LIKE … ESCAPE '\\'`` (see :func:`_standard_sql_lexer`): the
  lexer is configured with the standard-SQL string rule instead;
* multi-word keywords (``ORDER BY``, ``LEFT OUTER JOIN``, ``NOT LIKE``,
  ``AT TIME ZONE 'UTC'``…) are one sqlparse token: split on whitespace;
* sqlparse lexes a leading minus into numbers (``-1``); perfaudit keeps ``-``
  as an operator: split it off;
* sqlparse cuts operator runs differently (``->>``, ``%%``, ``=-``): adjacent
  operator characters are collected and re-cut with perfaudit's operator list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Final

from sqlparse import tokens as T
from sqlparse.engine import grouping
from sqlparse.engine.statement_splitter import StatementSplitter
from sqlparse.keywords import SQL_REGEX
from sqlparse.lexer import Lexer
from sqlparse.sql import Statement

from perfaudit.sql.tokens import _KEYWORDS, IDENT, KW, PUNCT, VALUE, _collapse_group, render

__all__ = ["fingerprint", "fingerprint_parsed"]

# perfaudit's operator list, used only to re-cut runs of operator characters.
_OPERATOR: Final = re.compile(r"::|<>|!=|<=|>=|\|\||%%|->>?|\#>>?|@>|<@|&&|\S")
_STRING_PREFIXES: Final = frozenset({"e", "n", "b", "x"})


def _standard_sql_lexer() -> Lexer:
    """sqlparse's lexer with one rule changed: backslash is not an escape in '…'.

    sqlparse's default string rule, ``'(''|\\'|[^'])*'``, reads ``\\'`` as an
    escaped quote (MySQL style). Standard SQL, PostgreSQL and SQLite do not, and
    Django's SQLite backend writes ``LIKE %s ESCAPE '\\'``: with the default
    rule, a statement with two such ``LIKE``s is lexed as one long string from
    the first ``'\\'`` to the next quote, and its fingerprint comes out wrong.
    """
    lexer = Lexer()
    lexer.default_initialization()
    lexer.set_SQL_REGEX(
        [
            (r"'(''|[^'])*'" if ttype is T.String.Single else regex, ttype)
            for regex, ttype in SQL_REGEX
        ]
    )
    return lexer


_LEXER: Final = _standard_sql_lexer()


def fingerprint(sql: str) -> str:
    """Normalise ``sql`` from sqlparse's lexer tokens."""
    return _normalise(_LEXER.get_tokens(sql))


def fingerprint_parsed(sql: str) -> str:
    """Normalise ``sql`` from the leaves of sqlparse's statement trees.

    The pipeline of ``sqlparse.parse()`` (lex, split statements, group), run
    with :data:`_LEXER` because ``sqlparse.parse()`` always uses the default one.
    """
    statements = StatementSplitter().process(_LEXER.get_tokens(sql))
    return _normalise(_leaves(grouping.group(statement) for statement in statements))


def _leaves(statements: Iterable[Statement]) -> Iterator[tuple[object, str]]:
    for statement in statements:
        for token in statement.flatten():
            yield token.ttype, token.value


def _normalise(stream: Iterable[tuple[object, str]]) -> str:
    out = _Output()
    pending = ""  # adjacent operator characters not yet cut into operators
    adjacent = False  # no whitespace/comment since the previous token
    for ttype, value in stream:
        if ttype in T.Whitespace or ttype in T.Comment:  # Whitespace covers Newline
            if pending:
                out.operators(pending)
                pending = ""
            adjacent = False
            continue
        if (
            ttype in T.Punctuation
            or ttype in T.Wildcard
            or ttype in T.Assignment
            or ttype in T.Error
            or (ttype in T.Operator and not value[0].isalpha())
        ):
            pending += value
            adjacent = True
            continue
        if ttype in T.Number:
            if value[0] == "-":
                pending += "-"
            if pending:
                out.operators(pending)
                pending = ""
            out.add("?", VALUE)
        else:
            if pending:
                out.operators(pending)
                pending = ""
            if ttype in T.String.Single:
                # E'…', N'…', B'…', X'…': one literal for perfaudit.
                if adjacent and out.texts and out.texts[-1] in _STRING_PREFIXES:
                    out.drop_last()
                out.add("?", VALUE)
            elif ttype in T.String.Symbol or (ttype in T.Name and value[0] == "`"):
                quote = value[0]
                out.add(value[1:-1].replace(quote * 2, quote), IDENT)
            elif ttype in T.Name.Placeholder or ttype in T.Literal:
                out.add("?", VALUE)
            else:  # keywords, names, builtins, word operators (LIKE, NOT LIKE…)
                for part in value.split():
                    if part[0] == "'":  # AT TIME ZONE 'UTC' is one sqlparse token
                        out.add("?", VALUE)
                    else:
                        out.word(part)
        adjacent = True
    if pending:
        out.operators(pending)
    return out.join()


class _Output:
    """The normalised token list, built the way perfaudit builds it."""

    __slots__ = ("after_savepoint", "kinds", "open_parens", "texts")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.kinds: list[int] = []
        self.open_parens: list[int] = []
        self.after_savepoint = False

    def word(self, word: str) -> None:
        upper = word.upper()
        if upper == "TRUE" or upper == "FALSE":
            self.add("?", VALUE)
        elif upper in _KEYWORDS:
            self.add(upper, KW)
        else:
            self.add(word.lower(), IDENT)

    def operators(self, run: str) -> None:
        if len(run) == 1:
            self.add(run, PUNCT)
        else:
            for operator in _OPERATOR.findall(run):
                self.add(operator, PUNCT)

    def drop_last(self) -> None:
        self.texts.pop()
        self.kinds.pop()

    def add(self, text: str, kind: int) -> None:
        if self.after_savepoint and kind == IDENT:
            text, kind = "?", VALUE  # generated savepoint names
        self.after_savepoint = text == "SAVEPOINT"
        if text == "(":
            self.open_parens.append(len(self.texts))
        elif (
            text == ")"
            and self.open_parens
            and _collapse_group(self.texts, self.kinds, self.open_parens.pop())
        ):
            return
        self.texts.append(text)
        self.kinds.append(kind)

    def join(self) -> str:
        return render(self.texts, self.kinds)
