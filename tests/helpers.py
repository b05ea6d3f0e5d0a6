"""Small helpers shared by the test modules."""

from __future__ import annotations


def line_of(path: str, marker: str) -> int:
    """Line number in ``path`` of the line carrying the comment ``marker``.

    Lets tests assert exact call sites without hard-coding line numbers.
    """
    with open(path, encoding="utf-8") as source:
        for number, line in enumerate(source, start=1):
            if marker in line and "line_of(" not in line:
                return number
    raise AssertionError(f"no line with {marker!r} in {path}")
