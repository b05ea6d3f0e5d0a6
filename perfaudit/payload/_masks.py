"""Applying compiled masks to a payload, without touching the caller's data.

Masks run on what the encoder will serialise, not on a parsed copy: parsing
5 MB of canonical JSON back into Python objects costs more than hashing it,
and most masks (``$.results[*].updated_at``) visit a small part of the tree.
Changes are copy-on-write: a container is copied only where a mask replaces
something below it, so ``response.data`` is never mutated and untouched
subtrees are shared.

To match exactly what the client sees, a mask looks at values the way the
encoder will write them: non-string keys by their JSON text (``1`` is
``'1'``), and anything orjson hands to the DRF-style ``default`` hook that
becomes an array or object (a query set, a generator, a custom mapping, a
dataclass) is converted first. A converted value replaces the original in the
result, so a generator is consumed once, never twice.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid
from typing import Any, Final

from perfaudit.payload import _encode
from perfaudit.payload._jsonpath import IGNORED, Descend, Index, Key, Pattern, Wildcard

__all__ = ["apply_mask"]

# Values orjson writes as scalars (natively or through ``default``): nothing
# below them for a mask to match, so the walk does not look further.
_LEAVES: Final = (
    str,
    int,
    float,
    type(None),
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    decimal.Decimal,
    enum.Enum,
    bytes,
)
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
_NOT_FOUND: Final = object()


def apply_mask(data: Any, pattern: Pattern) -> tuple[Any, int]:
    """``data`` with every value ``pattern`` matches replaced by :data:`IGNORED`.

    Returns the new value (``data`` itself when nothing matched) and how many
    values were replaced, so a mask that matches nothing can be reported.
    """
    masker = _Masker(pattern)
    return masker.apply(data, 0), masker.count


def _container(node: Any) -> Any:
    """``node`` as the dict/list/tuple the encoder would write, or None for a scalar."""
    if isinstance(node, dict | list | tuple):
        return node
    if isinstance(node, _LEAVES):
        return None
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        # orjson writes a dataclass as an object of its fields.
        return {field.name: getattr(node, field.name) for field in dataclasses.fields(node)}
    try:
        value = _encode.default(node)
    except TypeError:
        return None
    return value if isinstance(value, dict | list | tuple) else None


def _find_key(node: dict[Any, Any], name: str) -> Any:
    if name in node:
        return name
    # Only on a miss: look for a non-string key whose JSON text is ``name``.
    for key in node:
        if not isinstance(key, str) and _encode.key_text(key) == name:
            return key
    return _NOT_FOUND


def _key_is(key: Any, name: str) -> bool:
    if isinstance(key, str):
        return key == name
    return _encode.key_text(key) == name


class _Masker:
    __slots__ = ("count", "last", "pattern")

    def __init__(self, pattern: Pattern) -> None:
        self.pattern = pattern
        self.last = len(pattern) - 1
        self.count = 0

    def apply(self, node: Any, i: int) -> Any:
        step = self.pattern[i]
        if type(step) is Key and isinstance(node, dict) and step.name in node:
            # The common case (`.updated_at` of each result), kept lean: on a
            # multi-megabyte list this runs once per element.
            old = node[step.name]
            if i == self.last:
                self.count += 1
                new: Any = IGNORED
            else:
                new = self.apply(old, i + 1)
                if new is old:
                    return node
            copy = dict(node)
            copy[step.name] = new
            return copy
        if isinstance(step, Descend):
            return self.descend(node, step.name, i)
        container = _container(node)
        if container is None:
            return node
        targets: list[Any] | range
        if isinstance(container, dict):
            if isinstance(step, Key):
                key = _find_key(container, step.name)
                targets = [] if key is _NOT_FOUND else [key]
            elif isinstance(step, Wildcard):
                targets = list(container)
            else:
                targets = []
        elif isinstance(step, Index):
            size = len(container)
            targets = [step.index % size] if -size <= step.index < size else []
        elif isinstance(step, Wildcard):
            targets = range(len(container))
        else:
            targets = []
        return self.replace(container, targets, i)

    def replace(self, container: Any, targets: list[Any] | range, i: int) -> Any:
        copy: Any = None
        for target in targets:
            old = container[target]
            if i == self.last:
                new: Any = IGNORED
                self.count += 1
            else:
                new = self.apply(old, i + 1)
            if new is not old:
                if copy is None:
                    copy = dict(container) if isinstance(container, dict) else list(container)
                copy[target] = new
        return container if copy is None else copy

    def descend(self, node: Any, name: str, i: int) -> Any:
        """``..name``: match ``name`` in every object at any depth below ``node``."""
        container = _container(node)
        if container is None:
            return node
        is_dict = isinstance(container, dict)
        copy: Any = None
        for target, old in container.items() if is_dict else enumerate(container):
            if is_dict and (target == name if type(target) is str else _key_is(target, name)):
                if i == self.last:
                    new: Any = IGNORED
                    self.count += 1
                else:
                    # The rest of the pattern below the match, then further matches deeper.
                    new = self.descend(self.apply(old, i + 1), name, i)
            elif type(old) in _SCALARS:
                continue  # most nodes: skip the call, it is most of a `..` walk
            else:
                new = self.descend(old, name, i)
            if new is not old:
                if copy is None:
                    copy = dict(container) if is_dict else list(container)
                copy[target] = new
        return container if copy is None else copy
