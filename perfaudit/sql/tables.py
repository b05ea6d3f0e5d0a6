"""The tables a statement reads and writes, and its aliases (part of clause extraction).

Split from :mod:`perfaudit.sql.clauses`, which calls :func:`tables` once per
statement. Pure functions over the token stream of :mod:`perfaudit.sql.tokens`.
"""

from __future__ import annotations

from typing import Final

from perfaudit.sql.kinds import IDENT

__all__ = ["TABLE_WORDS", "tables"]

# The words after which tables() looks for table names.
TABLE_WORDS: Final = frozenset({"FROM", "DELETE", "JOIN", "INTO", "UPDATE"})


def _qualified_name(texts: list[str], kinds: list[int], i: int) -> tuple[str, int]:
    """Read ``name`` or ``schema.name`` starting at ``i``; return it and the next index."""
    name = texts[i]
    j = i + 1
    while j + 1 < len(texts) and texts[j] == "." and kinds[j + 1] == IDENT:
        name = f"{name}.{texts[j + 1]}"
        j += 2
    return name, j


def _alias(texts: list[str], kinds: list[int], i: int) -> tuple[str | None, int]:
    if i < len(texts) and kinds[i] == IDENT:
        return texts[i], i + 1
    if i + 1 < len(texts) and texts[i] == "AS" and kinds[i + 1] == IDENT:
        return texts[i + 1], i + 2
    return None, i


def tables(
    texts: list[str], kinds: list[int], verb: str, main: list[bool], markers: list[int]
) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, str], tuple[str, ...]]:
    """Tables read and written, the main statement's aliases and tables.

    ``markers`` are the indexes of the tokens that may precede a table name
    (and others); tokens already read as a name or alias are skipped.
    """
    read: dict[str, None] = {}
    written: dict[str, None] = {}
    main_tables: dict[str, None] = {}
    aliases: dict[str, str] = {}
    n = len(texts)
    resume = 0  # the first token not read yet as a name, alias or comma
    for i in markers:
        text = texts[i]
        if i < resume or text not in TABLE_WORDS:
            continue
        target: dict[str, None] | None = None
        if text == "FROM":
            deleting = verb == "DELETE" and i > 0 and texts[i - 1] == "DELETE"
            target = written if deleting else read
        elif text == "DELETE" and i == 0:
            # MySQL's multi-table form, Django's delete() over a join there:
            # DELETE `t` FROM `t` INNER JOIN `u` ON ... (the FROM tables are read).
            target = written
        elif text == "JOIN":
            target = read
        elif (text == "INTO" and verb in ("INSERT", "REPLACE")) or (text == "UPDATE" and i == 0):
            target = written
        if target is None or i + 1 >= n or kinds[i + 1] != IDENT:
            continue
        in_main = main[i]
        while True:
            name, i = _qualified_name(texts, kinds, i + 1)
            target[name] = None
            if target is read and in_main:
                main_tables[name] = None
            alias, i = _alias(texts, kinds, i) if target is read else (None, i)
            if alias is not None and in_main:
                aliases[alias] = name
            # Old-style comma joins (FROM a, b x, c AS y) and MySQL's DELETE a, b FROM
            if not (
                (target is read or text == "DELETE")
                and i + 1 < n
                and texts[i] == ","
                and kinds[i + 1] == IDENT
            ):
                break
        resume = i
    if verb == "DELETE":
        # MySQL's DELETE may name its targets by alias: DELETE r FROM review r ...
        written = {aliases.get(name, name): None for name in written}
    return tuple(read), tuple(written), aliases, tuple(main_tables)
