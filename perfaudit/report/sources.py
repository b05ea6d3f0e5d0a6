"""Several JSONL files as one inventory: one file per process, pod or rotation.

A fleet writes one file per process (each gunicorn worker of each pod may
have its own ``JSONL_PATH``), and rotation (``JSONL_MAX_BYTES``) leaves a
``.1`` backup beside each. ``report --from`` takes any number of files and
shell globs; this module expands them into a list of distinct files, in a
stable order, and reads their lines as one stream, so the inventory is built
exactly as for one file: a request line counts once wherever it was written.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from typing import Any

from perfaudit.report.inventory import Inventory, build_inventory
from perfaudit.web.jsonl import JsonlError, read_jsonl

__all__ = ["describe", "expand_sources", "load_many", "read_many"]

_GLOB_CHARS = frozenset("*?[")


def expand_sources(patterns: Sequence[str]) -> list[str]:
    """The files ``patterns`` name: each is a path or a shell glob.

    A glob is expanded (sorted, so the order does not depend on the file
    system); a glob that matches nothing raises :class:`JsonlError`, as a
    missing file does when it is read, because a typo in a fleet-wide glob
    would otherwise report on fewer pods than the user thinks. A file named
    twice (by a path and a glob) is read once.
    """
    files: list[str] = []
    seen: set[str] = set()
    for pattern in patterns:
        if _GLOB_CHARS.intersection(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise JsonlError(pattern, 0, "no file matches this pattern")
            matches = [m for m in matches if not os.path.isdir(m)]
        else:
            matches = [pattern]
        for match in matches:
            key = os.path.realpath(match)
            if key not in seen:
                seen.add(key)
                files.append(match)
    return files


def read_many(paths: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Every request line of every file, file by file (:class:`JsonlError` names the file)."""
    for path in paths:
        for _, line in read_jsonl(path):
            yield line


def describe(paths: Sequence[str]) -> str:
    """The report's ``source``: the path itself, or how many files and which."""
    if len(paths) == 1:
        return paths[0]
    return f"{len(paths)} files ({', '.join(paths)})"


def load_many(patterns: Sequence[str]) -> Inventory:
    """Expand, read and merge; :class:`JsonlError` when a file or a line cannot be read."""
    paths = expand_sources(patterns)
    return build_inventory(read_many(paths), describe(paths))
