"""Detectors: pure functions from a recording to findings.

``run(recording)`` applies them all and returns the findings most expensive
first. Each detector is also importable on its own
(``perfaudit.detect.n_plus_one.detect(recording)``). A failing detector is
logged on the ``perfaudit`` logger and skipped: detection never breaks the
request, test or command that asked for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Final

from perfaudit.capture import Recording
from perfaudit.detect import count_distinct, duplicates, group_by, n_plus_one, slow
from perfaudit.detect._common import Analysis
from perfaudit.detect.finding import KINDS, SEVERITIES, Finding

__all__ = ["DETECTORS", "KINDS", "SEVERITIES", "Finding", "run"]

logger = logging.getLogger("perfaudit")

#: Detectors by finding kind, in the order they run (N+1 first: duplicates
#: leave out the queries an N+1 already explains).
DETECTORS: Final[dict[str, Callable[[Analysis], list[Finding]]]] = {
    "n_plus_one": n_plus_one.detect,
    "duplicate": duplicates.detect,
    "count_distinct": count_distinct.detect,
    "forced_group_by": group_by.detect,
    "slow": slow.detect,
}


def run(recording: Recording, *, kinds: Iterable[str] | None = None) -> list[Finding]:
    """Apply the detectors (all, or those of ``kinds``) to ``recording``."""
    selected = list(DETECTORS) if kinds is None else list(kinds)
    unknown = sorted(set(selected) - set(DETECTORS))
    if unknown:
        raise ValueError(f"Unknown finding kinds {unknown}; valid kinds are {list(DETECTORS)}.")
    analysis = Analysis(recording)
    findings: list[Finding] = []
    for kind, detector in DETECTORS.items():
        if kind not in selected:
            continue
        try:
            findings.extend(detector(analysis))
        except Exception:
            logger.exception("perfaudit: the %s detector failed; its findings are skipped", kind)
    findings.sort(key=Finding.sort_key)
    return findings
