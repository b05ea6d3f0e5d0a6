"""Payload identity: prove an endpoint returns the same thing after a change.

::

    from perfaudit.payload import digest, first_difference

    before = client.get("/api/books/")  # on main
    after = client.get("/api/books/")  # on the branch with the performance change
    assert digest(after).canonical == digest(before).canonical, first_difference(before, after)

See docs/payload.md for what is normalised, masks, and the streaming, gzip
and unparsable-body rules.
"""

from __future__ import annotations

from perfaudit.payload._diff import MISSING, Difference
from perfaudit.payload._digest import (
    Kind,
    PayloadDigest,
    canonical_bytes,
    digest,
    first_difference,
    payload_hash,
)
from perfaudit.payload._jsonpath import IGNORED

__all__ = [
    "IGNORED",
    "MISSING",
    "Difference",
    "Kind",
    "PayloadDigest",
    "canonical_bytes",
    "digest",
    "first_difference",
    "payload_hash",
]
