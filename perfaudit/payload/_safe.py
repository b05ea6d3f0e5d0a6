"""Values from a payload, shortened for text output: a token is never printed whole.

A payload difference is reported in places that outlive the process: CI
logs, pull-request comments, assertion messages pasted into tickets. The
differing value may be a session token, a JWT or an API key, so every text
output of a difference goes through :func:`shorten`:

* a string of up to :data:`SHORT` characters is shown as it is (a title, a
  status, a date);
* a longer string keeps its first and last :data:`KEEP` characters, its
  length and the start of its SHA-256, enough to see *that* and roughly
  *how* two values differ without the value: ``'eyJh…8Q2c' (212 chars,
  sha256:5e1f0a9c)``;
* a byte excerpt of a non-JSON body keeps its markup but shortens each run of
  token-like characters (letters, digits, ``+/=_-.``) longer than
  :data:`SHORT` the same way;
* arrays and objects are written compactly with each member shortened, then
  cut at :data:`LIMIT` characters.

Full values are only ever available as data (``Difference.left``/``right``)
or in JSON output behind an explicit flag (``compare --show-values``).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Final

__all__ = [
    "KEEP",
    "LIMIT",
    "SHORT",
    "full_json",
    "shorten",
    "shorten_json",
    "shorten_pair",
    "shorten_text",
]

SHORT: Final = 20
KEEP: Final = 4
LIMIT: Final = 120

_TOKEN_RUN: Final = re.compile(rf"[A-Za-z0-9+/=_.\-]{{{SHORT + 1},}}")


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def shorten_text(text: str) -> str:
    """``text`` itself when short, else its ends, its length and a hash prefix (no quotes)."""
    if len(text) <= SHORT:
        return text
    return f"{text[:KEEP]}…{text[-KEEP:]} ({len(text)} chars, sha256:{_fingerprint(text)})"


def _string(text: str) -> str:
    if len(text) <= SHORT:
        return repr(text)
    head, tail = repr(text[:KEEP])[1:-1], repr(text[-KEEP:])[1:-1]
    return f"'{head}…{tail}' ({len(text)} chars, sha256:{_fingerprint(text)})"


def _runs(text: str) -> str:
    return _TOKEN_RUN.sub(
        lambda m: f"{m.group()[:KEEP]}…({len(m.group())})…{m.group()[-KEEP:]}", text
    )


def shorten(value: Any) -> str:
    """A safe one-line rendering of one payload value (see the module docs)."""
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "b" + repr(_runs(bytes(value).decode("latin-1")))
    if isinstance(value, dict | list):
        text = _compact(value)
        return text if len(text) <= LIMIT else text[: LIMIT - 1] + "…"
    text = repr(value)
    return text if len(text) <= LIMIT else text[: LIMIT - 1] + "…"


def _compact(value: Any, budget: int = LIMIT) -> str:
    """JSON-like text of a container, members shortened, stopping once ``budget`` is spent."""
    parts: list[str] = []
    used = 0
    if isinstance(value, dict):
        items: Any = ((f"{shorten(key)}: ", item) for key, item in value.items())
        opening, closing = "{", "}"
    else:
        items = (("", item) for item in value)
        opening, closing = "[", "]"
    for prefix, item in items:
        if used > budget:
            parts.append("…")
            break
        text = prefix + (
            _compact(item, budget - used) if isinstance(item, dict | list) else shorten(item)
        )
        parts.append(text)
        used += len(text) + 2
    return opening + ", ".join(parts) + closing


def shorten_pair(left: Any, right: Any, separator: str = " → ") -> str:
    """Two differing values, shortened; for long strings, where they start to differ."""
    text = f"{shorten(left)}{separator}{shorten(right)}"
    if isinstance(left, str) and isinstance(right, str) and max(len(left), len(right)) > SHORT:
        same = 0
        for a, b in zip(left, right, strict=False):
            if a != b:
                break
            same += 1
        text += f" (from character {same + 1})"
    return text


def shorten_json(value: Any) -> Any:
    """A JSON-ready stand-in for ``value``: short strings, numbers, booleans and null
    as they are, anything else as the text :func:`shorten` writes."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return shorten_text(value)
    return shorten(value)


def full_json(value: Any) -> Any:
    """``value`` whole, JSON-ready (bytes as Latin-1 text): only behind an explicit flag."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    if value is None or isinstance(value, bool | int | float | str | dict | list):
        return value
    return repr(value)
