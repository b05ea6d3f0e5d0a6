"""What to hash, for each kind of payload: the canonical bytes and the raw hash.

A Python object or a DRF ``Response``'s ``data`` is encoded; a Django
response's body is decoded (``Content-Encoding``), then parsed when its
content type is JSON; anything else is hashed as the bytes it is. Nothing here
may harm the response it inspects: a streaming body is never read, a
compressed body is decoded into a new buffer, the response is left as it was.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import zlib
from dataclasses import dataclass, replace
from typing import Any, Literal

import orjson
from django.http.response import HttpResponseBase
from django.utils.http import parse_header_parameters

from perfaudit.payload import _encode
from perfaudit.payload._jsonpath import Pattern
from perfaudit.payload._masks import apply_mask

__all__ = ["Buffer", "Canonical", "Kind", "canonicalise", "sha256"]

Kind = Literal["json", "bytes", "streaming", "unrendered"]
Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class Canonical:
    """What one payload hashes to, before hashing: the bytes and how they were obtained."""

    kind: Kind
    body: Buffer | None  # canonical JSON, or the decoded body for kind "bytes"
    raw: str | None
    note: str | None = None
    masked: int = 0
    body_is_raw: bool = False  # body is exactly what ``raw`` hashed: hash it once


def canonicalise(payload: object, masks: tuple[Pattern, ...]) -> Canonical:
    """Dispatch on what ``payload`` is: a response, a bare body or a Python object."""
    if isinstance(payload, HttpResponseBase):
        return _from_response(payload, masks)
    if isinstance(payload, bytes | bytearray | memoryview):
        # A bare body: JSON when it parses as JSON, raw bytes otherwise.
        return _from_body(payload, sha256(payload), masks, json=None, is_raw=True)
    return _from_object(payload, masks, raw=None)


def _from_response(response: HttpResponseBase, masks: tuple[Pattern, ...]) -> Canonical:
    if getattr(response, "streaming", False):
        # Reading streaming_content would consume the iterator the client is
        # about to receive; a FileResponse could be gigabytes. Report instead.
        return Canonical(
            "streaming",
            None,
            None,
            f"not hashable: streaming ({type(response).__name__}); its content was not read",
        )
    rendered = bool(getattr(response, "is_rendered", True))
    drf_response = _drf_response_class()
    if drf_response is not None and isinstance(response, drf_response):
        return _from_drf(response, masks, rendered=rendered)
    if not rendered:
        return Canonical(
            "unrendered",
            None,
            None,
            f"not hashable: {type(response).__name__} not rendered yet; "
            "hash it after render() (the test client returns rendered responses)",
        )
    return _from_http(response, masks)


def _drf_response_class() -> type[Any] | None:
    # If DRF was never imported, no object can be one of its responses:
    # checking sys.modules keeps `import perfaudit` free of DRF.
    module = sys.modules.get("rest_framework.response")
    return getattr(module, "Response", None)


def _from_drf(response: Any, masks: tuple[Pattern, ...], *, rendered: bool) -> Canonical:
    raw = sha256(response.content) if rendered else None
    note = None if rendered else "response not rendered yet: no raw hash"
    try:
        return _from_object(response.data, masks, raw=raw, note=note)
    except (TypeError, ValueError) as exc:
        if not rendered:
            raise TypeError(f"response.data is not JSON serialisable: {exc}") from exc
        why = f"response.data is not JSON serialisable ({exc}); hashed the rendered body"
    fallback = _from_http(response, masks)
    return replace(fallback, note=why if fallback.note is None else f"{why}; {fallback.note}")


class _UnknownCoding(Exception):
    """A Content-Encoding this module cannot undo without an extra package."""


def _from_http(response: HttpResponseBase, masks: tuple[Pattern, ...]) -> Canonical:
    content: bytes = getattr(response, "content", b"")
    raw = sha256(content)
    coding = response.headers.get("Content-Encoding", "").strip().lower()
    body: Buffer = content
    note = None
    if coding and coding != "identity":
        try:
            body = _decode(content, coding)
        except (OSError, EOFError, zlib.error, _UnknownCoding) as exc:
            return Canonical("bytes", content, raw, str(exc), body_is_raw=True)
        note = f"Content-Encoding {coding} decoded before hashing"
    mime, params = parse_header_parameters(response.headers.get("Content-Type", ""))
    is_json = mime == "application/json" or mime.endswith("+json")
    result = _from_body(
        body, raw, masks, json=is_json, charset=params.get("charset"), is_raw=body is content
    )
    if note is not None:
        result = replace(result, note=note if result.note is None else f"{note}; {result.note}")
    return result


def _decode(content: bytes, coding: str) -> bytes:
    """Undo a Content-Encoding; the raw hash stays over the wire bytes."""
    if coding in ("gzip", "x-gzip"):
        # GzipFile handles multi-member bodies; BytesIO over bytes does not copy.
        with gzip.GzipFile(fileobj=io.BytesIO(content)) as stream:
            return stream.read()
    if coding == "deflate":
        # "deflate" is zlib-wrapped by the RFC, bare deflate in practice: accept both.
        wbits = zlib.MAX_WBITS if content[:1] == b"\x78" else -zlib.MAX_WBITS
        return zlib.decompress(content, wbits)
    raise _UnknownCoding(
        f"Content-Encoding {coding!r} is not decoded (gzip and deflate are); "
        "hashed the encoded bytes"
    )


def _from_body(
    body: Buffer,
    raw: str,
    masks: tuple[Pattern, ...],
    *,
    json: bool | None,
    is_raw: bool,
    charset: str | None = None,
) -> Canonical:
    """``json``: True for a JSON content type, None to guess, False for other bodies.

    ``is_raw`` says ``body`` is the very buffer ``raw`` hashes (not decoded),
    so a non-JSON body is hashed once, not twice.
    """
    if json is False:
        return Canonical("bytes", body, raw, body_is_raw=is_raw)
    if not body:
        return Canonical("bytes", body, raw, "empty body", body_is_raw=is_raw)
    try:
        text: Buffer | str = body
        if charset and charset.lower().replace("-", "") not in ("utf8", "usascii", "ascii"):
            text = bytes(body).decode(charset)
        tree = _encode.loads(text)
    except (orjson.JSONDecodeError, UnicodeDecodeError, LookupError) as exc:
        why = "body is not valid JSON" if json else "not JSON"
        return Canonical(
            "bytes", body, raw, f"{why} ({exc}); hashed as raw bytes", body_is_raw=is_raw
        )
    try:
        tree, masked = _masked(tree, masks)
        canonical = _encode.dumps(tree)
    except (TypeError, RecursionError) as exc:
        # orjson parses deeper nesting (1024 levels) than it writes (254).
        return Canonical(
            "bytes",
            body,
            raw,
            f"cannot canonicalise ({exc}); hashed as raw bytes",
            body_is_raw=is_raw,
        )
    return Canonical("json", canonical, raw, masked=masked)


def _from_object(
    data: Any, masks: tuple[Pattern, ...], *, raw: str | None, note: str | None = None
) -> Canonical:
    data, masked = _masked(data, masks)
    return Canonical("json", _encode.dumps(data), raw, note, masked)


def _masked(data: Any, masks: tuple[Pattern, ...]) -> tuple[Any, int]:
    total = 0
    for pattern in masks:
        data, count = apply_mask(data, pattern)
        total += count
    return data, total


def sha256(data: Buffer) -> str:
    # hashlib reads bytes and memoryviews in place: no copy of a large body.
    return "sha256:" + hashlib.sha256(data).hexdigest()
