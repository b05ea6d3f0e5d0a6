"""Synchronous outbound HTTP inside a request (``external_call``).

A request that waits on a third-party API pays that API's latency on every
call: the case study's "synchronous third-party calls on the request path"
wall. perfaudit cannot know whether the call may move, so the finding names
the call, its share of the request's wall time and where it is made, and
says how to prove a change safe.
"""

from __future__ import annotations

from perfaudit.capture import Recording
from perfaudit.capture.events import HttpEvent
from perfaudit.detect._common import Evidence, fmt_ms, fmt_site
from perfaudit.detect.finding import Finding

__all__ = ["detect"]

# Share of the request's wall time from which the calls are the main cost.
_HIGH_SHARE = 0.25


def _without_port(origin: str) -> str:
    """``http://127.0.0.1:8123`` → ``http://127.0.0.1``: the finding's identity.

    A service reached on a port chosen at start-up (a local stand-in, a
    sidecar) must be the same finding in two runs, or ``compare`` would call
    it removed and added again.
    """
    head, _, port = origin.rpartition(":")
    return head if port.isdigit() and "://" in head else origin


def detect(source: Recording | Evidence) -> list[Finding]:
    evidence = Evidence.of(source)
    if evidence.outside_requests:
        return []  # a test body's own calls between requests are not a request's
    recording = evidence.recording
    groups: dict[tuple[str, str, object], list[HttpEvent]] = {}
    for event in recording.http:
        groups.setdefault((event.method, event.host, event.callsite), []).append(event)
    wall = recording.duration
    findings = []
    for (method, host, _site), events in groups.items():
        total = sum(e.duration for e in events)
        share = min(total / wall, 1.0) if wall else 0.0
        awaited = all(e.client.endswith("-async") for e in events)
        failed = sum(1 for e in events if e.error is not None)
        count = len(events)
        what = f"{count} {'awaited' if awaited else 'synchronous'} {method} "
        what += f"request{'s' if count != 1 else ''} to {host}"
        where = fmt_site(events[0].callsite)
        cost = f"{fmt_ms(total)}"
        if wall:
            cost += f", {share * 100:.0f}% of the request's {fmt_ms(wall)} wall time"
        if failed:
            cost += f"; {failed} failed"
        findings.append(
            Finding(
                kind="external_call",
                severity="high" if share >= _HIGH_SHARE else "medium",
                fingerprint=f"{method} {_without_port(host)}",
                count=count,
                total_duration=total,
                callsite=events[0].callsite,
                sql="",
                suggestion=(
                    f"{what} from {where} ({cost}); move it to a task/queue, or cache its "
                    f"result. Changing it is a behaviour change, so prove the response is "
                    f"unchanged with the payload check (`perfaudit compare`)."
                ),
                share=share,
                callsites=tuple(dict.fromkeys(e.callsite for e in events if e.callsite)),
            )
        )
    return findings
