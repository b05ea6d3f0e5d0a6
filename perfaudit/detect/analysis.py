"""The one analysis of a finished recording, which every output formats.

Capture produces a :class:`~perfaudit.capture.Recording`; ``recording.analysis``
builds an :class:`Analysis` once (lazily, cached on the recording) and every
consumer — the middleware and its store/JSONL line, test assertions and their
messages, the toolbar panel, ``audit``, ``compare`` and ``report`` — reads its
numbers from here. Nothing downstream re-parses SQL or regroups queries, so
the same request gives the same query count, shapes and findings everywhere.

What it holds:

* :attr:`Analysis.shapes` — the queries grouped by (fingerprint, database
  alias), most frequent first, each with its count, time, call sites and the
  slowest statement;
* :attr:`Analysis.units` — the requests inside the recording (a test body or
  a scenario making several client requests) and the code outside them; the
  detectors judge each unit on its own, so a query run once per request is
  neither an N+1 nor a duplicate;
* :attr:`Analysis.findings` — every detector's findings over every unit;
* :meth:`Analysis.violations` — the budget verdict for a view;
* :meth:`Analysis.to_dict` — all of it, JSON-ready, without parameter values.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perfaudit.detect.timing import CacheSplit, HttpSplit
from perfaudit.sql.shape import analyze

if TYPE_CHECKING:
    from perfaudit.capture.types import CallSite, QueryEvent, Recording
    from perfaudit.detect.budgets import Violation
    from perfaudit.detect.finding import Finding

__all__ = ["Analysis", "Shape", "Unit"]


@dataclass(frozen=True, slots=True)
class Shape:
    """The queries of one shape (fingerprint and database alias) in a recording.

    ``duration``/``max_duration`` are seconds. ``sql`` and ``params`` are those
    of the slowest execution (``params`` is ``None`` when not captured; it is
    never part of :meth:`to_dict`). ``sources`` pairs each
    ``(call site, DRF field)`` with its query count, busiest first.
    ``events`` indexes :attr:`Recording.queries`.
    """

    fingerprint: str
    kind: str
    alias: str
    count: int
    duration: float
    max_duration: float
    sql: str
    params: Any
    sources: tuple[tuple[CallSite | None, str | None, int], ...]
    tables: tuple[str, ...]
    events: tuple[int, ...]

    @property
    def db_ms(self) -> float:
        return self.duration * 1000.0

    @property
    def max_ms(self) -> float:
        return self.max_duration * 1000.0

    @property
    def callsites(self) -> tuple[tuple[CallSite, int], ...]:
        """Call sites with their query counts, busiest first (DRF fields merged)."""
        counts: Counter[CallSite] = Counter()
        for site, _origin, count in self.sources:
            if site is not None:
                counts[site] += count
        return tuple(counts.most_common())

    @property
    def param_count(self) -> int | None:
        """How many parameters the slowest statement took (``None``: not captured)."""
        params = self.params
        return len(params) if isinstance(params, list | tuple | dict) else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form every output uses (no parameter values)."""
        from perfaudit.detect.summary import summarise_shape

        return summarise_shape(self).to_dict(params=False)


@dataclass(frozen=True, slots=True)
class Unit:
    """One request inside a recording, or a stretch of code outside requests.

    ``label`` is ``"GET /path/"`` for a request, ``None`` outside requests
    (and for a recording that is itself one request, like the middleware's).
    ``start``/``stop`` index :attr:`Recording.queries`.
    """

    index: int
    label: str | None
    start: int
    stop: int

    @property
    def query_count(self) -> int:
        return self.stop - self.start


class Analysis:
    """Shapes, units, findings and budget verdicts of one recording (build it
    through ``recording.analysis``, which caches it)."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.events: list[QueryEvent] = recording.queries
        #: Queries executed, including those past ``MAX_QUERIES``.
        self.query_count: int = len(recording)
        self.overflow: int = recording.overflow
        self.db_time: float = sum(event.duration for event in self.events)
        self.duration: float | None = recording.duration
        self.units: list[Unit] = _units(recording.requests, len(self.events))
        #: Beside SQL (detect/timing.py): cache calls, outbound HTTP, thread CPU.
        self.cache: CacheSplit = CacheSplit.of(recording.cache)
        self.http: HttpSplit = HttpSplit.of(recording.http)
        self.cpu_time: float | None = recording.cpu_time
        self._shapes: list[Shape] | None = None
        self._findings: list[Finding] | None = None
        self._violations: dict[tuple[str, int], list[Violation]] = {}

    # -- what every output shows --

    @property
    def db_ms(self) -> float:
        return self.db_time * 1000.0

    @property
    def cpu_ms(self) -> float | None:
        """CPU milliseconds of the recording thread; ``None`` for async code."""
        return self.cpu_time * 1000.0 if self.cpu_time is not None else None

    @property
    def shapes(self) -> list[Shape]:
        """Queries by (fingerprint, alias), most queries first (then most DB time)."""
        if self._shapes is None:
            self._shapes = _group(self.events)
        return self._shapes

    @property
    def findings(self) -> list[Finding]:
        """Every detector's findings over every unit, most expensive first."""
        if self._findings is None:
            from perfaudit.detect import run_units

            self._findings = run_units(self)
        return self._findings

    def findings_of(self, kinds: Iterable[str] | None) -> list[Finding]:
        """The findings of some kinds (all when ``kinds`` is ``None``)."""
        if kinds is None:
            return self.findings
        from perfaudit.detect import DETECTORS

        selected = set(kinds)
        unknown = sorted(selected - set(DETECTORS))
        if unknown:
            raise ValueError(
                f"Unknown finding kinds {unknown}; valid kinds are {list(DETECTORS)}."
            )
        return [finding for finding in self.findings if finding.kind in selected]

    def finding_counts(self) -> dict[str, int]:
        """Findings per kind, for summaries (``{"n_plus_one": 3, ...}``)."""
        return dict(Counter(finding.kind for finding in self.findings))

    def violations(
        self, view_name: str | None, budgets: Mapping[str, Any] | None = None
    ) -> list[Violation]:
        """The limits of ``view_name``'s budget (``PERFAUDIT["BUDGETS"]``) exceeded."""
        if view_name is None:
            return []
        from perfaudit.detect.budgets import check_budget

        if budgets is not None:
            return check_budget(view_name, self.recording, budgets)
        key = (view_name, 0)
        if key not in self._violations:
            self._violations[key] = check_budget(view_name, self.recording)
        return self._violations[key]

    def shapes_of(self, unit: Unit) -> list[Shape]:
        """The shapes of one unit's queries (event indices relative to the recording)."""
        return _group(self.events[unit.start : unit.stop], offset=unit.start)

    def to_dict(self) -> dict[str, Any]:
        """Everything above, JSON-ready; never holds SQL parameter values."""
        return {
            "queries": self.query_count,
            "kept": len(self.events),
            "overflow": self.overflow,
            "db_ms": round(self.db_ms, 3),
            "duration_ms": round(self.duration * 1000.0, 3) if self.duration is not None else None,
            "requests": [
                {"label": u.label, "start": u.start, "stop": u.stop}
                for u in self.units
                if u.label is not None
            ],
            "shapes": [shape.to_dict() for shape in self.shapes],
            "findings": [finding.to_dict() for finding in self.findings],
            "finding_counts": self.finding_counts(),
            "cache": self.cache.to_dict(),
            "http": self.http.to_dict(),
            "cpu_ms": round(self.cpu_ms, 3) if self.cpu_ms is not None else None,
        }

    def __repr__(self) -> str:
        return (
            f"<Analysis {self.query_count} queries, {len(self.shapes)} shapes, "
            f"{len(self.findings)} findings>"
        )


def _units(spans: Iterable[tuple[str, int, int]], size: int) -> list[Unit]:
    """Requests and the stretches of code between them, covering every query once."""
    units: list[Unit] = []
    position = 0
    for label, start, stop in spans:
        start, stop = max(start, position), min(stop, size)
        if start > position:
            units.append(Unit(len(units), None, position, start))
        if stop >= start:
            units.append(Unit(len(units), label, start, stop))
            position = stop
    if position < size or not units:
        units.append(Unit(len(units), None, position, size))
    return units


def _group(events: list[QueryEvent], *, offset: int = 0) -> list[Shape]:
    groups: dict[tuple[str, str], list[int]] = {}
    for i, event in enumerate(events):
        key = (analyze(event.sql).fingerprint, event.alias)
        group = groups.get(key)
        if group is None:
            groups[key] = [i]
        else:
            group.append(i)
    shapes = [
        _shape(key, [events[i] for i in indices], indices, offset)
        for key, indices in groups.items()
    ]
    shapes.sort(key=lambda s: (-s.count, -s.duration, s.fingerprint, s.alias))
    return shapes


def _shape(
    key: tuple[str, str], events: list[QueryEvent], indices: list[int], offset: int
) -> Shape:
    slowest = max(events, key=lambda e: e.duration)
    sources = Counter((event.callsite, event.origin) for event in events)
    parsed = analyze(slowest.sql)
    return Shape(
        fingerprint=key[0],
        kind=parsed.kind,
        alias=key[1],
        count=len(events),
        duration=sum(e.duration for e in events),
        max_duration=slowest.duration,
        sql=slowest.sql,
        params=slowest.params,
        sources=tuple(
            (site, origin, n)
            for (site, origin), n in sources.most_common()
            if site is not None or origin is not None
        ),
        tables=tuple(parsed.tables),
        events=tuple(i + offset for i in indices),
    )


@functools.lru_cache(maxsize=4096)
def site_text(site: CallSite) -> str:
    """``str(site)``, cached: it computes a path relative to the working
    directory, which costs more than the rest of a request's summary."""
    return str(site)
