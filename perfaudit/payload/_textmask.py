"""Masks for bodies that are not JSON: per-request tokens in HTML and text.

A template page that renders ``{% csrf_token %}`` or a CSP nonce is never
byte-identical twice: Django masks the CSRF token with a fresh salt on every
response. JSON paths cannot address bytes, so these masks are regular
expressions over the (decoded) body; the text each capturing group matched is
replaced by ``<ignored>`` before hashing, the rest of the page still has to be
identical byte for byte.

Two masks are built in, by name:

* ``"csrf"``: the value of ``{% csrf_token %}``'s hidden input
  (``name="csrfmiddlewaretoken" value="..."``, either attribute order) and of
  a ``<meta name="csrf-token" content="...">``;
* ``"nonce"``: every ``nonce="..."`` attribute (CSP nonces).

Any other entry is a regular expression with at least one capturing group,
e.g. ``r'data-request-id="([0-9a-f-]+)"'``. A pattern without a group is an
error: it would say what to look for but not what to blank out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Final

__all__ = ["BUILT_IN", "TextMask", "apply_text_masks", "compile_text_mask"]

_VALUE = rb"""["']([^"'<>\s]+)["']"""

BUILT_IN: Final[dict[str, tuple[bytes, ...]]] = {
    "csrf": (
        rb"name=[\"']csrfmiddlewaretoken[\"'][^>]*?\bvalue=" + _VALUE,
        rb"value=" + _VALUE + rb"[^>]*?\bname=[\"']csrfmiddlewaretoken[\"']",
        rb"<meta[^>]*?name=[\"']csrf-token[\"'][^>]*?\bcontent=" + _VALUE,
    ),
    "nonce": (rb"\bnonce=" + _VALUE,),
}

_IGNORED: Final = b"<ignored>"

TextMask = tuple[re.Pattern[bytes], ...]


@lru_cache(maxsize=256)
def compile_text_mask(entry: str) -> TextMask:
    """One ``PAYLOAD_IGNORE_TEXT`` entry as compiled byte patterns; ``ValueError`` if malformed."""
    if entry in BUILT_IN:
        return tuple(re.compile(pattern, re.IGNORECASE) for pattern in BUILT_IN[entry])
    try:
        pattern = re.compile(entry.encode("utf-8"))
    except re.error as exc:
        raise ValueError(
            f"Invalid text mask {entry!r}: {exc}. Use 'csrf', 'nonce', or a regular "
            "expression whose capturing group is the part to ignore."
        ) from None
    if pattern.groups < 1:
        raise ValueError(
            f"Text mask {entry!r} has no capturing group: put the part to ignore in "
            "parentheses, e.g. r'data-request-id=\"([^\"]+)\"' (or use 'csrf' or 'nonce')."
        )
    return (pattern,)


def apply_text_masks(body: bytes, masks: Iterable[TextMask]) -> tuple[bytes, int]:
    """``body`` with every captured group replaced by ``<ignored>``, and how many were."""
    count = 0
    for compiled in masks:
        for pattern in compiled:
            pieces: list[bytes] = []
            last = 0
            for match in pattern.finditer(body):
                for group in range(1, pattern.groups + 1):
                    start, end = match.span(group)
                    if start < last or start < 0:
                        continue  # an unmatched optional group, or overlapping
                    pieces += (body[last:start], _IGNORED)
                    last = end
                    count += 1
            if pieces:
                pieces.append(body[last:])
                body = b"".join(pieces)
    return body, count
