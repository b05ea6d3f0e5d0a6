"""perfaudit: turn Django performance work into proof.

Public API::

    import perfaudit

    with perfaudit.record() as rec:
        ...
    rec.queries  # list[perfaudit.QueryEvent]
    perfaudit.detect.run(rec)  # list[perfaudit.Finding], most expensive first
    perfaudit.payload_hash(response)  # "sha256:…" of the canonical payload

    @perfaudit.scenario("event-list", requests=["/api/events/"])
    def event_list(): ...
"""

from __future__ import annotations

from perfaudit.capture import CallSite, QueryEvent, Recorder, Recording, record
from perfaudit.detect import Finding
from perfaudit.payload import Difference, PayloadDigest, digest, first_difference, payload_hash
from perfaudit.scenarios import Request, Scenario, ScenarioError, scenario
from perfaudit.sql.shape import SqlShape, analyze, fingerprint

__all__ = [
    "CallSite",
    "Difference",
    "Finding",
    "PayloadDigest",
    "QueryEvent",
    "Recorder",
    "Recording",
    "Request",
    "Scenario",
    "ScenarioError",
    "SqlShape",
    "analyze",
    "digest",
    "fingerprint",
    "first_difference",
    "payload_hash",
    "record",
    "scenario",
]

__version__ = "0.1.0.dev0"
