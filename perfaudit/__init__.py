"""perfaudit: turn Django performance work into proof.

Public API::

    import perfaudit

    with perfaudit.record() as rec:
        ...
    rec.queries  # list[perfaudit.QueryEvent]
    perfaudit.detect.run(rec)  # list[perfaudit.Finding], most expensive first
"""

from __future__ import annotations

from perfaudit.capture import CallSite, QueryEvent, Recorder, Recording, record
from perfaudit.detect import Finding
from perfaudit.fingerprint import SqlShape, analyze, fingerprint

__all__ = [
    "CallSite",
    "Finding",
    "QueryEvent",
    "Recorder",
    "Recording",
    "SqlShape",
    "analyze",
    "fingerprint",
    "record",
]

__version__ = "0.1.0.dev0"
