"""Detectors: pure functions from a recording to findings.

``run(recording)`` applies them all and returns the findings most expensive
first. One request is the unit they judge: a recording that spans several
requests (a test body, a scenario) is split at the request boundaries capture
recorded, each request (and each stretch of code outside requests) is judged
on its own, and every finding names its request (:attr:`Finding.request`).
Each detector is also importable on its own
(``perfaudit.detect.n_plus_one.detect(recording)``). A failing detector is
logged on the ``perfaudit`` logger and skipped: detection never breaks the
request, test or command that asked for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Final

from perfaudit.capture import Recording
from perfaudit.detect import (
    cache_miss_db,
    cache_repeat,
    count_distinct,
    duplicates,
    external_call,
    group_by,
    n_plus_one,
    slow,
)
from perfaudit.detect._common import Evidence
from perfaudit.detect.finding import KINDS, SEVERITIES, Finding
from perfaudit.detect.timing import stretches

if TYPE_CHECKING:
    from perfaudit.detect.analysis import Analysis

__all__ = ["DETECTORS", "KINDS", "SEVERITIES", "Finding", "run"]

logger = logging.getLogger("perfaudit")

#: Detectors by finding kind, in the order they run (N+1 first: duplicates
#: leave out the queries an N+1 already explains).
DETECTORS: Final[dict[str, Callable[[Evidence], list[Finding]]]] = {
    "n_plus_one": n_plus_one.detect,
    "duplicate": duplicates.detect,
    "count_distinct": count_distinct.detect,
    "forced_group_by": group_by.detect,
    "slow": slow.detect,
    "external_call": external_call.detect,
    "cache_repeat": cache_repeat.detect,
    "cache_miss_db": cache_miss_db.detect,
}


def run(recording: Recording, *, kinds: Iterable[str] | None = None) -> list[Finding]:
    """Apply the detectors (all, or those of ``kinds``) to ``recording``, request by request.

    Computed afresh on every call (settings may have changed); outputs use
    ``recording.analysis.findings``, the same computation cached.
    """
    selected = list(DETECTORS) if kinds is None else list(kinds)
    unknown = sorted(set(selected) - set(DETECTORS))
    if unknown:
        raise ValueError(f"Unknown finding kinds {unknown}; valid kinds are {list(DETECTORS)}.")
    return _run(recording, recording.requests, set(selected))


def run_units(analysis: Analysis) -> list[Finding]:
    """Every detector over every unit of ``analysis`` (what ``Analysis.findings`` holds)."""
    return _run(analysis.recording, analysis.recording.requests, set(DETECTORS))


def _run(
    recording: Recording, spans: Sequence[tuple[str, int, int]], selected: set[str]
) -> list[Finding]:
    findings: list[Finding] = []
    if not spans:
        findings = _detect(Evidence(recording), selected)
    else:
        events, cache, http = recording.queries, recording.cache, recording.http
        for unit in stretches(recording):
            if unit.empty():
                continue
            part = Recording(
                events[unit.queries],
                duration=unit.duration if unit.duration is not None else recording.duration,
                cache=cache[unit.cache],
                http=http[unit.http],
            )
            evidence = Evidence(part, unit.label)
            evidence.outside_requests = unit.label is None
            found = _detect(evidence, selected)
            findings.extend(replace(f, request=unit.label) for f in found)
    findings.sort(key=Finding.sort_key)
    return findings


def _detect(evidence: Evidence, selected: set[str]) -> list[Finding]:
    findings: list[Finding] = []
    for kind, detector in DETECTORS.items():
        if kind not in selected:
            continue
        try:
            findings.extend(detector(evidence))
        except Exception:
            logger.exception("the %s detector failed; its findings are skipped", kind)
    return findings
