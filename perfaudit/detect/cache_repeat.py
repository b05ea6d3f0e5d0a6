"""The same cache key read more than once in one request (``cache_repeat``).

Each read is a round trip to the cache server (or a lock and an unpickle
for the local-memory cache); reading a key twice in one request usually
means two layers of code fetch the same thing. Read it once and pass the
value along.
"""

from __future__ import annotations

from perfaudit.capture import Recording
from perfaudit.capture.events import CacheEvent, key_shape
from perfaudit.detect._common import Evidence, fmt_ms, fmt_site
from perfaudit.detect.finding import Finding

__all__ = ["detect"]


def detect(source: Recording | Evidence) -> list[Finding]:
    evidence = Evidence.of(source)
    events = evidence.recording.cache
    cache_time = sum(e.duration for e in events)
    reads: dict[tuple[str, str], list[CacheEvent]] = {}
    for event in events:
        if event.is_read and event.error is None:
            for key in event.keys:
                reads.setdefault((event.alias, key), []).append(event)
    findings = []
    for (alias, key), group in reads.items():
        if len(group) < 2:
            continue
        total = sum(e.duration / max(len(e.keys), 1) for e in group)
        sites = tuple(dict.fromkeys(e.callsite for e in group if e.callsite is not None))
        shape = key_shape(key)
        where = ", ".join(fmt_site(s) for s in sites[:3]) or "an unknown call site"
        findings.append(
            Finding(
                kind="cache_repeat",
                severity="medium" if len(group) >= 5 else "low",
                fingerprint=f"{alias}:{shape}",
                count=len(group),
                total_duration=total,
                callsite=sites[0] if sites else None,
                sql="",
                suggestion=(
                    f"The cache key `{shape}` ({alias!r} cache) is read {len(group)} times in "
                    f"one request (from {where}; {fmt_ms(total)}); read it once and pass the "
                    f"value along (or keep it on the request object)."
                ),
                share=total / cache_time if cache_time > 0 else 0.0,
                callsites=sites,
            )
        )
    return findings
