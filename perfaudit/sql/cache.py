"""The fingerprint cache: bounded by bytes, keyed by a digest for long statements.

Django repeats identical parametrised SQL, so :func:`perfaudit.sql.shape.analyze`
is cached. An entry-count bound (the ``lru_cache(8192)`` this replaces) lets
a process hold thousands of full statements: 200 distinct 1 MB statements
kept 240 MB alive. Here:

* the bound is in bytes (:data:`MAX_BYTES`, counted with ``sys.getsizeof``
  on each entry's key and strings), the least recently used entry going first;
* a statement longer than :data:`DIGEST_OVER` characters is keyed by a
  16-byte BLAKE2b digest of its text, so the cache never holds it.

A hit is a ``pop`` and a re-insert into an insertion-ordered dict (recency
without a linked list), lock-free: the lock guards only insertion and
eviction. Concurrent hits and misses on the same key may count an entry's
size twice; that only makes eviction early, and the count is reset whenever
the cache empties.
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
    hits: int
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

    Called like the function it caches; ``cache_info()`` and ``cache_clear()``
    as on a ``functools.lru_cache``.
    """

    def __init__(self, compute: Callable[[str], T], max_bytes: int = MAX_BYTES) -> None:
        self._compute = compute
        self.max_bytes = max_bytes
        self._entries: dict[str | bytes, T] = {}
        self._sizes: dict[str | bytes, int] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __call__(self, sql: str) -> T:
        key = sql if len(sql) <= DIGEST_OVER else cache_key(sql)
        entries = self._entries
        value = entries.pop(key, None)
        if value is not None:
            entries[key] = value  # most recently used: last
            self.hits += 1
            return value
        return self._miss(sql, key)

    def _miss(self, sql: str, key: str | bytes) -> T:
        value = self._compute(sql)
        size = entry_size(key, value)
        with self._lock:
            self.misses += 1
            if size > self.max_bytes:
                return value  # larger than the whole cache: not kept
            if key not in self._entries:
                self._bytes += size - self._sizes.get(key, 0)
                self._sizes[key] = size
            self._entries[key] = value
            self._evict()
        return value

    def _evict(self) -> None:
        entries, sizes = self._entries, self._sizes
        while self._bytes > self.max_bytes and entries:
            oldest = next(iter(entries))
            entries.pop(oldest, None)
            self._bytes -= sizes.pop(oldest, 0)
        if not entries:
            self._bytes = 0
            sizes.clear()

    def cache_info(self) -> CacheInfo:
        return CacheInfo(self.hits, self.misses, len(self._entries), self._bytes, self.max_bytes)

    def cache_clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._sizes.clear()
            self._bytes = 0
            self.hits = self.misses = 0
