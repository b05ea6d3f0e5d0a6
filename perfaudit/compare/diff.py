"""Every differing path between two payloads, for volatile-field detection.

``perfaudit.payload.first_difference`` names the first path; compare needs
them all: paths that differ between two rounds of the *same* ref are
volatile (timestamps, random ids) and must not count as a behaviour change
between refs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from perfaudit.payload import MISSING
from perfaudit.payload._jsonpath import format_path

__all__ = ["PathDifference", "differing_paths"]

LIMIT: Final = 200


@dataclass(frozen=True, slots=True)
class PathDifference:
    path: str
    left: Any
    right: Any


def differing_paths(left: Any, right: Any, *, limit: int = LIMIT) -> list[PathDifference]:
    """Differing leaf paths of two parsed JSON trees, in a stable order."""
    found: list[PathDifference] = []
    trail: list[str | int] = []

    def walk(a: Any, b: Any) -> None:
        if len(found) >= limit:
            return
        if type(a) is not type(b):
            found.append(PathDifference(format_path(trail), a, b))
        elif isinstance(a, dict):
            for key in sorted(a.keys() | b.keys()):
                trail.append(key)
                walk(a.get(key, MISSING), b.get(key, MISSING))
                trail.pop()
        elif isinstance(a, list):
            for index in range(max(len(a), len(b))):
                trail.append(index)
                walk(
                    a[index] if index < len(a) else MISSING,
                    b[index] if index < len(b) else MISSING,
                )
                trail.pop()
        elif a != b:
            found.append(PathDifference(format_path(trail), a, b))

    walk(left, right)
    return found
