"""A cache miss whose refill is most of the request's DB time (``cache_miss_db``).

The pattern: ``get`` misses, queries compute the value, ``set`` stores it
(or ``get_or_set`` runs its value function). When those queries are most of
the request's DB time, the cache hides an expensive computation: when the
key expires, every request arriving before the refill finishes misses too
and runs the same queries at once (a stampede).

The refill is read from the timeline: the queries that ran between the
miss and the next write of the same key, or during a ``get_or_set`` that
had to compute its value.
"""

from __future__ import annotations

from perfaudit.capture import Recording
from perfaudit.capture.events import CacheEvent, key_shape
from perfaudit.detect._common import Evidence, fmt_ms, fmt_share, fmt_site
from perfaudit.detect.finding import Finding

__all__ = ["detect"]

# The refill "dominates" from this share of the request's DB time on.
DOMINANT_SHARE = 0.5
_WRITES = frozenset({"set", "add", "set_many", "get_or_set"})


def _refill_window(events: list[CacheEvent], i: int) -> tuple[float, float] | None:
    """(from, to) in recording seconds of the queries that refilled miss ``i``."""
    miss = events[i]
    end = miss.started_at + miss.duration
    if miss.op == "get_or_set":
        return miss.started_at, end
    for later in events[i + 1 :]:
        if later.alias == miss.alias and later.op in _WRITES and set(later.keys) & set(miss.keys):
            return end, later.started_at
    return None


def detect(source: Recording | Evidence) -> list[Finding]:
    evidence = Evidence.of(source)
    events = evidence.recording.cache
    queries = evidence.events
    if evidence.db_time <= 0 or not events:
        return []
    findings = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for i, event in enumerate(events):
        if not event.is_read or event.misses == 0 or event.error is not None:
            continue
        if (event.alias, event.keys) in seen:
            continue
        window = _refill_window(events, i)
        if window is None:
            continue
        low, high = window
        filled = [
            j
            for j, q in enumerate(queries)
            if low <= q.started_at and q.started_at + q.duration <= high
        ]
        total = evidence.total(filled)
        share = evidence.share(total)
        if not filled or share < DOMINANT_SHARE:
            continue
        seen.add((event.alias, event.keys))
        slowest = max(filled, key=lambda j: queries[j].duration)
        shape = key_shape(event.keys[0]) if event.keys else ""
        findings.append(
            Finding(
                kind="cache_miss_db",
                severity="high" if share >= 0.8 else "medium",
                fingerprint=f"{event.alias}:{shape}",
                count=len(filled),
                total_duration=total,
                callsite=event.callsite,
                sql=queries[slowest].sql,
                suggestion=(
                    f"A miss on the cache key `{shape}` at {fmt_site(event.callsite)} was "
                    f"refilled by {len(filled)} quer{'y' if len(filled) == 1 else 'ies'} "
                    f"({fmt_ms(total)}, {fmt_share(share)}): when it expires, every request "
                    f"arriving before the refill ends runs them too (a stampede). Refresh it "
                    f"ahead of expiry (a task, or a soft timeout stored with the value), or let "
                    f"one request refill it behind a lock (`cache.add` of a lock key)."
                ),
                share=share,
                callsites=evidence.sites(filled),
            )
        )
    return findings
