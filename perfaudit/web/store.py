"""Per-view aggregates of the requests the middleware records, in process memory.

The middleware summarises each recorded request once (a
:class:`~perfaudit.web.record.RequestRecord`) and adds it to the process-wide
:class:`Store` (:func:`get_store`), then, when ``JSONL_PATH`` is set, appends
it to the JSONL file (:func:`write_jsonl`) that ``manage.py perfaudit report``
reads.

Memory is bounded: at most ``STORE_MAX_VIEWS`` views (the least recently seen
is dropped first), percentiles over a window of each view's last
:data:`WINDOW` requests, at most 100 distinct findings per view. The store is
shared by every thread of the process and guarded by one lock.

Requests whose reporting was dropped (their response was never closed, see
:mod:`perfaudit.web.deferred`) are counted in :attr:`Store.dropped_requests`.

Privacy: a record never holds SQL parameter values unless they were asked for
(``JSONL_PARAMS``), and its path never carries the query string (query strings
hold search terms, e-mail addresses and tokens; the view name already says
which endpoint it was). Sampling (:func:`sampled`) is decided before a request
is recorded, so an unsampled request costs nothing.
"""

from __future__ import annotations

import math
import random
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from perfaudit.conf import app_settings
from perfaudit.web.jsonl import jsonl_line, write_jsonl
from perfaudit.web.record import FORMAT_VERSION, RequestRecord, ShapeSummary, summarise

__all__ = [
    "FORMAT_VERSION",
    "WINDOW",
    "RequestRecord",
    "ShapeSummary",
    "Store",
    "ViewStats",
    "get_store",
    "jsonl_line",
    "percentile",
    "sampled",
    "summarise",
    "write_jsonl",
]

#: Requests per view that percentiles are computed over (the most recent ones).
WINDOW: Final = 256
# Distinct (kind, fingerprint) findings one view keeps; more are counted, not kept.
_MAX_FINDINGS: Final = 100


def sampled(*, debug: bool, rate: float, draw: Callable[[], float] = random.random) -> bool:
    """Whether to record this request: always with DEBUG on, else with probability ``rate``."""
    if debug or rate >= 1.0:
        return True
    return rate > 0.0 and draw() < rate


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of ``values``; 0 when empty.

    Nearest-rank, not interpolated: the p95 of query counts is a count some
    request really ran.
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


# -- per-view aggregates ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ViewStats:
    """A snapshot of one view's aggregates.

    Totals and maxima cover every request the store saw for the view;
    percentiles cover the last :data:`WINDOW`. ``findings`` counts the
    requests each ``(kind, fingerprint)`` was found in; ``violations`` counts
    budget violations by metric (``"queries"``, ``"db_ms"``).
    """

    view: str
    requests: int
    queries_p50: float
    queries_p95: float
    queries_max: int
    db_ms_total: float
    db_ms_p50: float
    db_ms_p95: float
    db_ms_max: float
    total_ms_p50: float
    total_ms_p95: float
    findings: dict[tuple[str, str], int]
    findings_dropped: int
    violations: dict[str, int]
    last_status: int
    last_payload: str | None

    @property
    def db_ms_mean(self) -> float:
        return self.db_ms_total / self.requests if self.requests else 0.0


class _ViewAggregate:
    __slots__ = (
        "db_ms",
        "db_ms_max",
        "db_ms_total",
        "findings",
        "findings_dropped",
        "last_payload",
        "last_status",
        "queries",
        "queries_max",
        "requests",
        "total_ms",
        "violations",
    )

    def __init__(self, window: int) -> None:
        self.requests = 0
        self.queries: deque[int] = deque(maxlen=window)
        self.db_ms: deque[float] = deque(maxlen=window)
        self.total_ms: deque[float] = deque(maxlen=window)
        self.queries_max = 0
        self.db_ms_max = 0.0
        self.db_ms_total = 0.0
        self.findings: dict[tuple[str, str], int] = {}
        self.findings_dropped = 0
        self.violations: dict[str, int] = {}
        self.last_status = 0
        self.last_payload: str | None = None

    def add(self, record: RequestRecord) -> None:
        self.requests += 1
        self.queries.append(record.queries)
        self.db_ms.append(record.db_ms)
        self.total_ms.append(record.total_ms)
        self.queries_max = max(self.queries_max, record.queries)
        self.db_ms_max = max(self.db_ms_max, record.db_ms)
        self.db_ms_total += record.db_ms
        for key in {(f.kind, f.fingerprint) for f in record.findings}:
            if key in self.findings:
                self.findings[key] += 1
            elif len(self.findings) < _MAX_FINDINGS:
                self.findings[key] = 1
            else:
                self.findings_dropped += 1
        for violation in record.violations:
            self.violations[violation.metric] = self.violations.get(violation.metric, 0) + 1
        self.last_status = record.status
        # A 304 has no body: its hash is the empty body's, not the view's payload.
        if record.payload is not None and record.status != 304:
            self.last_payload = record.payload

    def frozen(self) -> _State:
        """A copy of the state, cheap enough to take under the store's lock."""
        return _State(
            self.requests,
            list(self.queries),
            list(self.db_ms),
            list(self.total_ms),
            self.queries_max,
            self.db_ms_max,
            self.db_ms_total,
            dict(self.findings),
            self.findings_dropped,
            dict(self.violations),
            self.last_status,
            self.last_payload,
        )


class _State(NamedTuple):
    requests: int
    queries: list[int]
    db_ms: list[float]
    total_ms: list[float]
    queries_max: int
    db_ms_max: float
    db_ms_total: float
    findings: dict[tuple[str, str], int]
    findings_dropped: int
    violations: dict[str, int]
    last_status: int
    last_payload: str | None


def _stats(view: str, state: _State) -> ViewStats:
    """Percentiles are computed here, outside the lock: sorting windows takes time."""
    return ViewStats(
        view=view,
        requests=state.requests,
        queries_p50=percentile(state.queries, 0.5),
        queries_p95=percentile(state.queries, 0.95),
        queries_max=state.queries_max,
        db_ms_total=state.db_ms_total,
        db_ms_p50=percentile(state.db_ms, 0.5),
        db_ms_p95=percentile(state.db_ms, 0.95),
        db_ms_max=state.db_ms_max,
        total_ms_p50=percentile(state.total_ms, 0.5),
        total_ms_p95=percentile(state.total_ms, 0.95),
        findings=state.findings,
        findings_dropped=state.findings_dropped,
        violations=state.violations,
        last_status=state.last_status,
        last_payload=state.last_payload,
    )


class Store:
    """Per-view aggregates of recorded requests, safe to share between threads.

    ``max_views`` defaults to ``PERFAUDIT["STORE_MAX_VIEWS"]``, read on every
    :meth:`add` so that a settings change applies at once.
    """

    def __init__(self, *, max_views: int | None = None, window: int = WINDOW) -> None:
        self._max_views = max_views
        self._window = window
        self._views: OrderedDict[str, _ViewAggregate] = OrderedDict()
        self._lock = threading.Lock()
        self.dropped_views = 0
        # Its own lock, reentrant: count_dropped() is called from finalisers,
        # which may run in a thread that holds it (or the main lock) already.
        self._drops_lock = threading.RLock()
        self.dropped_requests = 0
        self._drops_unwritten = 0

    def add(self, record: RequestRecord) -> None:
        max_views = self._max_views or app_settings.STORE_MAX_VIEWS
        with self._lock:
            aggregate = self._views.get(record.view)
            if aggregate is None:
                aggregate = self._views[record.view] = _ViewAggregate(self._window)
            else:
                self._views.move_to_end(record.view)
            aggregate.add(record)
            while len(self._views) > max_views:
                self._views.popitem(last=False)
                self.dropped_views += 1

    def count_dropped(self, n: int = 1) -> None:
        """Count ``n`` recorded requests whose reporting never ran (see perfaudit.web.deferred).

        They are in no aggregate; :attr:`dropped_requests` says how many, and
        the next JSONL line carries them (:meth:`take_unwritten_drops`).
        """
        with self._drops_lock:
            self.dropped_requests += n
            self._drops_unwritten += n

    def take_unwritten_drops(self) -> int:
        """The drops no JSONL line has carried yet; the next line carries them."""
        with self._drops_lock:
            n, self._drops_unwritten = self._drops_unwritten, 0
        return n

    def get(self, view: str) -> ViewStats | None:
        """The aggregates of ``view``, or ``None`` if it was never seen (or dropped)."""
        with self._lock:
            aggregate = self._views.get(view)
            state = aggregate.frozen() if aggregate is not None else None
        return _stats(view, state) if state is not None else None

    def snapshot(self) -> list[ViewStats]:
        """Every view's aggregates, most total DB time first."""
        with self._lock:
            states = [(view, aggregate.frozen()) for view, aggregate in self._views.items()]
        stats = [_stats(view, state) for view, state in states]
        stats.sort(key=lambda s: (-s.db_ms_total, s.view))
        return stats

    def clear(self) -> None:
        with self._lock:
            self._views.clear()
            self.dropped_views = 0
        with self._drops_lock:
            self.dropped_requests = self._drops_unwritten = 0

    def __len__(self) -> int:
        return len(self._views)

    def __contains__(self, view: object) -> bool:
        return view in self._views


_store: Final = Store()


def get_store() -> Store:
    """The process-wide store the middleware feeds."""
    return _store
