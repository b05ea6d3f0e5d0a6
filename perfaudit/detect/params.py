"""Which column each parameter of a statement is compared to.

The N+1 rule needs more than "the parameters differ": the value that varies
must be the one compared to the row's key (``book_id = ?``), not a timestamp
(``expire_date > ?``) or a fixed reader (``favorites.profile_id = ?``). This
maps each placeholder of Django's SQL, in order, to the column and operator in
front of it. Computed once per distinct SQL string (cached), never on the
capture hot path.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final, NamedTuple

__all__ = ["Slot", "slots", "varying"]


class Slot(NamedTuple):
    """One placeholder: ``table.column`` it is compared to (or ``None``), and how."""

    column: str | None
    op: str | None


_SCAN: Final = re.compile(
    r"""
      (?P<col>(?:"(?P<t1>[^"]+)"|`(?P<t2>[^`]+)`|(?P<t3>\w+))\.(?:"(?P<c1>[^"]+)"|`(?P<c2>[^`]+)`|(?P<c3>\w+)))
      \s*(?P<op>=|<>|!=|>=|<=|>|<|\bIN\s*\(|\bLIKE\b|\bILIKE\b)?
    | (?P<param>%s|%\(\w+\)s)
    | (?P<close>\))
    | (?P<string>'[^']*(?:''[^']*)*')
    """,
    re.VERBOSE | re.IGNORECASE,
)


_SUBQUERY: Final = re.compile(r"\s*\(?\s*SELECT\b", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def slots(sql: str) -> tuple[Slot, ...]:
    """The placeholders of ``sql`` in order, each with the column compared to it.

    >>> slots('SELECT 1 FROM "a" WHERE ("a"."id" = %s AND "a"."d" > %s)')
    (Slot(column='a.id', op='='), Slot(column='a.d', op='>'))
    """
    found: list[Slot] = []
    pending: Slot | None = None  # a column and operator waiting for their value
    in_list: Slot | None = None  # inside ``column IN (...)``
    for match in _SCAN.finditer(sql):
        if match.group("param") is not None:
            if in_list is not None:
                found.append(in_list)
            elif pending is not None:
                found.append(pending)
                pending = None
            else:
                found.append(Slot(None, None))
        elif match.group("close") is not None:
            in_list = None
        elif match.group("col") is not None:
            table = match.group("t1") or match.group("t2") or match.group("t3")
            column = match.group("c1") or match.group("c2") or match.group("c3")
            op = match.group("op")
            if op is None:
                pending = None
                continue
            op = op.upper().replace(" ", "")
            if op.startswith("IN"):
                # `col IN (SELECT ...)`: a subquery, not a list of values; its
                # own comparisons name its placeholders.
                subquery = _SUBQUERY.match(sql, match.end()) is not None
                in_list = None if subquery else Slot(f"{table}.{column}", "IN")
                pending = None
            else:
                pending = Slot(f"{table}.{column}", op)
        # A string literal matches only so that its content is not scanned.
    return tuple(found)


def varying(rows: list[Any], width: int) -> set[int]:
    """Positions whose value is not the same in every row of parameters.

    Compared with ``==`` (values may be lists or dicts, so no hashing), a
    position at a time: the second row usually already differs at the row
    key; otherwise ``list.count`` compares the whole column in C. Raises
    ``ValueError`` when a row is not ``width`` long and ``TypeError`` when
    one is not a sequence (``None``: parameters not captured).
    """
    for row in rows:
        if len(row) != width:
            raise ValueError("not a value per placeholder")
    changed: set[int] = set()
    if len(rows) < 2:
        return changed
    first, second = rows[0], rows[1]
    for position in range(width):
        value = first[position]
        if second[position] != value:
            changed.add(position)
            continue
        column = [row[position] for row in rows]
        if column.count(value) != len(column):
            changed.add(position)
    return changed
