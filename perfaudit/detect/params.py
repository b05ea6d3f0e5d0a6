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
from typing import Final, NamedTuple

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
                in_list, pending = Slot(f"{table}.{column}", "IN"), None
            else:
                pending = Slot(f"{table}.{column}", op)
        # A string literal matches only so that its content is not scanned.
    return tuple(found)


def varying(rows: list[tuple[object, ...]]) -> set[int]:
    """Positions whose value is not the same in every row (rows of one length).

    Compared with ``==`` column by column (``list.count`` runs in C and
    needs no hashing: parameters may be lists or dicts).
    """
    changed: set[int] = set()
    for position, column in enumerate(zip(*rows, strict=True)):
        if column.count(column[0]) != len(column):
            changed.add(position)
    return changed
