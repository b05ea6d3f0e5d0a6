"""What every detector shares: one pass of shapes over a recording, formatting."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from perfaudit.sql.shape import SqlShape, analyze

if TYPE_CHECKING:
    from perfaudit.capture import CallSite, QueryEvent, Recording
    from perfaudit.detect.finding import Finding
    from perfaudit.detect.schema import Schema

__all__ = ["Evidence", "fmt_ms", "fmt_share", "fmt_site", "fmt_source", "params_key"]


class Evidence:
    """What the detectors look at: one unit's events, each event's shape computed
    once, shared by every detector (the public :class:`~perfaudit.detect.analysis.Analysis`
    is built on top of them)."""

    def __init__(self, recording: Recording, request: str | None = None) -> None:
        self.recording = recording
        #: The unit's request label (``"GET /api/articles/"``), ``None`` outside requests.
        self.request = request
        self.events: list[QueryEvent] = recording.queries
        # Each distinct SQL string is analysed once; events point at its shape.
        index_by_sql: dict[str, int] = {}
        self.shape_index: list[int] = [
            index_by_sql.setdefault(event.sql, len(index_by_sql)) for event in self.events
        ]
        self.unique_shapes: list[SqlShape] = [analyze(sql) for sql in index_by_sql]
        self.shapes: list[SqlShape] = [self.unique_shapes[i] for i in self.shape_index]
        self.events_by_shape: list[list[int]] = [[] for _ in self.unique_shapes]
        for i, index in enumerate(self.shape_index):
            self.events_by_shape[index].append(i)
        self.db_time = sum(event.duration for event in self.events)
        self._schema: Schema | None = None
        # Event indices explained by an N+1 group; None until N+1 groups are known.
        self.claimed: set[int] | None = None
        # Test-body code between the requests of a longer recording (not a request).
        self.outside_requests = False

    @classmethod
    def of(cls, source: Recording | Evidence) -> Evidence:
        return source if isinstance(source, Evidence) else cls(source)

    @functools.cached_property
    def view(self) -> Any:
        """The view function the unit's request resolves to (``None`` outside a
        request, or when it does not resolve): resolved once per unit, shared by
        every detector that names the view's queryset."""
        from perfaudit.detect.views import resolve_view

        return resolve_view(self.request)

    @property
    def schema(self) -> Schema:
        if self._schema is None:
            from perfaudit.detect.schema import Schema

            self._schema = Schema()
        return self._schema

    def matching(self, predicate: Callable[[SqlShape], bool]) -> list[int]:
        """Indices of the events whose shape satisfies ``predicate``.

        The predicate runs once per distinct SQL string, not once per event:
        a 10,000-query N+1 loop has a handful of distinct statements.
        """
        accepted = [
            self.events_by_shape[index]
            for index, shape in enumerate(self.unique_shapes)
            if predicate(shape)
        ]
        if len(accepted) == 1:
            return list(accepted[0])
        return sorted(i for indices in accepted for i in indices)

    def share(self, seconds: float) -> float:
        return seconds / self.db_time if self.db_time > 0 else 0.0

    def total(self, indices: list[int]) -> float:
        return sum(self.events[i].duration for i in indices)

    def finding(
        self,
        kind: str,
        indices: list[int],
        *,
        severity: str,
        suggestion: str,
        table: str | None = None,
        model: str | None = None,
        fix: str | None = None,
        relation: str | None = None,
    ) -> Finding:
        """The finding on the events ``indices``: what every detector fills the same
        way (fingerprint, count, time, share, call sites, one example statement) from
        the events, the rest from the arguments."""
        from perfaudit.detect.finding import Finding

        first = indices[0]
        total = self.total(indices)
        return Finding(
            kind=kind,
            severity=severity,
            fingerprint=self.shapes[first].fingerprint,
            count=len(indices),
            total_duration=total,
            callsite=self.events[first].callsite,
            sql=self.events[first].sql,
            suggestion=suggestion,
            table=table,
            model=model,
            relation=relation,
            fix=fix,
            share=self.share(total),
            callsites=self.sites(indices),
        )

    def sites(self, indices: list[int]) -> tuple[CallSite, ...]:
        seen: dict[CallSite, None] = {}
        previous = None
        for i in indices:
            site = self.events[i].callsite
            if site is not None and site is not previous:
                seen.setdefault(site, None)
                previous = site
        return tuple(seen)


def params_key(params: Any) -> Any:
    """A hashable stand-in for query parameters (fast path: a flat tuple)."""
    if type(params) is list:
        params = tuple(params)
    try:
        hash(params)
    except TypeError:
        return _freeze(params)
    return params


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def fmt_share(share: float) -> str:
    return f"{share * 100:.0f}% of DB time"


def fmt_site(site: CallSite | None) -> str:
    return f"{site.short_filename}:{site.lineno}" if site is not None else "an unknown call site"


def fmt_source(event: QueryEvent) -> str:
    """Where a query came from: the DRF field being rendered and/or the call site."""
    if event.origin is None:
        return fmt_site(event.callsite)
    if event.callsite is None:
        return f"`{event.origin}`"
    return f"`{event.origin}` at {fmt_site(event.callsite)}"
