"""The first place two payloads differ, for failure messages and compare reports.

"Hashes differ" is a fact; "``$.results[3].author.name``: 'Ann' → 'Anne', and
4 more paths" is something a reviewer can act on. The walk is deterministic
(object members in sorted order, which is also the order of the canonical
bytes; array elements in index order) so the same two payloads always report
the same first path.

Types are compared strictly, as the canonical bytes do: ``1``, ``1.0`` and
``true`` are three different values even though Python finds them equal.
Pure logic: no Django import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from perfaudit.payload._jsonpath import format_path
from perfaudit.payload._safe import shorten, shorten_pair

__all__ = ["MISSING", "Difference", "diff_bytes", "diff_trees"]

_EXCERPT: Final = 40


class _Missing:
    """The value on the side where a member or element does not exist."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<missing>"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()
"""Stands for "absent on this side" in :attr:`Difference.left` / ``right``."""


@dataclass(frozen=True, slots=True, repr=False)
class Difference:
    """Where two payloads first differ, and how many places differ in all.

    ``path`` is a JSON path (``$.results[10]``) that compiles back as a mask.
    ``left``/``right`` are the two values there (:data:`MISSING` when absent
    on one side; a short ``bytes`` excerpt for non-JSON bodies, with
    ``offset`` the position of the first differing byte; for responses, the
    path ``status`` or ``content-type`` when those differ). ``str()`` shows
    the values shortened (:func:`perfaudit.payload.shorten`): a token is
    never printed whole. ``count`` is the
    number of differing paths: a changed value, a member or element present
    on one side only, or a type change each count once.
    """

    path: str
    left: Any
    right: Any
    count: int
    offset: int | None = field(default=None)

    def __repr__(self) -> str:
        # Shortened too: pytest prints the repr of a failing comparison.
        offset = "" if self.offset is None else f", offset={self.offset}"
        return (
            f"Difference(path={self.path!r}, left={shorten(self.left)}, "
            f"right={shorten(self.right)}, count={self.count}{offset})"
        )

    def __str__(self) -> str:
        where = self.path if self.offset is None else f"byte {self.offset}"
        more = self.count - 1
        tail = f" (and {more} more differing path{'s' if more != 1 else ''})" if more else ""
        return f"{where}: {shorten_pair(self.left, self.right, ' != ')}{tail}"


class _Walk:
    __slots__ = ("count", "first", "found", "keep", "path")

    def __init__(self, keep: int = 0) -> None:
        self.path: list[str | int] = []
        self.first: tuple[str, Any, Any] | None = None
        self.count = 0
        self.keep = keep  # how many differences to list in ``found``
        self.found: list[tuple[str, Any, Any]] = []

    def differ(self, left: Any, right: Any) -> None:
        self.count += 1
        if self.first is None:
            self.first = (format_path(self.path), left, right)
        if len(self.found) < self.keep:
            self.found.append((format_path(self.path), left, right))

    def walk(self, left: Any, right: Any) -> None:
        if type(left) is not type(right):
            self.differ(left, right)
        elif isinstance(left, dict):
            for key in sorted(left.keys() | right.keys()):
                self.path.append(key)
                self.walk(left.get(key, MISSING), right.get(key, MISSING))
                self.path.pop()
        elif isinstance(left, list):
            for index in range(max(len(left), len(right))):
                self.path.append(index)
                self.walk(
                    left[index] if index < len(left) else MISSING,
                    right[index] if index < len(right) else MISSING,
                )
                self.path.pop()
        elif left != right:
            self.differ(left, right)


def diff_trees(left: Any, right: Any) -> Difference | None:
    """First difference between two parsed JSON trees, or ``None`` when equal."""
    walk = _Walk()
    walk.walk(left, right)
    if walk.first is None:
        return None
    path, first_left, first_right = walk.first
    return Difference(path, first_left, first_right, walk.count)


def all_differences(left: Any, right: Any, *, limit: int = 200) -> list[tuple[str, Any, Any]]:
    """Every differing leaf path of two parsed JSON trees (up to ``limit``), in walk order."""
    walk = _Walk(keep=limit)
    walk.walk(left, right)
    return walk.found


def diff_bytes(left: bytes, right: bytes) -> Difference | None:
    """First differing byte of two non-JSON bodies, with an excerpt of each side."""
    if left == right:
        return None
    view_left, view_right = memoryview(left), memoryview(right)
    common = min(len(left), len(right))
    # Find the first differing 4 KiB block with C-speed slice comparisons,
    # then the byte inside it, so a late difference in a big body stays cheap.
    offset, block = 0, 4096
    while (
        offset < common
        and view_left[offset : offset + block] == view_right[offset : offset + block]
    ):
        offset += block
    while offset < common and left[offset] == right[offset]:
        offset += 1
    return Difference(
        "$",
        bytes(view_left[offset : offset + _EXCERPT]),
        bytes(view_right[offset : offset + _EXCERPT]),
        1,
        offset,
    )
