"""Collapsing a parenthesised group of the token stream, in time linear overall.

Called by :func:`perfaudit.sql.tokens.tokenize` at each ``)``. A group is
never copied: the tokenizer hands over the positions of the ``OR``\\ s directly
inside it (each recorded once, when read) and whether a nested group is
already known to hold a token other than a value-list item, so that deeply
nested parentheses, ``IN`` lists and ``OR`` chains cost time proportional to
the statement, not to its square (``benchmarks/bench_sql_linear.py``).
"""

from __future__ import annotations

from typing import Final

from perfaudit.sql.kinds import KW, VALUE

__all__ = ["collapse_group", "collapse_group_simple"]

_IN_LIST_ITEMS: Final = frozenset({"?", ",", "NULL", "(", ")"})


def collapse_group(
    texts: list[str], kinds: list[int], start: int, ors: list[int], dirty: bool
) -> tuple[bool, bool]:
    """Collapse the group opened at ``start`` (its ")" not yet appended).

    ``IN (?, ?, ?)`` (or ``IN ((?), (?))``, Django's tuple lookups) becomes
    ``IN (...)`` whatever its length; ``VALUES (…), (…)`` becomes
    ``VALUES (...)`` whatever the number of rows; ``(a = ? OR a = ? OR …)``,
    the form Django's tuple ``IN`` takes on SQLite, becomes ``(a = ? OR ...)``.

    ``ors`` are the indexes of the ``OR`` tokens directly inside the group;
    ``dirty`` says a nested group holds something else than value-list items.
    Returns whether the group was replaced (its ")" must not be appended),
    and whether what it leaves certainly holds such a token (the parent's
    ``dirty``).
    """
    before = texts[start - 1] if start > 0 else ""
    if ors and _collapse_repeated_or(texts, kinds, start, ors):
        return False, True  # the group's own ")" is still to be appended
    if before == "VALUES":
        pass
    elif before == "IN":
        if dirty or ors or not _items_only(texts, start):
            return False, True
    elif (
        before == ","
        and start >= 3
        and texts[start - 2] == "(...)"
        and (texts[start - 3] == "VALUES")
    ):
        # A further VALUES row: drop it and its comma.
        del texts[start - 1 :], kinds[start - 1 :]
        return True, True
    else:
        return False, dirty or bool(ors)
    del texts[start:], kinds[start:]
    texts.append("(...)")
    kinds.append(VALUE)
    return True, True


def _items_only(texts: list[str], start: int) -> bool:
    """Whether the group after ``start`` holds value-list items only.

    Read from the end, stopping at the first other token: a token read here
    is then either collapsed away or makes every enclosing group ``dirty``,
    so no token is read twice.
    """
    return all(texts[i] in _IN_LIST_ITEMS for i in range(len(texts) - 1, start, -1))


def _collapse_repeated_or(texts: list[str], kinds: list[int], start: int, ors: list[int]) -> bool:
    """Fold ``x OR x OR x`` (identical terms) inside the group opened at ``start``.

    Terms are compared by length first, then token by token; a group whose
    terms all match is at least twice as long as any of them, so the
    comparisons of nested groups add up to a linear cost.
    """
    bounds = [start + 1, *(i + 1 for i in ors)]
    ends = [*ors, len(texts)]
    length = ends[0] - bounds[0]
    if any(end - begin != length for begin, end in zip(bounds, ends, strict=True)):
        return False
    first = bounds[0]
    for begin in bounds[1:]:
        for offset in range(length):
            if texts[begin + offset] != texts[first + offset]:
                return False
    end = start + 1 + length
    del texts[end:], kinds[end:]
    texts += ["OR", "..."]
    kinds += [KW, VALUE]
    return True


def collapse_group_simple(texts: list[str], kinds: list[int], start: int) -> bool:
    """:func:`collapse_group` for callers that track nothing (the reference
    normaliser of ``benchmarks/``): finds the group's ``OR``\\ s itself."""
    ors: list[int] = []
    depth = 0
    for i in range(start + 1, len(texts)):
        text = texts[i]
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif text == "OR" and depth == 0:
            ors.append(i)
    return collapse_group(texts, kinds, start, ors, False)[0]
