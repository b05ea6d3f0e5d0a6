"""What a request does besides SQL: :class:`CacheEvent` and :class:`HttpEvent`.

Like queries, they are appended on the hot path as raw tuples (by
:mod:`perfaudit.capture.cache` and :mod:`perfaudit.capture.http`) and built
into these dataclasses only when someone reads ``Recording.cache`` or
``Recording.http``.

What never leaves the process: a cache key is kept as the application passed
it (the ``cache_repeat`` detector compares keys), but every output shows
:attr:`CacheEvent.key_shape` (digits and hashes folded) unless ``DEBUG`` is
on; an outbound URL is recorded as scheme, host and port only, unless
``PERFAUDIT["CAPTURE_HTTP_URLS"]`` asks for the path and query string too.
Headers and bodies are never recorded.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from perfaudit.capture.types import CallSite

__all__ = ["CACHE_READS", "CacheEvent", "HttpEvent", "SideEvents", "key_shape"]

#: Cache operations that read a value (the ones ``hit``/``misses`` describe).
CACHE_READS: Final = frozenset({"get", "get_many", "get_or_set", "has_key"})

# (alias, op, key or keys, hits, misses, start, end, error type, site info)
_RawCache = tuple[str, str, Any, int, int, float, float, "type[BaseException] | None", Any]
# (client, method, url, status, start, end, error type, site info)
_RawHttp = tuple[str, str, str, "int | None", float, float, "type[BaseException] | None", Any]

_KEY_LIMIT: Final = 80
# A hex run of 8+ characters holding a digit (a hash, a uuid part, a token), then digits.
_HASH: Final = re.compile(r"(?i)\b(?=[0-9a-f-]*\d)[0-9a-f]{8,}(?:-[0-9a-f]{4,})*\b")
_DIGITS: Final = re.compile(r"\d+")


@functools.lru_cache(maxsize=4096)
def key_shape(key: str) -> str:
    """``"user:42:profile"`` → ``"user:#:profile"``; hashes become ``<hash>``.

    What outputs show instead of a key: keys often embed user ids, emails'
    hashes or session tokens.
    """
    shape = _DIGITS.sub("#", _HASH.sub("<hash>", key))
    return shape if len(shape) <= _KEY_LIMIT else shape[: _KEY_LIMIT - 1] + "…"


@dataclass(slots=True)
class CacheEvent:
    """One call on a Django cache (treat it as read-only).

    ``op`` is the method name without the ``a`` of its async twin (``aget`` is
    recorded as ``get``). ``key`` is the key as passed, a tuple of keys for
    ``get_many``/``set_many``/``delete_many``, ``None`` for ``clear``; outputs
    use :attr:`key_shape`. ``hits``/``misses`` count the keys a read found and
    did not find (both 0 for writes). ``error`` is the dotted exception class
    when the call raised (a cache server down); the exception propagated.
    """

    alias: str
    op: str
    key: Any
    hits: int = 0
    misses: int = 0
    duration: float = 0.0
    callsite: CallSite | None = None
    error: str | None = None
    started_at: float = 0.0

    @property
    def duration_ms(self) -> float:
        return self.duration * 1000.0

    @property
    def is_read(self) -> bool:
        return self.op in CACHE_READS

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys as strings (one for single-key calls, none for ``clear``)."""
        if self.key is None:
            return ()
        if isinstance(self.key, tuple):
            return tuple(str(k) for k in self.key)
        return (str(self.key),)

    @property
    def key_shape(self) -> str:
        """The key (or the first of several, with their count) with values folded."""
        keys = self.keys
        if not keys:
            return ""
        first = key_shape(keys[0])
        return first if len(keys) == 1 else f"{first} (+{len(keys) - 1})"


@dataclass(slots=True)
class HttpEvent:
    """One outbound HTTP request (treat it as read-only).

    ``client`` is ``"urllib3"`` (and so ``requests``), ``"httpx"`` or
    ``"httpx-async"`` (``AsyncClient``: awaited, not blocking the thread). ``url``
    is ``scheme://host:port`` unless ``CAPTURE_HTTP_URLS`` is on (then path
    and query string too). ``status`` is ``None`` when the call raised
    (``error`` names the exception, which propagated). ``duration`` runs
    until the response headers arrived: the body is read after the transport
    returns and is not included.
    """

    client: str
    method: str
    url: str
    status: int | None = None
    duration: float = 0.0
    callsite: CallSite | None = None
    error: str | None = None
    started_at: float = 0.0

    @property
    def duration_ms(self) -> float:
        return self.duration * 1000.0

    @property
    def host(self) -> str:
        """``scheme://host:port``, whatever ``url`` holds."""
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}"


def _error_name(error: type[BaseException] | None) -> str | None:
    return f"{error.__module__}.{error.__qualname__}" if error is not None else None


def _since(start: float, t0: float) -> float:
    return start - t0 if t0 else 0.0


def materialise_cache(raw: _RawCache, t0: float, site: Any) -> CacheEvent:
    alias, op, key, hits, misses, start, end, error, _info = raw
    return CacheEvent(
        alias, op, key, hits, misses, end - start, site, _error_name(error), _since(start, t0)
    )


def materialise_http(raw: _RawHttp, t0: float, site: Any) -> HttpEvent:
    client, method, url, status, start, end, error, _info = raw
    return HttpEvent(
        client, method, url, status, end - start, site, _error_name(error), _since(start, t0)
    )


class SideEvents:
    """What :class:`~perfaudit.capture.Recording` holds beside its queries.

    The raw lists are filled on the hot path by :mod:`perfaudit.capture.cache`
    and :mod:`perfaudit.capture.http`; the events are built on first read.
    """

    _cache_events: list[CacheEvent]
    _http_events: list[HttpEvent]
    _cache_raw: list[_RawCache]
    _http_raw: list[_RawHttp]
    _cpu: float | None
    _t0: float

    @property
    def cache(self) -> list[CacheEvent]:
        """The Django cache calls of the block, in order (see :class:`CacheEvent`)."""
        return _pending(self._cache_events, self._cache_raw, self._t0, materialise_cache)

    @property
    def http(self) -> list[HttpEvent]:
        """The outbound HTTP requests of the block, in order (see :class:`HttpEvent`)."""
        return _pending(self._http_events, self._http_raw, self._t0, materialise_http)

    @property
    def cpu_time(self) -> float | None:
        """CPU seconds of the recording thread during the block.

        ``None`` while it runs, when it ran on an event loop (an async view:
        the loop's thread also runs other tasks, and ``sync_to_async`` work
        runs on another thread), or when it ended on another thread.
        """
        return self._cpu


def _pending(
    events: list[Any], raw: list[Any], t0: float, build: Callable[[Any, float, Any], Any]
) -> list[Any]:
    """Build the side events appended since the last read (call sites resolved here)."""
    from perfaudit.capture.types import _callsite

    for i in range(len(events), len(raw)):
        info = raw[i][-1]
        code, offset = (info[0], info[1]) if info is not None else (None, 0)
        events.append(build(raw[i], t0, _callsite(code, offset)[0] if code is not None else None))
    return events
