"""Canonical JSON bytes: orjson with sorted keys, values rendered as DRF renders them.

Two payloads that carry the same data must give the same bytes whatever the
key order, the whitespace or the Python types that produced them. The rules
are those of ``rest_framework.utils.encoders.JSONEncoder`` (what
``JSONRenderer`` puts on the wire), so hashing ``response.data`` and hashing
the rendered body agree:

* ``datetime``: ISO 8601, microseconds kept when non-zero, a zero UTC offset
  written ``Z`` (orjson does this natively with ``OPT_UTC_Z``);
* ``date`` / ``time``: ``isoformat()``; ``UUID``: ``str()`` (native too);
* ``Decimal``: ``float(value)``, which is what DRF's encoder writes. Fields of a
  serializer already hold strings (``COERCE_DECIMAL_TO_STRING``), and stay
  strings. Rendering a bare ``Decimal`` as a string instead would hide a real
  change on the wire, e.g. a ``DecimalField`` switched to
  ``coerce_to_string=False`` (``"1.50"`` became ``1.5``);
* ``timedelta``: ``str(total_seconds())``; lazy strings, IP addresses: ``str``;
  ``bytes``: decoded; query sets, generators, numpy values: as lists.

Only types orjson cannot serialise reach the Python ``default`` hook; the rest
(dicts, lists, strings, numbers, datetimes, UUIDs) stay in C. That is what
makes hashing a multi-megabyte ``response.data`` cheap.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import ipaddress
from typing import Any, Final

import orjson
from django.db.models.query import QuerySet
from django.utils.encoding import force_str
from django.utils.functional import Promise

__all__ = ["OPTIONS", "default", "dumps", "key_text", "loads"]

OPTIONS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z

_IP_TYPES: Final = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
)
_INT64_MIN: Final = -(2**63)
_UINT64_MAX: Final = 2**64 - 1


def default(obj: Any) -> Any:
    """The part of DRF's ``JSONEncoder.default`` orjson does not already do."""
    # Decimal first: it is by far the most common type that gets here.
    if isinstance(obj, decimal.Decimal):
        return float(obj)
    if isinstance(obj, Promise):
        return force_str(obj)
    if isinstance(obj, datetime.timedelta):
        return str(obj.total_seconds())
    if isinstance(obj, datetime.date | datetime.time):
        # Only subclasses orjson passes through get here; same text as DRF.
        text = obj.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(obj, _IP_TYPES):
        return str(obj)
    if isinstance(obj, QuerySet):
        # Before the __getitem__ rule: dict(queryset) would "work" on a
        # values() query set and produce nonsense.
        return tuple(obj)
    if isinstance(obj, bytes):
        return obj.decode()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "__getitem__"):
        cls = list if isinstance(obj, list | tuple) else dict
        # DRF's rule: if it does not convert, try the next representation.
        with contextlib.suppress(Exception):
            return cls(obj)
    if hasattr(obj, "__iter__"):
        return tuple(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable: {obj!r:.80}")


def dumps(obj: Any) -> bytes:
    """Canonical JSON bytes for a Python value (sorted keys, no whitespace)."""
    try:
        return orjson.dumps(obj, default=default, option=OPTIONS)
    except orjson.JSONEncodeError as exc:
        # orjson refuses integers outside 64 bits, which Python and DRF accept.
        # Rare, so the slow path (a Python walk) only runs after a failure.
        if "64-bit" not in str(exc):
            raise
    return orjson.dumps(_big_ints_as_fragments(obj), default=default, option=OPTIONS)


def _big_ints_as_fragments(obj: Any) -> Any:
    if isinstance(obj, int) and not isinstance(obj, bool):
        if _INT64_MIN <= obj <= _UINT64_MAX:
            return obj
        return orjson.Fragment(str(obj).encode())
    if isinstance(obj, dict):
        return {key: _big_ints_as_fragments(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_big_ints_as_fragments(value) for value in obj]
    return obj


def loads(body: bytes | bytearray | memoryview | str) -> Any:
    """Parse a JSON document (orjson: no copy of ``bytes`` input)."""
    return orjson.loads(body)


def key_text(key: Any) -> str:
    """The JSON text orjson writes for a non-string dict key (``1`` → ``'1'``)."""
    try:
        encoded = orjson.dumps({key: None}, default=default, option=OPTIONS)
    except TypeError:
        return ""
    text: str = next(iter(orjson.loads(encoded)))
    return text
