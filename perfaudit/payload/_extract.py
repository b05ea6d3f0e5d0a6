"""What to hash, for each kind of payload: the canonical bytes and the raw hash.

A response (DRF or plain Django) is hashed from the body the client
receives: ``response.content`` after rendering and after every middleware
that ran before it was inspected, decoded (``Content-Encoding``), parsed and
re-written canonically when its content type is JSON, else hashed as the
bytes it is (after the optional text masks). Its status code and
``Content-Type`` are kept beside the body, since they are part of what the
client receives. ``response.data`` is only hashed on request, as a second,
explanatory figure. A bare body is JSON when it parses; a Python object is
encoded. Nothing here may harm the response it inspects: a streaming body is
never read, a compressed body is decoded into a new buffer, an unrendered
response is not rendered, the response is left as it was.
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
from perfaudit.payload._textmask import TextMask, apply_text_masks

__all__ = ["Buffer", "Canonical", "Kind", "Masks", "canonicalise", "content_type", "sha256"]

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
    status: int | None = None  # None for a bare body or a Python object
    content_type: str | None = None  # normalised Content-Type header
    data: str | None = None  # hash of a DRF response's ``data``, when asked for


@dataclass(frozen=True, slots=True)
class Masks:
    """JSON-path masks for JSON bodies, text masks for the others."""

    paths: tuple[Pattern, ...] = ()
    text: tuple[TextMask, ...] = ()


def canonicalise(payload: object, masks: Masks, *, with_data: bool = False) -> Canonical:
    """Dispatch on what ``payload`` is: a response, a bare body or a Python object."""
    if isinstance(payload, HttpResponseBase):
        result = _from_response(payload, masks)
        result = replace(result, status=payload.status_code, content_type=content_type(payload))
        if with_data:
            result = replace(result, data=_data_hash(payload, masks))
        return result
    if isinstance(payload, bytes | bytearray | memoryview):
        # A bare body: JSON when it parses as JSON, raw bytes otherwise.
        return _from_body(payload, sha256(payload), masks, json=None, is_raw=True)
    return _from_object(payload, masks, raw=None)


def content_type(response: HttpResponseBase) -> str:
    """The ``Content-Type`` header, normalised: lower-case type, parameters sorted."""
    header = response.headers.get("Content-Type", "")
    if not header:
        return ""
    mime, params = parse_header_parameters(header)
    tail = "".join(f"; {key}={str(value).lower()}" for key, value in sorted(params.items()))
    return mime.lower() + tail


def _from_response(response: HttpResponseBase, masks: Masks) -> Canonical:
    if getattr(response, "streaming", False):
        # Reading streaming_content would consume the iterator the client is
        # about to receive; a FileResponse could be gigabytes. Report instead.
        return Canonical(
            "streaming",
            None,
            None,
            f"not hashable: streaming ({type(response).__name__}); its content was not read",
        )
    if not getattr(response, "is_rendered", True):
        # A DRF Response or a TemplateResponse before render(): there is no
        # wire body yet, and rendering it here could run template code twice.
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


def _data_hash(response: HttpResponseBase, masks: Masks) -> str | None:
    """The canonical hash of a DRF response's ``data``: explains, never decides.

    Equal data hashes under different wire hashes say the renderer, content
    negotiation, an encoder or a middleware made the difference.
    """
    drf_response = _drf_response_class()
    if drf_response is None or not isinstance(response, drf_response):
        return None
    try:
        return sha256(_from_object(response.data, masks, raw=None).body or b"")
    except (TypeError, ValueError, RecursionError):
        return None


class _UnknownCoding(Exception):
    """A Content-Encoding this module cannot undo without an extra package."""


def _from_http(response: HttpResponseBase, masks: Masks) -> Canonical:
    content: bytes = getattr(response, "content", b"")
    raw = sha256(content)
    coding = response.headers.get("Content-Encoding", "").strip().lower()
    body: Buffer = content
    note = None
    if coding and coding != "identity":
        try:
            body = _decode(content, coding)
        except (OSError, EOFError, zlib.error, _UnknownCoding) as exc:
            return _bytes(content, raw, masks, str(exc), is_raw=True)
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


def _bytes(body: Buffer, raw: str, masks: Masks, note: str | None, *, is_raw: bool) -> Canonical:
    """A non-JSON body: its bytes, after the text masks (if any matched)."""
    if masks.text:
        masked_body, count = apply_text_masks(bytes(body), masks.text)
        if count:
            return Canonical("bytes", masked_body, raw, note, masked=count)
    return Canonical("bytes", body, raw, note, body_is_raw=is_raw)


def _from_body(
    body: Buffer,
    raw: str,
    masks: Masks,
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
        return _bytes(body, raw, masks, None, is_raw=is_raw)
    if not body:
        return Canonical("bytes", body, raw, "empty body", body_is_raw=is_raw)
    try:
        text: Buffer | str = body
        if charset and charset.lower().replace("-", "") not in ("utf8", "usascii", "ascii"):
            text = bytes(body).decode(charset)
        tree = _encode.loads(text)
    except (orjson.JSONDecodeError, UnicodeDecodeError, LookupError) as exc:
        why = "body is not valid JSON" if json else "not JSON"
        return _bytes(body, raw, masks, f"{why} ({exc}); hashed as raw bytes", is_raw=is_raw)
    try:
        tree, masked = _masked(tree, masks.paths)
        # A parsed tree holds only JSON types: no ``default`` hook, no
        # non-string keys, no datetimes, so the plain sort is enough.
        canonical = orjson.dumps(tree, option=orjson.OPT_SORT_KEYS)
    except (TypeError, RecursionError) as exc:
        # orjson parses deeper nesting (1024 levels) than it writes (254).
        return _bytes(
            body, raw, masks, f"cannot canonicalise ({exc}); hashed as raw bytes", is_raw=is_raw
        )
    return Canonical("json", canonical, raw, masked=masked)


def _from_object(
    data: Any, masks: Masks, *, raw: str | None, note: str | None = None
) -> Canonical:
    data, masked = _masked(data, masks.paths)
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
