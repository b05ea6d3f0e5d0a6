"""Where a request's time goes besides SQL: cache, outbound HTTP, CPU.

The figures :class:`~perfaudit.detect.analysis.Analysis` exposes as
``analysis.cache``, ``analysis.http`` and ``analysis.cpu_ms``, computed once
from ``recording.cache`` / ``recording.http`` / ``recording.cpu_time``, and
:func:`stretches`, which splits a recording's cache and HTTP events into the
same per-request units as its queries (so the detectors judge each request
on its own).

Privacy: the JSON forms show a cache key's shape (``user:#:profile``) and an
HTTP target as recorded (scheme, host, port unless ``CAPTURE_HTTP_URLS``);
raw keys appear only with ``DEBUG`` on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from perfaudit.capture.events import CacheEvent, HttpEvent

if TYPE_CHECKING:
    from perfaudit.capture.types import CallSite, Recording

__all__ = ["CacheGroup", "CacheSplit", "HttpGroup", "HttpSplit", "Stretch", "stretches"]


def _site(site: CallSite | None) -> str | None:
    return f"{site.short_filename}:{site.lineno}" if site is not None else None


def _show_keys() -> bool:
    try:
        from django.conf import settings

        return bool(settings.DEBUG)
    except Exception:  # settings not configured: a hand-built recording
        return False


@dataclass(frozen=True, slots=True)
class CacheGroup:
    """The calls of one (alias, operation, key shape), in a request or recording."""

    alias: str
    op: str
    key_shape: str
    count: int
    hits: int
    misses: int
    errors: int
    duration: float
    callsite: CallSite | None
    keys: tuple[str, ...]

    def to_dict(self, *, keys: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "alias": self.alias,
            "op": self.op,
            "key": self.key_shape,
            "count": self.count,
            "hits": self.hits,
            "misses": self.misses,
            "errors": self.errors,
            "ms": round(self.duration * 1000.0, 3),
            "callsite": _site(self.callsite),
        }
        if keys:
            data["keys"] = list(self.keys[:10])
        return data


@dataclass(frozen=True, slots=True)
class CacheSplit:
    """Cache calls: how many, hits and misses (of the keys reads asked for), time."""

    calls: int
    hits: int
    misses: int
    errors: int
    duration: float
    groups: tuple[CacheGroup, ...]

    @property
    def ms(self) -> float:
        return self.duration * 1000.0

    @classmethod
    def of(cls, events: Sequence[CacheEvent]) -> CacheSplit:
        buckets: dict[tuple[str, str, str], list[CacheEvent]] = {}
        for event in events:
            buckets.setdefault((event.alias, event.op, event.key_shape), []).append(event)
        groups = [
            CacheGroup(
                alias,
                op,
                shape,
                len(group),
                sum(e.hits for e in group),
                sum(e.misses for e in group),
                sum(1 for e in group if e.error is not None),
                sum(e.duration for e in group),
                next((e.callsite for e in group if e.callsite is not None), None),
                tuple(dict.fromkeys(k for e in group for k in e.keys)),
            )
            for (alias, op, shape), group in buckets.items()
        ]
        groups.sort(key=lambda g: (-g.duration, -g.count, g.alias, g.op, g.key_shape))
        return cls(
            calls=len(events),
            hits=sum(e.hits for e in events),
            misses=sum(e.misses for e in events),
            errors=sum(1 for e in events if e.error is not None),
            duration=sum(e.duration for e in events),
            groups=tuple(groups),
        )

    def describe(self) -> str:
        """``"3 calls, 1 hit"``: the ``Server-Timing`` description."""
        calls = f"{self.calls} call" + ("" if self.calls == 1 else "s")
        hits = f"{self.hits} hit" + ("" if self.hits == 1 else "s")
        return f"{calls}, {hits}"

    def to_dict(self) -> dict[str, Any]:
        keys = _show_keys()
        return {
            "calls": self.calls,
            "hits": self.hits,
            "misses": self.misses,
            "errors": self.errors,
            "ms": round(self.ms, 3),
            "groups": [group.to_dict(keys=keys) for group in self.groups],
        }


@dataclass(frozen=True, slots=True)
class HttpGroup:
    """The outbound requests of one (client, method, target)."""

    client: str
    method: str
    url: str
    count: int
    errors: int
    duration: float
    statuses: tuple[int, ...]
    callsite: CallSite | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "method": self.method,
            "url": self.url,
            "count": self.count,
            "errors": self.errors,
            "ms": round(self.duration * 1000.0, 3),
            "statuses": list(self.statuses),
            "callsite": _site(self.callsite),
        }


@dataclass(frozen=True, slots=True)
class HttpSplit:
    """Outbound HTTP: how many requests, how many failed, time until headers."""

    calls: int
    errors: int
    duration: float
    groups: tuple[HttpGroup, ...]

    @property
    def ms(self) -> float:
        return self.duration * 1000.0

    @classmethod
    def of(cls, events: Sequence[HttpEvent]) -> HttpSplit:
        buckets: dict[tuple[str, str, str], list[HttpEvent]] = {}
        for event in events:
            buckets.setdefault((event.client, event.method, event.url), []).append(event)
        groups = [
            HttpGroup(
                client,
                method,
                url,
                len(group),
                sum(1 for e in group if e.error is not None),
                sum(e.duration for e in group),
                tuple(sorted({e.status for e in group if e.status is not None})),
                next((e.callsite for e in group if e.callsite is not None), None),
            )
            for (client, method, url), group in buckets.items()
        ]
        groups.sort(key=lambda g: (-g.duration, -g.count, g.url, g.method))
        return cls(
            calls=len(events),
            errors=sum(1 for e in events if e.error is not None),
            duration=sum(e.duration for e in events),
            groups=tuple(groups),
        )

    def describe(self) -> str:
        """``"1 call"``: the ``Server-Timing`` description."""
        text = f"{self.calls} call" + ("" if self.calls == 1 else "s")
        return text + (f", {self.errors} failed" if self.errors else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "errors": self.errors,
            "ms": round(self.ms, 3),
            "groups": [group.to_dict() for group in self.groups],
        }


class Stretch(NamedTuple):
    """One request of a recording (or the code between requests): index ranges
    into its queries, cache events and HTTP events, and its wall time when known."""

    label: str | None
    queries: slice
    cache: slice
    http: slice
    duration: float | None

    def empty(self) -> bool:
        return all(s.stop <= s.start for s in (self.queries, self.cache, self.http))


def stretches(recording: Recording) -> list[Stretch]:
    """The requests inside ``recording`` and the stretches between them, in order.

    Query positions come from the request spans; cache and HTTP positions
    from the marks the recording took at the same boundaries. A hand-built
    recording without marks keeps its side events in the last stretch.
    """
    spans = recording.requests
    marks = recording._marks
    n_cache, n_http = len(recording.cache), len(recording.http)
    size = len(recording.queries)
    end_mark: tuple[int, int, float | None] = (n_cache, n_http, None)
    have_marks = len(marks) >= 2 * len(spans) - 1

    def mark(i: int) -> tuple[int, int, float | None]:
        if not have_marks:
            return (0, 0, None)
        return marks[i] if i < len(marks) else end_mark

    result: list[Stretch] = []
    position, c_pos, h_pos = 0, 0, 0
    for k, (label, start, stop) in enumerate(spans):
        opened, closed = mark(2 * k), mark(2 * k + 1)
        start, stop = max(start, position), min(stop, size)
        before = Stretch(
            None,
            slice(position, start),
            slice(c_pos, opened[0]),
            slice(h_pos, opened[1]),
            None,
        )
        if not before.empty():
            result.append(before)
        wall = closed[2] - opened[2] if opened[2] is not None and closed[2] is not None else None
        result.append(
            Stretch(
                label,
                slice(start, stop),
                slice(opened[0], closed[0]),
                slice(opened[1], closed[1]),
                wall,
            )
        )
        position, c_pos, h_pos = stop, closed[0], closed[1]
    last = Stretch(None, slice(position, size), slice(c_pos, n_cache), slice(h_pos, n_http), None)
    if not last.empty() or not result:
        result.append(last)
    return result
