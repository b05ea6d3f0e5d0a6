"""A difference counts only when it reproduces: volatile fields against real changes.

``compare`` runs each request at least twice per ref, the runs at least one
second apart (a warm-up run, then a check run after the rounds), and
``audit --repeat`` does the same within one ref. A field whose value differs
between two runs of the *same* code is **volatile**: a ``now()`` timestamp, a
JWT whose ``exp`` is counted in whole seconds, a random nonce. It is reported
as "volatile, ignored", never as a change, and never silently. A difference
between base and head at a field that did not move within either ref is a
**change**.

Runs are compared as :class:`Snapshot`: status, content type, kind and the
canonical body. JSON bodies are compared by path (the paths of the wire
JSON). Other bodies are cut into alternating runs of token characters and of
the rest, so a CSRF token or a nonce that changes keeps the rest of an HTML
page comparable; a page whose number of runs changes between two runs of the
same ref cannot be compared piece by piece, and says so. Pure logic, no
Django: the compare parent and the audit engine share it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson

from perfaudit.payload._diff import MISSING, all_differences
from perfaudit.payload._safe import shorten

__all__ = ["Change", "PayloadVerdict", "Snapshot", "judge", "volatile_keys", "volatile_paths"]

ROOT: Final = "$"
_LIMIT: Final = 10_000
_EXCERPT: Final = 40
_RUNS: Final = re.compile(rb"[A-Za-z0-9+/=_.\-]+|[^A-Za-z0-9+/=_.\-]+")

Result = Literal["identical", "different", "not comparable"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One run's payload as compared: what the client received, canonicalised."""

    hash: str | None
    status: int | None
    content_type: str | None
    kind: str
    body: bytes | None = field(repr=False)  # the canonical body; None when not hashable

    def to_wire(self) -> dict[str, Any]:
        """A JSON-ready dict (the compare child sends it to the parent)."""
        text = None
        if self.body is not None:
            text = self.body.decode("utf-8" if self.kind == "json" else "latin-1")
        return {
            "hash": self.hash,
            "status": self.status,
            "content_type": self.content_type,
            "kind": self.kind,
            "body": text,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Snapshot:
        text = data.get("body")
        kind = str(data.get("kind"))
        body = None if text is None else text.encode("utf-8" if kind == "json" else "latin-1")
        return cls(data.get("hash"), data.get("status"), data.get("content_type"), kind, body)


@dataclass(frozen=True, slots=True, repr=False)
class Change:
    """A difference between base and head that did not move within either ref."""

    path: str
    base: Any
    head: Any

    def __repr__(self) -> str:
        return f"Change(path={self.path!r}, base={shorten(self.base)}, head={shorten(self.head)})"


@dataclass(frozen=True, slots=True)
class PayloadVerdict:
    """What base against head amounts to, once volatile fields are set aside."""

    result: Result
    changes: list[Change] = field(default_factory=list)
    volatile: list[str] = field(default_factory=list)
    note: str | None = None

    @property
    def count(self) -> int:
        return len(self.changes)


class _Pieces:
    """A non-JSON body as alternating runs, with each run's offset."""

    __slots__ = ("offsets", "runs")

    def __init__(self, body: bytes) -> None:
        matches = list(_RUNS.finditer(body))
        self.runs = [m.group() for m in matches]
        self.offsets = [m.start() for m in matches]


def _tree(snapshot: Snapshot) -> Any:
    assert snapshot.body is not None
    return orjson.loads(snapshot.body)


def _differing_keys(left: Snapshot, right: Snapshot) -> list[tuple[str, Any, Any]]:
    """Every differing key of two snapshots: ``status``, ``content-type``, paths, ``#run``."""
    found: list[tuple[str, Any, Any]] = []
    if left.status != right.status:
        found.append(("status", left.status, right.status))
    if left.content_type != right.content_type:
        found.append(("content-type", left.content_type, right.content_type))
    if left.body is None or right.body is None:
        if left.body is not right.body:
            found.append((ROOT, left.kind, right.kind))
        return found
    if left.body == right.body:
        return found
    if left.kind != right.kind:
        found.append((ROOT, _excerpt(left, 0), _excerpt(right, 0)))
    elif left.kind == "json":
        found.extend(all_differences(_tree(left), _tree(right), limit=_LIMIT))
    else:
        a, b = _Pieces(left.body), _Pieces(right.body)
        if len(a.runs) != len(b.runs):
            offset = _first_byte(left.body, right.body)
            found.append((ROOT, _excerpt(left, offset), _excerpt(right, offset)))
        else:
            for index, (x, y) in enumerate(zip(a.runs, b.runs, strict=True)):
                if x != y:
                    found.append((f"#{index}", x, y))
    return found


def _first_byte(left: bytes, right: bytes) -> int:
    common = min(len(left), len(right))
    offset = 0
    while offset < common and left[offset] == right[offset]:
        offset += 1
    return offset


def _excerpt(snapshot: Snapshot, offset: int) -> Any:
    if snapshot.body is None:
        return MISSING
    return snapshot.body[offset : offset + _EXCERPT]


def volatile_keys(runs: Sequence[Snapshot]) -> set[str]:
    """The keys that differ between the first run of one ref and any later run."""
    keys: set[str] = set()
    for later in runs[1:]:
        keys.update(key for key, _, _ in _differing_keys(runs[0], later))
    return keys


def _covered(key: str, volatile: Iterable[str]) -> bool:
    """``key`` is a volatile key or lies below one (``$.a.b`` under ``$.a``)."""
    for v in volatile:
        if key == v or (
            v.startswith(ROOT) and key.startswith(v) and key[len(v) : len(v) + 1] in (".", "[")
        ):
            return True
    return False


def _display(key: str, pieces: _Pieces | None) -> str:
    if key.startswith("#"):
        index = int(key[1:])
        if pieces is not None and index < len(pieces.offsets):
            return f"byte {pieces.offsets[index]}"
        return f"piece {index}"
    return key


def volatile_paths(runs: Sequence[Snapshot]) -> tuple[list[str], bool]:
    """The volatile keys of one ref's runs, as shown, and whether the whole payload moved."""
    keys = volatile_keys(runs)
    first = runs[0]
    pieces = _Pieces(first.body) if first.body is not None and first.kind != "json" else None
    return sorted(_display(key, pieces) for key in keys), ROOT in keys


def judge(base: Sequence[Snapshot], head: Sequence[Snapshot]) -> PayloadVerdict:
    """Base against head; each side's runs (first = warm-up, later = re-checks)."""
    volatile = volatile_keys(base) | volatile_keys(head)
    first_base, first_head = base[0], head[0]
    pieces = (
        _Pieces(first_base.body)
        if first_base.body is not None and first_base.kind != "json"
        else None
    )
    shown = sorted(_display(key, pieces) for key in volatile)
    if first_base.hash is None or first_head.hash is None:
        return PayloadVerdict("not comparable", volatile=shown, note="a payload is not hashable")
    if ROOT in volatile:
        sides = [
            name for name, runs in (("base", base), ("head", head)) if ROOT in volatile_keys(runs)
        ]
        return PayloadVerdict(
            "not comparable",
            volatile=shown,
            note=f"the whole payload of {' and '.join(sides)} changes between two runs of the "
            "same code; mask what changes (PAYLOAD_IGNORE, PAYLOAD_IGNORE_TEXT)",
        )
    changes = [
        Change(_display(key, pieces), left, right)
        for key, left, right in _differing_keys(first_base, first_head)
        if not _covered(key, volatile)
    ]
    return PayloadVerdict("different" if changes else "identical", changes, shown)
