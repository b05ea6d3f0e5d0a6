"""Assertions on what a block does besides SQL: outbound HTTP and cache calls.

Framework-neutral (they raise ``AssertionError``), wrapped by the mixin
(``assertNoExternalCalls``, ``assertCacheCallsAtMost``) and the pytest plugin
(``perfaudit.assert_no_external_calls()``, the ``no_external_calls`` and
``max_cache_calls`` markers), like the query assertions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from perfaudit.capture import Recording, record
from perfaudit.text import plural

__unittest = True

__all__ = [
    "assert_cache_calls_at_most",
    "assert_no_external_calls",
    "check_cache_calls_at_most",
    "check_no_external_calls",
]

_LISTED = 10


def check_no_external_calls(recording: Recording) -> None:
    """Fail when ``recording`` made any outbound HTTP request (through urllib3 or httpx)."""
    __tracebackhide__ = True  # failures point at the test, not here
    events = recording.http
    if not events:
        return
    lines = [f"Expected no outbound HTTP requests, made {len(events)}:"]
    for group in recording.analysis.http.groups[:_LISTED]:
        where = f" from {group.callsite}" if group.callsite is not None else ""
        status = ", ".join(str(s) for s in group.statuses) or "no response"
        failed = f", {group.errors} failed" if group.errors else ""
        lines.append(
            f"  {group.count} × {group.method} {group.url}{where} "
            f"({group.duration * 1000:.1f} ms; {status}{failed})"
        )
    lines.append(
        "Move the call to a task or queue, or replace the client in this test; a "
        "synchronous third-party call makes every request wait for it."
    )
    raise AssertionError("\n".join(lines))


def check_cache_calls_at_most(limit: int, recording: Recording, alias: str | None = None) -> None:
    """Fail when ``recording`` made more than ``limit`` cache calls (on ``alias``, or all)."""
    __tracebackhide__ = True  # failures point at the test, not here
    events = [e for e in recording.cache if alias is None or e.alias == alias]
    if len(events) <= limit:
        return
    where = f"the {alias!r} cache" if alias is not None else "all caches"
    lines = [f"Expected at most {plural(limit, 'cache call')} on {where}, made {len(events)}:"]
    for group in recording.analysis.cache.groups:
        if alias is not None and group.alias != alias:
            continue
        site = f" from {group.callsite}" if group.callsite is not None else ""
        lines.append(
            f"  {group.count} × {group.op} {group.key_shape!r} ({group.alias}){site}: "
            f"{plural(group.hits, 'hit')}, {plural(group.misses, 'miss', 'misses')}"
        )
        if len(lines) > _LISTED:
            break
    repeats = [f for f in recording.analysis.findings if f.kind == "cache_repeat"]
    for finding in repeats[:3]:
        lines.append(f"  [cache_repeat] {finding.suggestion}")
    lines.append("Read each key once per request, or raise the limit if the calls are intended.")
    raise AssertionError("\n".join(lines))


@contextlib.contextmanager
def assert_no_external_calls() -> Iterator[Recording]:
    """Context manager: the block makes no outbound HTTP request."""
    __tracebackhide__ = True  # failures point at the test, not here
    with record() as recording:
        yield recording
    check_no_external_calls(recording)


@contextlib.contextmanager
def assert_cache_calls_at_most(limit: int, *, alias: str | None = None) -> Iterator[Recording]:
    """Context manager: the block makes at most ``limit`` cache calls (on ``alias``)."""
    __tracebackhide__ = True  # failures point at the test, not here
    with record() as recording:
        yield recording
    check_cache_calls_at_most(limit, recording, alias)
