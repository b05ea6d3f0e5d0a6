"""Per-query timings of the requests perfaudit records, written out at exit.

``EXAMPLE_QUERY_LOG=<folder>`` puts :class:`QueryLogMiddleware` first in the
middleware. After each request it keeps a reference to the innermost
recording perfaudit has open (``perfaudit.record()`` in ``perfaudit
compare``'s children and in ``perfaudit audit``): nothing is measured or
copied while the request is timed. At exit the process writes one JSON line
per request to ``<folder>/<label>-<pid>.jsonl`` (``label`` is the compare
child's side, ``base`` or ``head``): the path, then every query's SQL and
duration in milliseconds, in the order they ran.

``example_project/demo.py --large`` reads these files to report the time of
the one query each lever targets, which ``perfaudit compare`` itself only
gives as a per-request total.
"""

from __future__ import annotations

import atexit
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.http import HttpRequest, HttpResponse

try:  # perfaudit's capture, wherever the version installed keeps it
    from perfaudit.capture import active_recordings
except ImportError:  # pragma: no cover - an older or reorganised perfaudit
    active_recordings = None

_KEPT: list[tuple[str, Any]] = []


def _write() -> None:
    folder = os.environ.get("EXAMPLE_QUERY_LOG")
    if not folder or not _KEPT:
        return
    label = os.environ.get("PERFAUDIT_COMPARE_LABEL", "process")
    path = Path(folder) / f"{label}-{os.getpid()}.jsonl"
    with path.open("a", encoding="utf-8") as out:
        for request_path, recording in _KEPT:
            queries = [[event.sql, event.duration * 1000] for event in recording.queries]
            out.write(json.dumps({"path": request_path, "queries": queries}) + "\n")


atexit.register(_write)


class QueryLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        recordings = active_recordings() if active_recordings is not None else ()
        if recordings:
            _KEPT.append((request.get_full_path(), recordings[-1]))
        return response
