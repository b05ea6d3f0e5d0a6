"""The fingerprint cache: bounded by bytes, keyed by a digest for long statements.

Django repeats identical parametrised SQL, so :func:`perfaudit.sql.shape.analyze`
is cached. An entry-count bound (the ``lru_cache(8192)`` this replaces) lets
a process hold thousands of full statements: 200 distinct 1 MB statements
kept 240 MB alive. Here:

* the bound is in bytes (:data:`MAX_BYTES`, counted with ``sys.getsizeof``
  on each entry's key and strings), the oldest entry going first;
* a statement longer than :data:`DIGEST_OVER` characters is keyed by a
  16-byte BLAKE2b digest of its text, so the cache never holds it.

A hit is one dict lookup, lock-free (it is on the path of every query a
report or a detector reads: under 1 µs, as ``lru_cache`` was). The lock
guards insertion and eviction only. Eviction is oldest-first rather than
least-recently-used: keeping recency would make every hit a write; a hot
statement that is evicted is simply read again once (tens of µs).
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections.abc import Callable
from typing import Any, Final, Generic, NamedTuple, TypeVar

__all__ = ["DIGEST_OVER", "MAX_BYTES", "CacheInfo", "ShapeCache"]

MAX_BYTES: Final = 16 * 1024 * 1024
DIGEST_OVER: Final = 2048
# The dict slot, the key and value objects' headers, the named tuple.
_ENTRY_OVERHEAD: Final = 400


T = TypeVar("T", bound=tuple[Any, ...])


class CacheInfo(NamedTuple):
    misses: int
    entries: int
    bytes: int
    max_bytes: int


def cache_key(sql: str) -> str | bytes:
    """``sql`` itself, or the digest of its text when it is long."""
    if len(sql) <= DIGEST_OVER:
        return sql
    return hashlib.blake2b(sql.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def entry_size(key: str | bytes, value: tuple[Any, ...]) -> int:
    """Bytes an entry keeps alive: its key and every string of the value."""
    size = _ENTRY_OVERHEAD + sys.getsizeof(key)
    stack: list[Any] = list(value)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            size += sys.getsizeof(item)
        elif isinstance(item, tuple):
            size += sys.getsizeof(item)
            stack.extend(item)
    return size


class ShapeCache(Generic[T]):
    """``compute(sql)`` cached under :func:`cache_key`, at most ``max_bytes``.

    ``entries`` is read directly by the caller's fast path (see
    :func:`perfaudit.sql.shape.analyze`); :meth:`miss` computes and stores.
    """

    def __init__(self, compute: Callable[[str], T], max_bytes: int = MAX_BYTES) -> None:
        self._compute = compute
        self.max_bytes = max_bytes
        self.entries: dict[str | bytes, T] = {}
        self._sizes: dict[str | bytes, int] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self.misses = 0

    def __call__(self, sql: str) -> T:
        key = sql if len(sql) <= DIGEST_OVER else cache_key(sql)
        value = self.entries.get(key)
        return value if value is not None else self.miss(sql, key)

    def miss(self, sql: str, key: str | bytes) -> T:
        value = self._compute(sql)
        size = entry_size(key, value)
        with self._lock:
            self.misses += 1
            if size > self.max_bytes or key in self.entries:
                return value  # larger than the whole cache, or stored meanwhile
            self.entries[key] = value
            self._sizes[key] = size
            self._bytes += size
            while self._bytes > self.max_bytes:
                oldest = next(iter(self.entries))
                del self.entries[oldest]
                self._bytes -= self._sizes.pop(oldest)
        return value

    def cache_info(self) -> CacheInfo:
        return CacheInfo(self.misses, len(self.entries), self._bytes, self.max_bytes)

    def cache_clear(self) -> None:
        with self._lock:
            self.entries.clear()
            self._sizes.clear()
            self._bytes = 0
            self.misses = 0
