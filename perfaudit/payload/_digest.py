"""Hash what the client receives: status, content type and the canonical body.

A performance change is only safe if the endpoint returns the same thing.
``digest()`` states it as figures:

* ``hash``: the identity of a response, over its status code, its
  ``Content-Type`` and the canonical hash of its body, so a 200 that became a
  500 with the same body, or a JSON body now served as ``text/plain``, is a
  change. For a bare body or a Python object it is the canonical hash;
* ``canonical``: over the canonical body: the wire body decoded, parsed and
  re-written with sorted keys when it is JSON (masks applied), else the
  decoded bytes (text masks applied);
* ``raw``: over ``response.content`` exactly as sent, so "same bytes" can be
  told apart from "same data";
* ``data``: only on request, over a DRF response's ``response.data``, to
  explain a difference made by rendering, never to decide one.

How each kind of payload becomes bytes lives in :mod:`._extract`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from perfaudit.conf import app_settings
from perfaudit.payload import _encode
from perfaudit.payload._diff import Difference, diff_bytes, diff_trees
from perfaudit.payload._extract import Buffer, Canonical, Kind, Masks, canonicalise, sha256
from perfaudit.payload._jsonpath import compile_pattern
from perfaudit.payload._textmask import compile_text_mask
from perfaudit.payload._volatile import Snapshot

__all__ = [
    "Kind",
    "PayloadDigest",
    "canonical_bytes",
    "digest",
    "first_difference",
    "identity",
    "payload_hash",
    "snapshot",
]

_EXCERPT: Final = 40


@dataclass(frozen=True, slots=True)
class PayloadDigest:
    """The identity of one payload.

    ``hash`` is what to compare: ``"sha256:<hex>"`` over the status code, the
    ``Content-Type`` and ``canonical`` for a response, ``canonical`` itself for
    a bare body or a Python object (``None`` when nothing could be hashed: a
    streaming or unrendered response). ``canonical`` is ``"sha256:<hex>"`` over
    the canonical body alone. ``raw`` is over the body as sent (``None`` for a
    Python object). ``kind`` says what was hashed: ``"json"`` (canonical JSON
    of the wire body), ``"bytes"`` (the body's bytes, decoded from
    gzip/deflate), ``"streaming"`` or ``"unrendered"`` (nothing). ``status``
    and ``content_type`` are those of a response (``None`` otherwise);
    ``data`` is the canonical hash of a DRF response's ``data`` when asked for
    (``digest(..., with_data=True)``), else ``None``. ``note`` explains
    anything unusual; ``masked`` counts the values masks replaced, so a mask
    that matches nothing shows up as 0.

    Compare two runs by ``hash``; ``raw`` differs whenever the bytes do,
    e.g. under ``GZipMiddleware``, which pads every response randomly.
    """

    canonical: str | None
    raw: str | None
    kind: Kind
    note: str | None = None
    masked: int = 0
    status: int | None = None
    content_type: str | None = None
    data: str | None = None

    @property
    def hash(self) -> str | None:
        """The figure to compare: status, content type and canonical body."""
        return identity(self.status, self.content_type, self.canonical)

    @property
    def hashable(self) -> bool:
        """False for a streaming or unrendered response."""
        return self.canonical is not None

    def __str__(self) -> str:
        if self.canonical is None:
            return f"not hashable: {self.kind}"
        return str(self.hash)


def identity(status: int | None, content_type: str | None, canonical: str | None) -> str | None:
    """``"sha256:<hex>"`` of ``"<status> <content type>\\n<canonical>"``; the body hash alone
    for a payload without a status (a bare body, a Python object)."""
    if canonical is None or status is None:
        return canonical
    text = f"{status} {content_type or ''}\n{canonical}"
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# -- public API ---------------------------------------------------------------


def digest(
    payload: object,
    *,
    ignore: str | Iterable[str] = (),
    ignore_text: str | Iterable[str] = (),
    with_data: bool = False,
) -> PayloadDigest:
    """Hash ``payload``: a response (DRF or Django), a body, or a Python object.

    ``ignore`` adds JSON-path masks to ``PERFAUDIT["PAYLOAD_IGNORE"]``,
    ``ignore_text`` text masks to ``PERFAUDIT["PAYLOAD_IGNORE_TEXT"]``; a
    malformed one raises ``ValueError``. ``with_data`` also hashes a DRF
    response's ``data`` (``PayloadDigest.data``). A streaming or unrendered
    response is reported (``hashable`` is False), never consumed or rendered.
    """
    result = canonicalise(payload, _masks(ignore, ignore_text), with_data=with_data)
    return _digest_of(result)


def snapshot(payload: object, *, with_data: bool = False) -> tuple[PayloadDigest, Snapshot]:
    """The digest and the canonical body of one run, in one pass (compare, audit)."""
    result = canonicalise(payload, _masks((), ()), with_data=with_data)
    found = _digest_of(result)
    body = None if result.body is None else bytes(result.body)
    return found, Snapshot(found.hash, found.status, found.content_type, found.kind, body)


def _digest_of(result: Canonical) -> PayloadDigest:
    if result.body is None:
        canonical = None
    elif result.body_is_raw:
        canonical = result.raw
    else:
        canonical = sha256(result.body)
    return PayloadDigest(
        canonical,
        result.raw,
        result.kind,
        result.note,
        result.masked,
        result.status,
        result.content_type,
        result.data,
    )


def payload_hash(
    payload: object, *, ignore: str | Iterable[str] = (), ignore_text: str | Iterable[str] = ()
) -> str:
    """``digest(payload).hash``; ``ValueError`` if not hashable."""
    result = digest(payload, ignore=ignore, ignore_text=ignore_text)
    if result.hash is None:
        raise ValueError(f"Payload is not hashable: {result.note}")
    return result.hash


def canonical_bytes(
    payload: object, *, ignore: str | Iterable[str] = (), ignore_text: str | Iterable[str] = ()
) -> bytes:
    """The canonical body, the bytes ``PayloadDigest.canonical`` hashes.

    JSON (a JSON response's wire body, a JSON body, a Python object) becomes
    sorted-key, whitespace-free JSON with masks applied. Any other body (HTML,
    CSV, ...) is returned as is, after undoing a gzip or deflate
    ``Content-Encoding`` and applying the text masks. Status and content type
    are not in these bytes; ``PayloadDigest.hash`` adds them.
    """
    result = canonicalise(payload, _masks(ignore, ignore_text))
    if result.body is None:
        raise ValueError(f"Payload is not hashable: {result.note}")
    return bytes(result.body)


def first_difference(
    left: object,
    right: object,
    *,
    ignore: str | Iterable[str] = (),
    ignore_text: str | Iterable[str] = (),
) -> Difference | None:
    """The first place two payloads differ, or ``None`` when their hashes match.

    Takes what :func:`digest` takes and applies the same masks. When both are
    responses, the status code (path ``status``) and the ``Content-Type``
    (path ``content-type``) come first; then the canonical body is walked in
    canonical order (JSON paths of the wire JSON). For non-JSON bodies the
    path is ``$`` and ``offset`` points at the first differing byte.
    """
    masks = _masks(ignore, ignore_text)
    a, b = canonicalise(left, masks), canonicalise(right, masks)
    if a.body is None or b.body is None:
        side, note = ("left", a.note) if a.body is None else ("right", b.note)
        raise ValueError(f"Cannot compare the {side} payload: {note}")
    head: list[Difference] = []
    if a.status is not None and b.status is not None:
        if a.status != b.status:
            head.append(Difference("status", a.status, b.status, 1))
        if a.content_type != b.content_type:
            head.append(Difference("content-type", a.content_type, b.content_type, 1))
    body = _body_difference(a, b)
    found = [*head, body] if body is not None else head
    if not found:
        return None
    first = found[0]
    total = sum(d.count for d in found)
    return Difference(first.path, first.left, first.right, total, first.offset)


def _body_difference(a: Canonical, b: Canonical) -> Difference | None:
    assert a.body is not None
    assert b.body is not None
    if a.body == b.body:
        return None
    if a.kind == b.kind == "json":
        return diff_trees(_encode.loads(a.body), _encode.loads(b.body))
    if a.kind == b.kind == "bytes":
        return diff_bytes(bytes(a.body), bytes(b.body))
    return Difference("$", _summary(a.kind, a.body), _summary(b.kind, b.body), 1)


# -- masks --------------------------------------------------------------------


def _masks(ignore: str | Iterable[str], ignore_text: str | Iterable[str] = ()) -> Masks:
    # A lone string is one pattern, not a sequence of one-character patterns.
    extra = (ignore,) if isinstance(ignore, str) else tuple(ignore)
    patterns = dict.fromkeys((*app_settings.PAYLOAD_IGNORE, *extra))
    extra_text = (ignore_text,) if isinstance(ignore_text, str) else tuple(ignore_text)
    texts = dict.fromkeys((*app_settings.PAYLOAD_IGNORE_TEXT, *extra_text))
    return Masks(
        tuple(compile_pattern(pattern) for pattern in patterns),
        tuple(compile_text_mask(entry) for entry in texts),
    )


# -- helpers ------------------------------------------------------------------


def _summary(kind: Kind, body: Buffer) -> Any:
    if kind == "json":
        return _encode.loads(body)
    return bytes(memoryview(body)[:_EXCERPT])
