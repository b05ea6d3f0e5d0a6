"""Payload identity: prove an endpoint still sends the client the same thing.

::

    from perfaudit.payload import digest, first_difference

    before = client.get("/api/books/")  # on main
    after = client.get("/api/books/")  # on the branch with the performance change
    assert digest(after).hash == digest(before).hash, first_difference(before, after)

What is hashed is the response as sent: status, ``Content-Type`` and the body
after rendering and middlewares, decoded and canonicalised. See
docs/payload.md for what is normalised, masks, and the streaming, gzip and
unparsable-body rules.
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
    snapshot,
)
from perfaudit.payload._jsonpath import IGNORED
from perfaudit.payload._safe import full_json, shorten, shorten_json, shorten_pair
from perfaudit.payload._volatile import (
    Change,
    PayloadVerdict,
    Snapshot,
    judge,
    volatile_keys,
    volatile_paths,
)

__all__ = [
    "IGNORED",
    "MISSING",
    "Change",
    "Difference",
    "Kind",
    "PayloadDigest",
    "PayloadVerdict",
    "Snapshot",
    "canonical_bytes",
    "digest",
    "first_difference",
    "full_json",
    "judge",
    "payload_hash",
    "shorten",
    "shorten_json",
    "shorten_pair",
    "snapshot",
    "volatile_keys",
    "volatile_paths",
]
