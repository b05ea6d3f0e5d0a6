"""The recorded data: :class:`Recording`, :class:`QueryEvent`, :class:`CallSite`.

Events are appended on the hot path as raw tuples (see
:mod:`perfaudit.capture.hook`) and turned into :class:`QueryEvent` objects
only when someone reads :attr:`Recording.queries`.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from time import perf_counter
from types import CodeType
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from perfaudit.capture.bytecode import attribute_at
from perfaudit.capture.events import CacheEvent, HttpEvent, SideEvents, _RawCache, _RawHttp
from perfaudit.sql.shape import SqlShape, analyze, fingerprint

if TYPE_CHECKING:
    from perfaudit.capture.callsites import _FramePolicy
    from perfaudit.detect.analysis import Analysis

__all__ = ["CacheEvent", "CallSite", "HttpEvent", "QueryEvent", "Recording", "RequestSpan"]


class RequestSpan(NamedTuple):
    """The queries of one request inside a longer recording.

    ``start``/``stop`` index :attr:`Recording.queries` (``stop`` excluded).
    ``label`` is ``"GET /path/"``: the method and the path, never the query
    string. A recording made by the middleware is one request and has no
    spans; a test body or a scenario that makes several client requests has
    one span per request.
    """

    label: str
    start: int
    stop: int


# (sql, params, many, alias, start, end, error type, _SiteInfo | None)
_RawEvent = tuple[str, Any, bool, str, float, float, "type[BaseException] | None", Any]


class CallSite(NamedTuple):
    """Where in application code a query was issued.

    A named tuple, so grouping thousands of events by call site is cheap.
    """

    filename: str
    lineno: int
    function: str

    @property
    def short_filename(self) -> str:
        """The file name relative to the current directory when it is below it."""
        return _short_filename(self.filename, os.getcwd())

    def __str__(self) -> str:
        return f"{self.short_filename}:{self.lineno} in {self.function}"


@functools.lru_cache(maxsize=2048)
def _short_filename(filename: str, cwd: str) -> str:
    # Cached: detectors format call sites thousands of times per recording.
    try:
        relative = os.path.relpath(filename, cwd)
    except ValueError:  # different drive on Windows
        return filename
    return filename if relative.startswith("..") else relative


@dataclass(slots=True)
class QueryEvent:
    """One executed statement (treat it as read-only).

    ``duration`` and ``started_at`` are in seconds (``started_at`` counts from
    the start of the recording). ``error`` is the dotted name of the exception
    class when the query raised, else ``None``. ``params`` is ``None`` when
    parameter capture is switched off, and for an ``executemany`` whose
    parameters were a one-shot iterator (perfaudit never consumes it).
    ``origin`` names the DRF serializer field being rendered when the query
    ran (``"EventSerializer.venue"``), the most useful pointer when the
    query comes from DRF's own code (a nested serializer) rather than yours.
    ``attribute`` is the attribute whose access ran the query, when the call
    site's instruction is an attribute load (``loan.to_reader`` → ``"to_reader"``,
    a foreign key's descriptor): it tells the N+1 detector which of two
    foreign keys to the same model a loop reads. Read from the bytecode once
    per call site, after the query, never on the query's path.

    Not frozen on purpose: a recording materialises thousands of events and a
    frozen dataclass costs several times more to build.
    """

    sql: str
    params: Any = None
    duration: float = 0.0
    alias: str = "default"
    many: bool = False
    callsite: CallSite | None = None
    error: str | None = None
    started_at: float = 0.0
    origin: str | None = None
    attribute: str | None = None

    @property
    def duration_ms(self) -> float:
        return self.duration * 1000.0

    @property
    def fingerprint(self) -> str:
        """The SQL shape: equal for queries that differ only in values."""
        return fingerprint(self.sql)

    @property
    def shape(self) -> SqlShape:
        """The parsed statement: fingerprint, statement kind, tables read and written."""
        return analyze(self.sql)


class Recording(SideEvents):
    """The queries of one recorded block, in execution order.

    Filled by :func:`record`; can also be built by hand from events, which is
    how detectors are unit-tested::

        Recording([QueryEvent("SELECT 1"), QueryEvent("SELECT 2")])

    ``len(recording)`` is the number of queries *executed*, including those
    not kept because ``MAX_QUERIES`` was reached (counted in :attr:`overflow`),
    so a query count never under-reports.
    """

    def __init__(
        self,
        queries: Iterable[QueryEvent] = (),
        *,
        overflow: int = 0,
        duration: float | None = None,
        using: Collection[str] | None = None,
        requests: Iterable[tuple[str, int, int]] = (),
        cache: Iterable[CacheEvent] = (),
        http: Iterable[HttpEvent] = (),
        cpu_time: float | None = None,
    ) -> None:
        self._events: list[QueryEvent] = list(queries)
        # Cache calls and outbound HTTP (capture/cache.py, capture/http.py).
        self._cache_events: list[CacheEvent] = list(cache)
        self._http_events: list[HttpEvent] = list(http)
        self._cache_raw: list[_RawCache] = []
        self._http_raw: list[_RawHttp] = []
        self.side_overflow = 0
        # (cache events, HTTP events, perf_counter) at each request boundary,
        # so the side events split into the same units as the queries.
        self._marks: list[tuple[int, int, float]] = []
        self._cpu = cpu_time
        self._http_urls = False  # PERFAUDIT["CAPTURE_HTTP_URLS"], set by the recorder
        # Closed request spans; the open one (label, start) while a request runs.
        self._spans: list[RequestSpan] = [RequestSpan(*span) for span in requests]
        self._open: tuple[str, int] | None = None
        self._depth = 0
        self._analysis: Any = None
        self._analysed_at: tuple[Any, ...] = ()
        self._raw: list[_RawEvent] = []
        self.overflow = overflow
        self._duration = duration
        self.using: frozenset[str] | None = frozenset(using) if using is not None else None
        # Set by the recorder while the block runs.
        self._max = sys.maxsize
        self._keep_params = True
        self._policy: _FramePolicy | None = None
        self._t0 = 0.0
        self._t1: float | None = None

    # -- reading --

    @property
    def queries(self) -> list[QueryEvent]:
        """The kept events, materialised on first access after new queries ran."""
        raw = self._raw
        done = len(self._events)
        pending = len(raw)
        if done < pending:
            self._events.extend(_materialise(raw[i], self._t0) for i in range(done, pending))
        return self._events

    @property
    def duration(self) -> float | None:
        """Wall-clock seconds the block took; ``None`` while it is still running."""
        if self._duration is not None:
            return self._duration
        if self._t1 is not None:
            return self._t1 - self._t0
        return None

    @property
    def db_time(self) -> float:
        """Seconds spent in the kept queries."""
        return sum(event.duration for event in self.queries)

    @property
    def requests(self) -> list[RequestSpan]:
        """The requests made inside the block (Django's ``request_started`` /
        ``request_finished``), in order; empty when the block is itself one request."""
        spans = list(self._spans)
        if self._open is not None:  # a request still running
            spans.append(RequestSpan(self._open[0], self._open[1], len(self._raw)))
        return spans

    @property
    def analysis(self) -> Analysis:
        """The one :class:`~perfaudit.detect.analysis.Analysis` of this recording.

        Built on first access and cached; rebuilt only if queries ran since.
        Every output (middleware, store, JSONL, test messages, toolbar panel,
        audit, compare) formats this object, so their numbers agree.
        """
        size = (len(self), len(self._cache_raw), len(self._http_raw), self._t1)
        if self._analysis is None or self._analysed_at != size:
            from perfaudit.detect.analysis import Analysis

            self._analysis = Analysis(self)
            self._analysed_at = size
        analysis: Analysis = self._analysis
        return analysis

    def _mark_request(self, label: str | None) -> None:
        """Called on ``request_started`` (a label) and ``request_finished`` (``None``)."""
        position = max(len(self._raw), len(self._events))
        if label is not None:
            self._depth += 1
            if self._depth == 1:
                self._open = (label, position)
                self._mark_side()
        elif self._depth > 0:
            self._depth -= 1
            if self._depth == 0 and self._open is not None:
                self._spans.append(RequestSpan(self._open[0], self._open[1], position))
                self._open = None
                self._mark_side()

    def _mark_side(self) -> None:
        self._marks.append((len(self._cache_raw), len(self._http_raw), perf_counter()))

    def __len__(self) -> int:
        return max(len(self._raw), len(self._events)) + self.overflow

    def __iter__(self) -> Iterator[QueryEvent]:
        return iter(self.queries)

    def __getitem__(self, index: int) -> QueryEvent:
        return self.queries[index]

    def __repr__(self) -> str:
        return f"<Recording {len(self)} queries, {self.db_time * 1000:.1f} ms in DB>"


def _materialise(raw: _RawEvent, t0: float) -> QueryEvent:
    sql, params, many, alias, start, end, error, site_info = raw
    code, offset, origin = site_info if site_info is not None else (None, 0, None)
    site, attribute = _callsite(code, offset) if code is not None else _NO_SITE
    # Positional arguments: measurably faster than keywords at this volume.
    return QueryEvent(
        sql,
        params,
        end - start,
        alias,
        many,
        site,
        f"{error.__module__}.{error.__qualname__}" if error is not None else None,
        start - t0 if t0 else 0.0,
        origin,
        attribute,
    )


_NO_SITE: Final[tuple[None, None]] = (None, None)


# Call sites by (id(code), bytecode offset). Keyed by id because hashing a code
# object hashes its bytecode and constants (microseconds for a large function);
# the code objects are kept alive alongside, so an id cannot be reused while
# cached.
_CALLSITES: dict[tuple[int, int], tuple[CallSite, str | None]] = {}
_CALLSITE_CODES: list[CodeType] = []
_MAX_CALLSITES = 8192


def _callsite(code: CodeType, offset: int) -> tuple[CallSite, str | None]:
    """The call site at ``offset`` of ``code``, and the attribute loaded there."""
    key = (id(code), offset)
    found = _CALLSITES.get(key)
    if found is None:
        if len(_CALLSITES) >= _MAX_CALLSITES:
            _CALLSITES.clear()
            _CALLSITE_CODES.clear()
        lineno = _line_at(code, offset)
        site = CallSite(code.co_filename, lineno, code.co_qualname)
        found = _CALLSITES[key] = (site, attribute_at(code, offset))
        _CALLSITE_CODES.append(code)
    return found


def _line_at(code: CodeType, offset: int) -> int:
    """The source line of the instruction at ``offset``, as ``frame.f_lineno`` gives it.

    The hot path keeps ``frame.f_lasti`` (read in constant time) instead of
    ``frame.f_lineno``, which scans the line table: ~1.5 µs for a call at the
    end of a 300-line function on Python 3.11. The scan happens here, once
    per call site.
    """
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line if line is not None else code.co_firstlineno
    return code.co_firstlineno
