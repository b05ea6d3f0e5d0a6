"""JSONPath-like masks: a tiny pattern compiler and an in-place applier.

Some fields legitimately change between two runs of the same endpoint (a
``generated_at`` timestamp, a CSRF token). A mask names them so their values
are replaced by :data:`IGNORED` before a payload is hashed or compared.

The grammar is deliberately small, so a pattern means one obvious thing and a
typo is an error rather than a silent no-match::

    $                 the payload root (must start every pattern)
    .name             member ``name`` of an object
    ['any key']       member with any characters ("..." quotes work too)
    [3] / [-1]        element of an array (negative counts from the end)
    [*] / .*          every element of an array, every member of an object
    ..name            member ``name`` at any depth (recursive descent)

Pure logic with no import beyond the standard library, so the settings
check can compile patterns without loading anything else. Applying masks
lives in :mod:`perfaudit.payload._masks`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

__all__ = [
    "IGNORED",
    "Descend",
    "Index",
    "Key",
    "Pattern",
    "Step",
    "Wildcard",
    "compile_pattern",
    "format_path",
]

IGNORED: Final = "<ignored>"
"""What a masked value becomes: a fixed string, so both sides hash alike."""


@dataclass(frozen=True, slots=True)
class Key:
    """``.name`` / ``['name']``: one member of an object."""

    name: str


@dataclass(frozen=True, slots=True)
class Index:
    """``[n]``: one element of an array; negative counts from the end."""

    index: int


@dataclass(frozen=True, slots=True)
class Wildcard:
    """``[*]`` / ``.*``: every element of an array or member of an object."""


@dataclass(frozen=True, slots=True)
class Descend:
    """``..name``: member ``name`` of any object at any depth below."""

    name: str


Step = Key | Index | Wildcard | Descend
Pattern = tuple[Step, ...]

# A dotted name stops at the characters that start the next step or quote.
# format_path() uses the same class, so a printed path always compiles back.
_NAME: Final = re.compile(r"[^.\[\]'\"*\s]+")
_INDEX: Final = re.compile(r"-?\d+")
_EXAMPLES: Final = "'$.results[*].updated_at', '$..csrf_token', \"$['odd key'][0]\""


class _Syntax(Exception):
    def __init__(self, what: str, position: int) -> None:
        super().__init__(what)
        self.what = what
        self.position = position


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Pattern:
    """Compile one mask pattern into steps.

    Raises ``ValueError`` naming the pattern, what is wrong and where, because
    a mask that silently matches nothing would let a real change through.
    """
    if not isinstance(pattern, str):
        raise ValueError(
            f"Mask pattern must be a string, got {type(pattern).__name__} {pattern!r}."
        )
    try:
        return _parse(pattern)
    except _Syntax as exc:
        raise ValueError(
            f"Invalid mask pattern {pattern!r}: {exc.what} (at position {exc.position}). "
            f"Patterns look like {_EXAMPLES}."
        ) from None


def _parse(pattern: str) -> Pattern:
    if not pattern.startswith("$"):
        raise _Syntax("a pattern must start with '$' (the payload root)", 0)
    steps: list[Step] = []
    i, end = 1, len(pattern)
    while i < end:
        if pattern.startswith("..", i):
            name, i = _member_name(pattern, i + 2, after="'..'")
            steps.append(Descend(name))
        elif pattern[i] == ".":
            if pattern.startswith("*", i + 1):
                steps.append(Wildcard())
                i += 2
            else:
                name, i = _member_name(pattern, i + 1, after="'.'")
                steps.append(Key(name))
        elif pattern[i] == "[":
            step, i = _bracket(pattern, i)
            steps.append(step)
        else:
            raise _Syntax(f"unexpected {pattern[i]!r}; expected '.', '..' or '['", i)
    if not steps:
        raise _Syntax("'$' alone would mask the whole payload; name a member", 1)
    return tuple(steps)


def _member_name(pattern: str, i: int, *, after: str) -> tuple[str, int]:
    """A name after ``.`` or ``..``: bare, or bracketed and quoted after ``..``."""
    if after == "'..'" and pattern.startswith("[", i):
        step, i = _bracket(pattern, i)
        if not isinstance(step, Key):
            raise _Syntax("recursive descent '..' must be followed by a member name", i)
        return step.name, i
    match = _NAME.match(pattern, i)
    if match is None:
        if after == "'..'" and pattern.startswith("*", i):
            raise _Syntax("'..*' would mask every value; name a member after '..'", i)
        found = repr(pattern[i]) if i < len(pattern) else "the end of the pattern"
        raise _Syntax(f"expected a member name after {after}, found {found}", i)
    return match.group(), match.end()


def _bracket(pattern: str, start: int) -> tuple[Step, int]:
    i = start + 1
    if i >= len(pattern):
        raise _Syntax("unclosed '['", start)
    char = pattern[i]
    step: Step
    if char == "*":
        step, i = Wildcard(), i + 1
    elif char in "'\"":
        name, i = _quoted(pattern, i)
        step = Key(name)
    else:
        match = _INDEX.match(pattern, i)
        if match is None:
            raise _Syntax("expected an index, '*' or a quoted name inside '[...]'", i)
        step, i = Index(int(match.group())), match.end()
    if not pattern.startswith("]", i):
        raise _Syntax("unclosed '[', expected ']'", start)
    return step, i + 1


def _quoted(pattern: str, start: int) -> tuple[str, int]:
    quote, chars, i = pattern[start], [], start + 1
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            chars.append(pattern[i + 1])
            i += 2
        elif char == quote:
            return "".join(chars), i + 1
        else:
            chars.append(char)
            i += 1
    raise _Syntax(f"unclosed quote {quote}", start)


def format_path(parts: Sequence[str | int]) -> str:
    """``['results', 3, 'author']`` → ``$.results[3].author``; compiles back as a mask."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _NAME.fullmatch(part):
            out.append(f".{part}")
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out.append(f"['{escaped}']")
    return "".join(out)
