"""A :class:`~perfaudit.detect.analysis.Shape` detached from the recording:
plain values only, JSON-ready (what the store keeps and a JSONL line holds).

Parameter values are kept only on request (``keep_params``) and are then made
JSON-ready at once, so a summary keeps no reference to the application's objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson

if TYPE_CHECKING:
    from perfaudit.detect.analysis import Shape

__all__ = ["MAX_CALLSITES", "ORJSON_OPTIONS", "ShapeSummary", "param_default", "summarise_shape"]

#: Call sites kept per shape (a loop usually has one).
MAX_CALLSITES: Final = 5


@dataclass(frozen=True, slots=True)
class ShapeSummary:
    """The queries of one shape (fingerprint, database) within one request.

    ``callsites`` pairs each call site (``str(CallSite)``) with its query
    count, busiest first, at most five. ``sql`` is the statement as executed
    (placeholders, no values) of the slowest execution, ``max_ms`` its time;
    ``params`` are that execution's parameter values, present only when the
    record was built with ``keep_params``. ``param_count`` (``None`` when not captured) lets
    ``report --explain`` run a statement that had no parameters at all.
    """

    fingerprint: str
    kind: str
    alias: str
    count: int
    db_ms: float
    max_ms: float
    callsites: tuple[tuple[str, int], ...]
    sql: str
    params: Any = None
    param_count: int | None = None

    def to_dict(self, *, params: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "fingerprint": self.fingerprint,
            "kind": self.kind,
            "alias": self.alias,
            "count": self.count,
            "db_ms": round(self.db_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "callsites": dict(self.callsites),
            "sql": self.sql,
            "param_count": self.param_count,
        }
        if params:
            data["params"] = self.params
        return data


def summarise_shape(shape: Shape, *, keep_params: bool = False) -> ShapeSummary:
    """``shape`` as plain values; its parameter values only with ``keep_params``."""
    return ShapeSummary(
        fingerprint=shape.fingerprint,
        kind=shape.kind,
        alias=shape.alias,
        count=shape.count,
        db_ms=shape.db_ms,
        max_ms=shape.max_ms,
        callsites=tuple((_site_text(site), n) for site, n in shape.callsites[:MAX_CALLSITES]),
        sql=shape.sql,
        params=_jsonable(shape.params) if keep_params else None,
        param_count=shape.param_count,
    )


def _jsonable(params: Any) -> Any:
    # Round-trip now, so that what the record holds is exactly what the JSONL
    # line will hold, and no reference to the caller's objects survives.
    try:
        return orjson.loads(orjson.dumps(params, default=param_default, option=ORJSON_OPTIONS))
    except orjson.JSONEncodeError:  # e.g. an int beyond 64 bits: leave the values out
        return None


ORJSON_OPTIONS: Final = orjson.OPT_NON_STR_KEYS


def param_default(value: Any) -> Any:
    """JSON for the parameter types orjson does not know.

    Bytes become PostgreSQL's hex ``bytea`` input (``\\x...``) so that
    ``report --explain`` can pass them back; everything else its ``str()``
    (``Decimal``, a lazy string, an enum), which PostgreSQL casts from an
    untyped literal.
    """
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return str(value)


def _site_text(site: Any) -> str:
    from perfaudit.detect.analysis import site_text

    return site_text(site)
