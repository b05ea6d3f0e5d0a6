"""Hash what an endpoint returns: canonical data hash, raw bytes hash, first difference.

A performance change is only safe if the endpoint returns the same thing.
``digest()`` states it as two hashes:

* ``canonical``: over the canonical JSON bytes of the data (sorted keys, no
  whitespace, values rendered as DRF renders them, masks applied), so "same
  data" survives a different key order, indentation or Python type;
* ``raw``: over ``response.content`` exactly as sent, so "same bytes" can be
  told apart from "same data".

How each kind of payload becomes bytes lives in :mod:`._extract`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from perfaudit.conf import app_settings
from perfaudit.payload import _encode
from perfaudit.payload._diff import Difference, diff_bytes, diff_trees
from perfaudit.payload._extract import Buffer, Kind, canonicalise, sha256
from perfaudit.payload._jsonpath import Pattern, compile_pattern

__all__ = [
    "Kind",
    "PayloadDigest",
    "canonical_bytes",
    "digest",
    "first_difference",
    "payload_hash",
]

_EXCERPT: Final = 40


@dataclass(frozen=True, slots=True)
class PayloadDigest:
    """The identity of one payload.

    ``canonical`` is ``"sha256:<hex>"`` over the canonical bytes (``None``
    when nothing could be hashed: a streaming or unrendered response).
    ``raw`` is ``"sha256:<hex>"`` over the body as sent (``None`` for a Python
    object or a body not rendered yet). ``kind`` says what was hashed:
    ``"json"`` (canonical JSON of the data), ``"bytes"`` (the body's bytes,
    decoded from gzip/deflate), ``"streaming"`` or ``"unrendered"`` (nothing).
    ``note`` explains anything unusual (a fallback, a decoded encoding);
    ``masked`` counts the values masks replaced, so a mask that matches
    nothing shows up as 0.

    Compare two runs by ``canonical``; ``raw`` differs whenever the bytes do,
    e.g. under ``GZipMiddleware``, which pads every response randomly.
    """

    canonical: str | None
    raw: str | None
    kind: Kind
    note: str | None = None
    masked: int = 0

    @property
    def hashable(self) -> bool:
        """False for a streaming or unrendered response."""
        return self.canonical is not None

    def __str__(self) -> str:
        if self.canonical is None:
            return f"not hashable: {self.kind}"
        return self.canonical


# -- public API ---------------------------------------------------------------


def digest(payload: object, *, ignore: str | Iterable[str] = ()) -> PayloadDigest:
    """Hash ``payload``: a Python object, a response (DRF or Django) or a body.

    ``ignore`` adds mask patterns to ``PERFAUDIT["PAYLOAD_IGNORE"]``; a
    malformed one raises ``ValueError``. A streaming or unrendered response
    is reported (``hashable`` is False), never consumed or rendered.
    """
    result = canonicalise(payload, _masks(ignore))
    if result.body is None:
        canonical = None
    elif result.body_is_raw:
        canonical = result.raw
    else:
        canonical = sha256(result.body)
    return PayloadDigest(canonical, result.raw, result.kind, result.note, result.masked)


def payload_hash(payload: object, *, ignore: str | Iterable[str] = ()) -> str:
    """``"sha256:<hex>"`` of the canonical bytes; ``ValueError`` if not hashable."""
    result = digest(payload, ignore=ignore)
    if result.canonical is None:
        raise ValueError(f"Payload is not hashable: {result.note}")
    return result.canonical


def canonical_bytes(payload: object, *, ignore: str | Iterable[str] = ()) -> bytes:
    """The bytes :func:`payload_hash` hashes.

    JSON (a Python object, a DRF ``Response``'s ``data``, a JSON response or
    body) becomes sorted-key, whitespace-free JSON with masks applied. Any
    other body (HTML, CSV, ...) is returned as is, after undoing a gzip or
    deflate ``Content-Encoding``: those bytes are hashed raw, unmasked.
    """
    result = canonicalise(payload, _masks(ignore))
    if result.body is None:
        raise ValueError(f"Payload is not hashable: {result.note}")
    return bytes(result.body)


def first_difference(
    left: object, right: object, *, ignore: str | Iterable[str] = ()
) -> Difference | None:
    """The first path where two payloads differ, or ``None`` when their hashes match.

    Takes what :func:`digest` takes, applies the same masks, and walks the
    canonical data in canonical order. For non-JSON bodies the path is ``$``
    and ``offset`` points at the first differing byte.
    """
    masks = _masks(ignore)
    a, b = canonicalise(left, masks), canonicalise(right, masks)
    if a.body is None or b.body is None:
        side, note = ("left", a.note) if a.body is None else ("right", b.note)
        raise ValueError(f"Cannot compare the {side} payload: {note}")
    if a.body == b.body:
        return None
    if a.kind == b.kind == "json":
        return diff_trees(_encode.loads(a.body), _encode.loads(b.body))
    if a.kind == b.kind == "bytes":
        return diff_bytes(bytes(a.body), bytes(b.body))
    return Difference("$", _summary(a.kind, a.body), _summary(b.kind, b.body), 1)


# -- masks --------------------------------------------------------------------


def _masks(ignore: str | Iterable[str]) -> tuple[Pattern, ...]:
    # A lone string is one pattern, not a sequence of one-character patterns.
    extra = (ignore,) if isinstance(ignore, str) else tuple(ignore)
    patterns = dict.fromkeys((*app_settings.PAYLOAD_IGNORE, *extra))
    return tuple(compile_pattern(pattern) for pattern in patterns)


# -- helpers ------------------------------------------------------------------


def _summary(kind: Kind, body: Buffer) -> Any:
    if kind == "json":
        return _encode.loads(body)
    return bytes(memoryview(body)[:_EXCERPT])
