"""Timing probes for the in-situ part of ``bench_capture.py``.

Two clocks per query, both inside the real ORM call:

* the *outer* clock times ``cursor.execute()`` as the ORM calls it, through a
  subclass of Django's cursor wrapper (plain or debug, whichever Django picks);
* the *inner* clock is the innermost execute wrapper and times the database
  call alone.

``outer − inner`` is the time spent around the database call: Django's
execute-wrapper plumbing plus whatever a capture mechanism adds there
(perfaudit's wrapper, a bare wrapper, or ``CaptureQueriesContext``'s debug
cursor, which logs outside the wrappers). It is a few microseconds, so machine
noise that swamps whole-loop timings barely touches it.

The outer clock *replaces* Django's ``execute()`` (it repeats its one-line
body), so the stack is as deep as without probes. This module is listed in
``PERFAUDIT["CALLSITE_SKIP_MODULES"]`` while probing, so perfaudit's call-site
walk treats that frame as library code, as it does Django's own, and still
reports the benchmark's loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import perf_counter
from typing import Any

from django.db import connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


class Timings:
    """Per-query seconds measured by the two clocks."""

    def __init__(self) -> None:
        self.outer: list[float] = []
        self.inner: list[float] = []

    def self_times(self) -> list[float]:
        """Seconds spent around the database call, one value per query."""
        if len(self.outer) != len(self.inner):
            raise AssertionError(
                f"probe mismatch: {len(self.outer)} outer vs {len(self.inner)} inner timings"
            )
        return [o - i for o, i in zip(self.outer, self.inner, strict=True)]


class TimedCursorWrapper(CursorWrapper):
    """Django's cursor wrapper, with ``execute()`` timed.

    ``execute()`` repeats the body of ``CursorWrapper.execute`` instead of
    calling it, so the call stack has exactly as many frames as without the
    probe (perfaudit's call-site walk climbs through them).
    """

    def __init__(self, cursor: Any, db: Any, timings: Timings) -> None:
        super().__init__(cursor, db)
        self._timings = timings

    def execute(self, sql: str, params: Any = None) -> Any:
        t0 = perf_counter()
        result = self._execute_with_wrappers(sql, params, many=False, executor=self._execute)
        self._timings.outer.append(perf_counter() - t0)
        return result


class TimedCursorDebugWrapper(CursorDebugWrapper):
    """Django's debug cursor wrapper (``CaptureQueriesContext``), ``execute()`` timed.

    Same frame count as ``CursorDebugWrapper.execute``, whose body it repeats.
    """

    def __init__(self, cursor: Any, db: Any, timings: Timings) -> None:
        super().__init__(cursor, db)
        self._timings = timings

    def execute(self, sql: str, params: Any = None) -> Any:
        t0 = perf_counter()
        with self.debug_sql(sql, params, use_last_executed_query=True):
            result = CursorWrapper.execute(self, sql, params)
        self._timings.outer.append(perf_counter() - t0)
        return result


def _inner_probe(timings: Timings) -> Callable[..., Any]:
    inner = timings.inner

    def probe(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = perf_counter()
        result = execute(sql, params, many, context)
        inner.append(perf_counter() - t0)
        return result

    return probe


@contextmanager
def probed(connection: Any, timings: Timings) -> Iterator[None]:
    """Install both clocks on ``connection`` for the duration of the block."""
    # The real DatabaseWrapper, not the ``django.db.connection`` proxy: Django's
    # cursors hold the real one, and capture code reads ``context["connection"]``
    # (through the proxy every attribute costs a thread-local lookup).
    db = connections[connection.alias]
    probe = _inner_probe(timings)
    db.make_cursor = lambda cursor: TimedCursorWrapper(cursor, db, timings)
    db.make_debug_cursor = lambda cursor: TimedCursorDebugWrapper(cursor, db, timings)
    db.execute_wrappers.append(probe)  # innermost
    try:
        yield
    finally:
        db.execute_wrappers.remove(probe)
        del db.make_cursor, db.make_debug_cursor
