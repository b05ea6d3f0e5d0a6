"""Record the queries a block of code runs.

How it is built (each part in its own module):

* :mod:`~perfaudit.capture.types` — the recorded data users read:
  :class:`Recording`, :class:`QueryEvent`, :class:`CallSite`;
* :mod:`~perfaudit.capture.hook` — the execute wrapper on every connection
  (the hot path) and the context variable that scopes it to a thread or task;
* :mod:`~perfaudit.capture.callsites` — which frame is "the application";
* :mod:`~perfaudit.capture.recorder` — :func:`record`, the entry point;
* :mod:`~perfaudit.capture.cache`, :mod:`~perfaudit.capture.http`,
  :mod:`~perfaudit.capture.events` — beside the queries: Django cache calls
  and outbound HTTP (urllib3/requests, httpx), recorded the same way.
"""

from __future__ import annotations

from perfaudit.capture.events import CacheEvent, HttpEvent
from perfaudit.capture.hook import active_recordings, install
from perfaudit.capture.recorder import Recorder, record
from perfaudit.capture.types import CallSite, QueryEvent, Recording

__all__ = [
    "CacheEvent",
    "CallSite",
    "HttpEvent",
    "QueryEvent",
    "Recorder",
    "Recording",
    "active_recordings",
    "install",
    "record",
]
